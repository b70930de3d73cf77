/**
 * "Effect against its control distribution": one row per stimulus set, the control effects (e.g. of
 * random-unit lesions) as a strip of dots or a histogram, and the observed effect as a marked line.
 */
import type { RGB } from './colormap.ts';
import { textWidth } from './font.ts';
import {
  chartArea,
  drawAxisTitles,
  drawFrame,
  drawLegend,
  drawTitle,
  drawXAxis,
  figureSize,
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
import { binning, finiteRange } from './histogram.ts';
import { hex, num, SvgDoc } from './svg.ts';
import { truncate } from './text.ts';

export interface EffectSet {
  /** The stimulus set (row label). */
  name: string;
  /** The control effects. */
  control: ArrayLike<number>;
  /** The observed effect (NaN = not drawn). */
  effect: number;
  /** Text at the row's right end, e.g. "p = 0.004". */
  note?: string;
}

export interface EffectVsControlOptions {
  title: string;
  subtitle?: string;
  /** The effect's name and unit, along x. */
  xLabel: string;
  sets: EffectSet[];
  /** Controls as dots or as a histogram; default per set: dots up to 300 controls, else a histogram. */
  style?: 'dots' | 'histogram';
  /** Legend names (default "controls" and "effect"). */
  controlName?: string;
  effectName?: string;
  controlColor?: RGB;
  effectColor?: RGB;
  width?: number;
  /** Default: 80 px per set plus the frame, at least 240. */
  height?: number;
}

export interface EffectRow extends Rect {
  name: string;
  /** x of the observed effect in px (NaN when not drawn). */
  effectX: number;
}

export interface EffectLayout {
  plot: Rect;
  x: Axis;
  rows: EffectRow[];
}

const MAX_SETS = 50;
const DOT_LIMIT = 300;

/** Deterministic jitter in (−0.5, 0.5): the golden-ratio sequence. */
const jitter = (i: number): number => (((i + 1) * 0.6180339887498949) % 1) - 0.5;

export function effectVsControlFigure(o: EffectVsControlOptions): Figure<EffectLayout> {
  const ns = o.sets.length;
  if (!(ns >= 1 && ns <= MAX_SETS)) throw new RangeError(`expected 1 to ${MAX_SETS} sets, found ${ns}`);
  const width = figureSize(o.width, 640, 'width');
  const m = STYLE.margin;
  const ts = STYLE.tickSize;
  const tb = titleBlock(o.title, o.subtitle, width - 2 * m);
  const controlColor = o.controlColor ?? [90, 90, 90];
  const effectColor = o.effectColor ?? [213, 94, 0];
  const styles = o.sets.map((s) => o.style ?? (s.control.length <= DOT_LIMIT ? 'dots' : 'histogram'));
  const legend = legendLayout(
    [
      { name: o.controlName ?? 'controls', color: controlColor, kind: styles.every((st) => st === 'histogram') ? 'band' : 'dot' },
      { name: o.effectName ?? 'effect', color: effectColor, kind: 'marker' },
    ],
    width - 2 * m,
  );
  const names = o.sets.map((s) => truncate(s.name, 160, STYLE.textSize));
  const notes = o.sets.map((s) => (s.note ? truncate(s.note, 140, ts) : ''));
  const height = figureSize(o.height, Math.max(240, m * 2 + tb.height + legend.height + 90 + ns * 80), 'height');

  const range = finiteRange([...o.sets.map((s) => s.control), o.sets.map((s) => s.effect), [0]]) ?? [0, 1];
  const X = linearAxis(range);
  const notesW = Math.max(0, ...notes.map((n) => textWidth(n, ts)));
  const plot = chartArea({
    width,
    height,
    title: tb,
    legend,
    xLabel: o.xLabel,
    yLabelsWidth: Math.max(...names.map((n) => textWidth(n, STYLE.textSize))),
    xLabelsHeight: lineHeight(ts) + 6,
    rightPad: notesW ? notesW + 14 : 12,
  });
  const px = (v: number): number => project(X, v, plot.x, plot.x + plot.width);
  const doc = new SvgDoc(width, height);
  drawTitle(doc, m, m, tb);
  drawLegend(doc, m, m + tb.height + (tb.height ? 8 : 0), legend);
  drawXAxis(doc, plot, X);
  if (X.lo < 0 && X.hi > 0) doc.line(Math.round(px(0)) + 0.5, plot.y, Math.round(px(0)) + 0.5, plot.y + plot.height, { stroke: STYLE.frame, 'stroke-dasharray': '3 3' });

  const rowH = plot.height / ns;
  const bins = 40;
  const { edges, bin } = binning(X.lo, X.hi, bins);
  const rows: EffectRow[] = o.sets.map((s, k) => {
    const top = plot.y + k * rowH;
    const mid = top + rowH / 2;
    if (k > 0) doc.line(plot.x, Math.round(top) + 0.5, plot.x + plot.width, Math.round(top) + 0.5, { stroke: STYLE.grid });
    doc.text(plot.x - 8, mid + STYLE.textSize * 0.36, names[k], { size: STYLE.textSize, anchor: 'end' });
    const cc = hex(controlColor);
    if (styles[k] === 'dots') {
      let dots = '';
      for (let i = 0; i < s.control.length; i++) {
        const v = s.control[i];
        if (!Number.isFinite(v)) continue;
        const cx = px(v);
        const cy = mid + jitter(i) * rowH * 0.5;
        dots += `M${num(cx - 2.5)} ${num(cy)}a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0 -5 0z`;
      }
      if (dots) doc.el('path', { d: dots, fill: cc, 'fill-opacity': 0.55 });
    } else {
      const counts = new Array<number>(bins).fill(0);
      for (let i = 0; i < s.control.length; i++) if (Number.isFinite(s.control[i])) counts[bin(s.control[i])]++;
      const peak = Math.max(1, ...counts);
      const first = counts.findIndex((c) => c > 0);
      const last = bins - 1 - [...counts].reverse().findIndex((c) => c > 0);
      const floor = top + rowH * 0.85;
      if (first >= 0) {
        let d = `M${num(px(edges[first]))} ${num(floor)}`;
        for (let b = first; b <= last; b++) d += `V${num(floor - (counts[b] / peak) * rowH * 0.7)}H${num(px(edges[b + 1]))}`;
        doc.el('path', { d: `${d}V${num(floor)}z`, fill: cc, 'fill-opacity': 0.45, stroke: cc, 'stroke-width': 1 });
      }
    }
    let effectX = NaN;
    if (Number.isFinite(s.effect)) {
      effectX = px(s.effect);
      doc.line(effectX, top + rowH * 0.1, effectX, top + rowH * 0.9, { stroke: hex(effectColor), 'stroke-width': 3 });
      doc.el('circle', { cx: effectX, cy: mid, r: 4.5, fill: hex(effectColor), stroke: '#ffffff', 'stroke-width': 1 });
    }
    if (notes[k]) doc.text(plot.x + plot.width + 8, mid + ts * 0.36, notes[k], { size: ts, fill: STYLE.muted });
    return { name: s.name, x: plot.x, y: top, width: plot.width, height: rowH, effectX };
  });
  drawFrame(doc, plot);
  drawAxisTitles(doc, plot, height, o.xLabel, undefined, m);
  return { svg: doc.toString(), width, height, layout: { plot, x: X, rows } };
}
