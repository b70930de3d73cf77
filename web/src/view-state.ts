/**
 * The state of a map view and its URL: /contrasts/<id>?model=&layer=&stat=&thr=&sel=&cmp=&zoom=
 *   sel  u39 (a unit), u3,4,9 (several units) or c2 (cluster 2 of the layer's cluster table)
 *   cmp  <contrast>:<layer>, the map shown beside this one
 *   thr  outline threshold on the scale of the statistic (see STATS[stat].scale); 0 = no outline
 *   lesion  the id of a lesion job shown in the selection panel
 */
import { queryString } from './router.ts';
import type { Stat } from './types.ts';
import { STAT_ORDER, STATS } from './sheet.ts';

export type Selection = { kind: 'units'; units: number[] } | { kind: 'cluster'; id: number } | null;

export interface MapView {
  contrast: string;
  model: string | null;
  layer: string | null;
  stat: Stat;
  thr: number;
  sel: Selection;
  cmp: { contrast: string; layer: string } | null;
  zoom: number;
  lesion: string | null;
}

export const ZOOMS = [1, 1.5, 2, 3, 4, 6, 8];

export function parseSelection(s: string | null): Selection {
  if (!s) return null;
  const c = /^c(\d+)$/.exec(s);
  if (c) return { kind: 'cluster', id: Number(c[1]) };
  const u = /^u(\d+(?:,\d+)*)$/.exec(s);
  if (u) return { kind: 'units', units: [...new Set(u[1].split(',').map(Number))] };
  return null;
}

export function selectionText(sel: Selection): string | null {
  if (!sel) return null;
  return sel.kind === 'cluster' ? `c${sel.id}` : sel.units.length ? `u${sel.units.join(',')}` : null;
}

export function parseView(contrast: string, q: URLSearchParams): MapView {
  const stat = (STAT_ORDER as string[]).includes(q.get('stat') ?? '') ? (q.get('stat') as Stat) : 't';
  const thrRaw = q.get('thr');
  const thr = thrRaw !== null && Number.isFinite(Number(thrRaw)) && Number(thrRaw) >= 0 ? Number(thrRaw) : STATS[stat].defaultThreshold;
  const cmpRaw = q.get('cmp');
  const cm = cmpRaw ? /^([^:]+):(.+)$/.exec(cmpRaw) : null;
  const zoom = Number(q.get('zoom'));
  return {
    contrast,
    model: q.get('model'),
    layer: q.get('layer'),
    stat,
    thr,
    sel: parseSelection(q.get('sel')),
    cmp: cm ? { contrast: cm[1], layer: cm[2] } : null,
    zoom: ZOOMS.includes(zoom) ? zoom : 1,
    lesion: /^[A-Za-z0-9_-]{1,128}$/.test(q.get('lesion') ?? '') ? q.get('lesion') : null,
  };
}

export function viewUrl(v: MapView): string {
  return (
    `/contrasts/${encodeURIComponent(v.contrast)}` +
    queryString([
      ['model', v.model],
      ['layer', v.layer],
      ['stat', v.stat],
      ['thr', Number(v.thr.toPrecision(6))],
      ['sel', selectionText(v.sel)],
      ['cmp', v.cmp ? `${v.cmp.contrast}:${v.cmp.layer}` : null],
      ['zoom', v.zoom !== 1 ? v.zoom : null],
      ['lesion', v.sel ? v.lesion : null],
    ])
  );
}
