/** From a stored layer result to a statistic on the sheet, and to its PNG / NPY renderings. */
import { renderMapPng } from '../maps/render.ts';
import { encodeNpy } from '../maps/npy.ts';
import type { StoredLayer } from '../store/jobs-repo.ts';

export type MapStat = 't' | 'd' | 'log10p' | 'q';

export const STAT_LABELS: Record<MapStat, string> = {
  t: 't',
  d: "Cohen's d",
  log10p: 'signed -log10 p',
  q: 'signed -log10 q',
};

/** Per-unit values of the statistic. log10p and q are signed by t: sign(t)·(−log10 p). */
export function statValues(l: StoredLayer, stat: MapStat): Float64Array {
  const out = new Float64Array(l.units);
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
  opts: { title: string; subtitle?: string; threshold?: number; vmax?: number },
): Promise<Buffer> {
  const sheet = onSheet(l, statValues(l, stat));
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
  });
}

export function layerMapNpy(l: StoredLayer, stat: MapStat): Buffer {
  const sheet = onSheet(l, statValues(l, stat));
  return encodeNpy(Float32Array.from(sheet), [l.rows, l.cols]);
}
