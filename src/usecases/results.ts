/** From a stored layer result to a statistic on the sheet, and to its PNG / NPY renderings. */
import type { ClusterRow } from '../domain/analysis.ts';
import { ConflictError } from '../domain/errors.ts';
import type { LayerExtras, LayerResult } from '../domain/records.ts';
import { MAP_STATS, UNIT_STATS, type MapStat } from '../domain/stats.ts';
import { encodeNpy } from '../render/npy.ts';
import { linePlotFigure, renderMapPng, renderMapSvg, svgToPng, type MapOptions } from '../render/index.ts';
import { labelsToSheet, toSheet, unitsToSheetMask } from '../sheet/layout.ts';

/** Per-unit values of the statistic. log10p, q and pfwe are signed by t: sign(t)·(−log10 p). */
export function statValues(l: LayerResult, stat: MapStat, extras: LayerExtras = {}): Float64Array {
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
        out[u] = s * -l.log10q[u];
        break;
    }
  }
  return out;
}

/** Unit values on the rows×cols sheet (row-major), NaN where no unit sits. */
export function onSheet(l: LayerResult, values: Float64Array): Float64Array {
  return toSheet(values, l);
}

export interface LayerMapOptions {
  title: string;
  subtitle?: string;
  threshold?: number;
  vmax?: number;
  clusterLabels?: Int32Array;
  mask?: Int32Array;
}

/** The map figure's options for a statistic of a stored layer. */
export function layerMapOptions(l: LayerResult, stat: MapStat, opts: LayerMapOptions, extras: LayerExtras = {}): MapOptions {
  return {
    values: onSheet(l, statValues(l, stat, extras)),
    rows: l.rows,
    cols: l.cols,
    title: opts.title,
    subtitle: opts.subtitle,
    statLabel: MAP_STATS[stat].label,
    symmetric: true,
    vmax: opts.vmax,
    threshold: opts.threshold,
    clusterLabels: opts.clusterLabels ? labelsToSheet(opts.clusterLabels, l) : undefined,
    outlineMask: opts.mask ? unitsToSheetMask(opts.mask, l) : undefined,
  };
}

export function layerMapPng(l: LayerResult, stat: MapStat, opts: LayerMapOptions, extras: LayerExtras = {}): Promise<Buffer> {
  return renderMapPng(layerMapOptions(l, stat, opts, extras));
}

export function layerMapSvg(l: LayerResult, stat: MapStat, opts: LayerMapOptions, extras: LayerExtras = {}): string {
  return renderMapSvg(layerMapOptions(l, stat, opts, extras));
}

export function layerMapNpy(l: LayerResult, stat: MapStat, extras: LayerExtras = {}): Buffer {
  const sheet = onSheet(l, statValues(l, stat, extras));
  return encodeNpy(Float32Array.from(sheet), [l.rows, l.cols]);
}

/** The smoothness curve stored with a layer as a line plot (observed vs shuffled-position chance). */
export function smoothnessFigure(l: LayerResult, title: string): string {
  const s = l.analysis.smoothness;
  const keep = s.binCenters.map((_, i) => s.meanAbsDiff[i] !== null && s.chanceMean[i] !== null);
  const pick = (a: (number | null)[]) => Float64Array.from(a.filter((_, i) => keep[i]) as number[]);
  const x = Float64Array.from(s.binCenters.filter((_, i) => keep[i]));
  return linePlotFigure({
    title,
    xLabel: s.distance.startsWith('layout') ? 'distance on the sheet (layout units)' : 'distance on the sheet (cells)',
    yLabel: 'mean |Δt|',
    series: [
      { name: 'observed', x, y: pick(s.meanAbsDiff), color: [178, 24, 43], markers: true },
      { name: 'shuffled positions', x, y: pick(s.chanceMean), color: [90, 90, 90], dashed: true, markers: false },
    ],
  }).svg;
}

export function smoothnessPng(l: LayerResult, title: string): Promise<Buffer> {
  return svgToPng(smoothnessFigure(l, title));
}

/** Per-unit numbers as JSON: non-finite values become null. */
const finiteArray = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : null));

function unitStatArrays(l: LayerResult) {
  const out = {} as Record<(typeof UNIT_STATS)[number]['field'], (number | null)[]>;
  for (const s of UNIT_STATS) out[s.field] = finiteArray(l[s.field]);
  return out;
}

/**
 * The per-unit document of one layer: sheet layout, every statistic, the summary and the analysis.
 * The HTTP layer endpoint and the CLI's `<layer>.json` both write this.
 */
export function layerDocument(contrast: string, l: LayerResult, clusters: ClusterRow[], extras: LayerExtras) {
  return {
    contrast,
    layer: l.name,
    units: l.units,
    rows: l.rows,
    cols: l.cols,
    nA: l.nA,
    nB: l.nB,
    cellOfUnit: Array.from(l.cellOfUnit),
    ...unitStatArrays(l),
    summary: { ...l.summary, name: l.name },
    analysis: l.analysis,
    clusters,
    clusterLabel: extras.cluster_label ? Array.from(extras.cluster_label) : null,
    pFWE: extras.p_fwe ? finiteArray(extras.p_fwe) : null,
    tfce: extras.tfce ? finiteArray(extras.tfce) : null,
  };
}
