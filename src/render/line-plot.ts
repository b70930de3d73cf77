/** Line plots with optional shaded bands (a curve against its chance level, a dose-response with control bands). */
import { qualitativePalette, type RGB } from './colormap.ts';
import {
  chartArea,
  drawAxisTitles,
  drawFrame,
  drawLegend,
  drawTitle,
  drawXAxis,
  drawYAxis,
  figureSize,
  labelsWidth,
  legendLayout,
  lineHeight,
  linearAxis,
  logAxis,
  project,
  STYLE,
  titleBlock,
  type Axis,
  type Figure,
  type LegendEntry,
  type Rect,
} from './layout.ts';
import { hex, num, SvgDoc } from './svg.ts';

export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  /** The curve; omit for a band alone. */
  y?: ArrayLike<number>;
  /** A band from `lo` to `hi` at each x, shaded in the series colour. */
  lo?: ArrayLike<number>;
  hi?: ArrayLike<number>;
  /** Default: the qualitative palette by series index. */
  color?: RGB;
  dashed?: boolean;
  /** A marker at every point of the curve (default true). */
  markers?: boolean;
}

export interface LinePlotOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** A log10 x axis (points with x ≤ 0 are left out). */
  xLog?: boolean;
  /** Include y = 0 in the range. */
  yZero?: boolean;
  /** Figure size in px (default 640 × 440). */
  width?: number;
  height?: number;
}

export interface PlotLayout {
  /** The plotting area inside the axes. */
  plot: Rect;
  x: Axis;
  y: Axis;
}

/** Runs of consecutive indices where `ok` holds. */
function runs(n: number, ok: (i: number) => boolean): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (let i = 0; i < n; i++) {
    if (ok(i)) cur.push(i);
    else if (cur.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

export function linePlotFigure(o: LinePlotOptions): Figure<PlotLayout> {
  const width = figureSize(o.width, 640, 'width');
  const height = figureSize(o.height, 440, 'height');
  const palette = qualitativePalette(Math.max(1, o.series.length));
  const series = o.series.map((s, k) => {
    const n = s.x.length;
    for (const [name, a] of [['y', s.y], ['lo', s.lo], ['hi', s.hi]] as const) {
      if (a && a.length !== n) throw new RangeError(`series "${s.name}": x has ${n} values, ${name} has ${a.length}`);
    }
    if ((s.lo === undefined) !== (s.hi === undefined)) throw new RangeError(`series "${s.name}": a band needs both lo and hi`);
    return { ...s, color: s.color ?? palette[k % palette.length] };
  });
  const xOk = (v: number): boolean => Number.isFinite(v) && (!o.xLog || v > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      if (!xOk(s.x[i])) continue;
      for (const a of [s.y, s.lo, s.hi]) {
        if (a && Number.isFinite(a[i])) {
          xs.push(s.x[i]);
          ys.push(a[i]);
        }
      }
    }
  }
  const X = o.xLog ? logAxis(xs) : linearAxis(xs);
  const Y = linearAxis(ys, o.yZero ?? false);

  const m = STYLE.margin;
  const tb = titleBlock(o.title, o.subtitle, width - 2 * m);
  const legend = legendLayout(
    series.map((s): LegendEntry => ({ name: s.name, color: s.color, kind: s.y ? (s.dashed ? 'dashed' : 'line') : 'band' })),
    width - 2 * m,
  );
  const plot = chartArea({ width, height, title: tb, legend, xLabel: o.xLabel, yLabel: o.yLabel, yLabelsWidth: labelsWidth(Y.labels), xLabelsHeight: lineHeight(STYLE.tickSize) + 6 });
  const px = (v: number): number => project(X, v, plot.x, plot.x + plot.width);
  const py = (v: number): number => project(Y, v, plot.y + plot.height, plot.y);

  const doc = new SvgDoc(width, height);
  drawTitle(doc, m, m, tb);
  drawLegend(doc, m, m + tb.height + (tb.height ? 8 : 0), legend);
  drawYAxis(doc, plot, Y);
  drawXAxis(doc, plot, X);
  drawFrame(doc, plot);
  drawAxisTitles(doc, plot, height, o.xLabel, o.yLabel, m);

  for (const s of series) {
    const c = hex(s.color);
    const { lo, hi, y } = s;
    if (lo && hi) {
      for (const run of runs(s.x.length, (i) => xOk(s.x[i]) && Number.isFinite(lo[i]) && Number.isFinite(hi[i]))) {
        const pts = [...run.map((i) => `${num(px(s.x[i]))} ${num(py(hi[i]))}`), ...[...run].reverse().map((i) => `${num(px(s.x[i]))} ${num(py(lo[i]))}`)];
        doc.el('path', { d: `M${pts.join('L')}z`, fill: c, 'fill-opacity': 0.22 });
      }
    }
    if (y) {
      for (const run of runs(s.x.length, (i) => xOk(s.x[i]) && Number.isFinite(y[i]))) {
        doc.el('polyline', {
          points: run.map((i) => `${num(px(s.x[i]))},${num(py(y[i]))}`).join(' '),
          fill: 'none',
          stroke: c,
          'stroke-width': 2,
          'stroke-linejoin': 'round',
          'stroke-dasharray': s.dashed ? '7 4' : undefined,
        });
        if (s.markers ?? true) for (const i of run) doc.el('circle', { cx: px(s.x[i]), cy: py(y[i]), r: 3, fill: c });
      }
    }
  }
  return { svg: doc.toString(), width, height, layout: { plot, x: X, y: Y } };
}
