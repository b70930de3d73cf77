/** From a stored layer result to a statistic on the sheet, and to its PNG / NPY renderings. */
import { renderMapPng } from '../render/raster.ts';
import { encodeNpy } from '../render/npy.ts';
import type { StoredLayer } from '../store/jobs-repo.ts';
import type { ClusterRow } from '../pipeline/analyse.ts';

import { renderLinePlotPng } from '../render/raster.ts';
import { ConflictError } from '../domain/errors.ts';

export type MapStat = 't' | 'd' | 'log10p' | 'q' | 'tfce' | 'pfwe';

export const STAT_LABELS: Record<MapStat, string> = {
  t: 't',
  d: "Cohen's d",
  log10p: 'signed -log10 p',
  q: 'signed -log10 q',
  tfce: 'TFCE',
  pfwe: 'signed -log10 p(FWE)',
};

export type LayerExtras = Record<string, Float32Array | Float64Array | Int32Array>;

/** Per-unit values of the statistic. log10p, q and pfwe are signed by t: sign(t)·(−log10 p). */
export function statValues(l: StoredLayer, stat: MapStat, extras: LayerExtras = {}): Float64Array {
  const out = new Float64Array(l.units);
  if (stat === 'tfce' || stat === 'pfwe') {
    const a = extras[stat === 'tfce' ? 'tfce' : 'p_fwe'];
    if (!a) {
      throw new ConflictError(
        stat === 'tfce' ? 'this contrast has no TFCE map: submit it with analysis.clusters.tfce = true' : 'this contrast has no permutation p-values: submit it with analysis.permutations = {n: …}',
      );
    }
    for (let u = 0; u < l.units; u++) {
      const s = l.t[u] > 0 ? 1 : l.t[u] < 0 ? -1 : 0;
      out[u] = stat === 'tfce' ? a[u] : s * -Math.log10(a[u]);
    }
    return out;
  }
  for (let u = 0; u < l.units; u++) {
    const s = l.t[u] > 0 ? 1 : l.t[u] < 0 ? -1 : 0;
    switch (stat) {
      case 't':
        out[u] = l.t[u];
        break;
      case 'd':
        out[u] = l.d[u];
        break;
      case 'log10p':
        out[u] = s * -l.log10p[u];
        break;
      case 'q':
        out[u] = s * (l.q[u] > 0 ? -Math.log10(l.q[u]) : 325);
        break;
    }
  }
  return out;
}

/** Unit values on the rows×cols sheet (row-major), NaN where no unit sits. */
export function onSheet(l: StoredLayer, values: Float64Array): Float64Array {
  const sheet = new Float64Array(l.rows * l.cols).fill(NaN);
  for (let u = 0; u < l.units; u++) sheet[l.cellOfUnit[u]] = values[u];
  return sheet;
}

export async function layerMapPng(
  l: StoredLayer,
  stat: MapStat,
  opts: { title: string; subtitle?: string; threshold?: number; vmax?: number; clusterLabels?: Int32Array; mask?: Int32Array },
  extras: LayerExtras = {},
): Promise<Buffer> {
  const sheet = onSheet(l, statValues(l, stat, extras));
  let clusterLabels: Int32Array | undefined;
  if (opts.clusterLabels) {
    clusterLabels = new Int32Array(l.rows * l.cols);
    for (let u = 0; u < l.units; u++) clusterLabels[l.cellOfUnit[u]] = opts.clusterLabels[u];
  }
  let outlineMask: Uint8Array | undefined;
  if (opts.mask) {
    outlineMask = new Uint8Array(l.rows * l.cols);
    for (const u of opts.mask) outlineMask[l.cellOfUnit[u]] = 1;
  }
  return renderMapPng({
    values: sheet,
    rows: l.rows,
    cols: l.cols,
    title: opts.title,
    subtitle: opts.subtitle,
    statLabel: STAT_LABELS[stat],
    symmetric: true,
    vmax: opts.vmax,
    threshold: opts.threshold,
    clusterLabels,
    outlineMask,
  });
}

export function layerMapNpy(l: StoredLayer, stat: MapStat, extras: LayerExtras = {}): Buffer {
  const sheet = onSheet(l, statValues(l, stat, extras));
  return encodeNpy(Float32Array.from(sheet), [l.rows, l.cols]);
}

/** The smoothness curve stored with a layer as a line plot (observed vs shuffled-position chance). */
export async function smoothnessPng(l: StoredLayer, title: string): Promise<Buffer> {
  const s = (l.analysis as { smoothness?: { binCenters: number[]; meanAbsDiff: (number | null)[]; chanceMean: (number | null)[] } }).smoothness;
  if (!s) throw new ConflictError('this layer has no smoothness curve (results from an older version)');
  const keep = s.binCenters.map((_, i) => s.meanAbsDiff[i] !== null && s.chanceMean[i] !== null);
  const pick = (a: (number | null)[]) => Float64Array.from(a.filter((_, i) => keep[i]) as number[]);
  const x = Float64Array.from(s.binCenters.filter((_, i) => keep[i]));
  return renderLinePlotPng({
    title,
    xLabel: 'distance on the sheet (cells)',
    yLabel: 'mean |delta t|',
    series: [
      { name: 'observed', x, y: pick(s.meanAbsDiff), color: [178, 24, 43], markers: true },
      { name: 'shuffled positions', x, y: pick(s.chanceMean), color: [90, 90, 90], dashed: true },
    ],
  });
}

/** Per-unit numbers as JSON: non-finite values become null. */
const finiteArray = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : null));

/**
 * The per-unit document of one layer: sheet layout, every statistic, the summary and the analysis.
 * The HTTP layer endpoint and the CLI's `<layer>.json` both write this.
 */
export function layerDocument(contrast: string, l: StoredLayer, clusters: ClusterRow[], extras: LayerExtras) {
  return {
    contrast,
    layer: l.name,
    units: l.units,
    rows: l.rows,
    cols: l.cols,
    nA: l.nA,
    nB: l.nB,
    cellOfUnit: Array.from(l.cellOfUnit),
    t: finiteArray(l.t),
    df: finiteArray(l.df),
    p: finiteArray(l.p),
    log10p: finiteArray(l.log10p),
    q: finiteArray(l.q),
    d: finiteArray(l.d),
    g: finiteArray(l.g),
    meanA: finiteArray(l.meanA),
    meanB: finiteArray(l.meanB),
    varA: finiteArray(l.varA),
    varB: finiteArray(l.varB),
    summary: { ...l.summary, name: l.name },
    analysis: l.analysis,
    clusters,
    clusterLabel: extras.cluster_label ? Array.from(extras.cluster_label) : null,
    pFWE: extras.p_fwe ? finiteArray(extras.p_fwe) : null,
    tfce: extras.tfce ? finiteArray(extras.tfce) : null,
  };
}
