/** Grouped bar charts with error bars (a region's response per category, against a control mask). */
import { qualitativePalette, type RGB } from './colormap.ts';
import { textWidth } from './font.ts';
import {
  chartArea,
  drawAxisTitles,
  drawFrame,
  drawLegend,
  drawTitle,
  drawYAxis,
  figureSize,
  labelsWidth,
  legendLayout,
  lineHeight,
  linearAxis,
  project,
  STYLE,
  titleBlock,
  type Axis,
  type Figure,
  type Rect,
} from './layout.ts';
import { hex, SvgDoc } from './svg.ts';
import { truncate } from './text.ts';

export interface BarGroup {
  name: string;
  /** One value per category (NaN = no bar). */
  values: ArrayLike<number>;
  /** Error bar (e.g. a 95% CI) from lo to hi per category; NaN = none. */
  lo?: ArrayLike<number>;
  hi?: ArrayLike<number>;
  /** Default: the qualitative palette by group index. */
  color?: RGB;
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  xLabel?: string;
  yLabel: string;
  /** The categories along x (at most 200). */
  categories: string[];
  groups: BarGroup[];
  /** Figure size in px (default 640 × 440). */
  width?: number;
  height?: number;
}

export interface BarRect extends Rect {
  group: number;
  category: number;
  /** y of the value 0 (the bar's base) in px. */
  base: number;
}

export interface BarChartLayout {
  plot: Rect;
  y: Axis;
  bars: BarRect[];
}

const ROTATE = 35;
const MAX_BAR_CATEGORIES = 200;

export function barChartFigure(o: BarChartOptions): Figure<BarChartLayout> {
  const width = figureSize(o.width, 640, 'width');
  const height = figureSize(o.height, 440, 'height');
  const nc = o.categories.length;
  const ng = o.groups.length;
  if (!(nc >= 1 && nc <= MAX_BAR_CATEGORIES)) throw new RangeError(`expected 1 to ${MAX_BAR_CATEGORIES} categories, found ${nc}`);
  if (!(ng >= 1 && ng <= 64)) throw new RangeError(`expected 1 to 64 groups, found ${ng}`);
  const palette = qualitativePalette(ng);
  const groups = o.groups.map((g, k) => {
    for (const [name, a] of [['values', g.values], ['lo', g.lo], ['hi', g.hi]] as const) {
      if (a && a.length !== nc) throw new RangeError(`group "${g.name}": expected ${nc} ${name}, found ${a.length}`);
    }
    return { ...g, color: g.color ?? palette[k % palette.length] };
  });
  const all: number[] = [];
  for (const g of groups) for (const a of [g.values, g.lo, g.hi]) if (a) for (let i = 0; i < nc; i++) all.push(a[i]);
  const Y = linearAxis(all, true);

  const m = STYLE.margin;
  const ts = STYLE.tickSize;
  const tb = titleBlock(o.title, o.subtitle, width - 2 * m);
  const legend = legendLayout(ng > 1 ? groups.map((g) => ({ name: g.name, color: g.color, kind: 'box' as const })) : [], width - 2 * m);
  // Category labels: horizontal when they fit their slot, else rotated.
  const slotGuess = (width - 2 * m - 60) / nc;
  const horizontal = o.categories.every((c) => textWidth(c, ts) <= slotGuess - 4);
  const labels = o.categories.map((c) => truncate(c, horizontal ? slotGuess - 4 : 140, ts));
  const labelsH = horizontal ? lineHeight(ts) + 6 : Math.ceil(Math.max(...labels.map((l) => textWidth(l, ts))) * Math.sin((ROTATE * Math.PI) / 180) + ts + 10);
  const plot = chartArea({ width, height, title: tb, legend, xLabel: o.xLabel, yLabel: o.yLabel, yLabelsWidth: labelsWidth(Y.labels), xLabelsHeight: labelsH });
  const py = (v: number): number => project(Y, v, plot.y + plot.height, plot.y);

  const doc = new SvgDoc(width, height);
  drawTitle(doc, m, m, tb);
  drawLegend(doc, m, m + tb.height + (tb.height ? 8 : 0), legend);
  drawYAxis(doc, plot, Y);

  const slot = plot.width / nc;
  const barW = (slot * 0.8) / ng;
  const base = py(0);
  const bars: BarRect[] = [];
  for (let c = 0; c < nc; c++) {
    const x0 = plot.x + c * slot + slot * 0.1;
    groups.forEach((g, k) => {
      const v = g.values[c];
      const x = x0 + k * barW;
      if (Number.isFinite(v)) {
        const top = py(v);
        const r: BarRect = { x, y: Math.min(top, base), width: barW, height: Math.abs(base - top), group: k, category: c, base };
        bars.push(r);
        doc.rect(r.x, r.y, Math.max(0, barW - 1), r.height, { fill: hex(g.color) });
      }
      const lo = g.lo?.[c];
      const hi = g.hi?.[c];
      if (lo !== undefined && hi !== undefined && Number.isFinite(lo) && Number.isFinite(hi)) {
        const cx = x + (barW - 1) / 2;
        const cap = Math.min(8, barW / 3);
        const [y1, y2] = [py(lo), py(hi)];
        doc.el('path', { d: `M${cx} ${y1}V${y2}M${cx - cap} ${y1}h${2 * cap}M${cx - cap} ${y2}h${2 * cap}`, stroke: STYLE.ink, 'stroke-width': 1.5, fill: 'none' });
      }
    });
    const lx = plot.x + (c + 0.5) * slot;
    const ly = plot.y + plot.height + 8 + ts;
    if (horizontal) doc.text(lx, ly, labels[c], { size: ts, anchor: 'middle' });
    else doc.text(lx, ly, labels[c], { size: ts, anchor: 'end', rotate: -ROTATE });
  }
  doc.line(plot.x, Math.round(base) + 0.5, plot.x + plot.width, Math.round(base) + 0.5, { stroke: STYLE.frame });
  drawFrame(doc, plot);
  drawAxisTitles(doc, plot, height, o.xLabel, o.yLabel, m);
  return { svg: doc.toString(), width, height, layout: { plot, y: Y, bars } };
}
