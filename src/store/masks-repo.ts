/** The `masks` and `mask_layers` tables. */
import type { DB } from './db.ts';
import { blob, fromBlob, nowIso } from './db.ts';
import type { MaskKind, MaskRecord } from '../domain/records.ts';

interface MaskRow {
  id: string;
  name: string;
  model_id: string;
  job_id: string | null;
  kind: MaskKind;
  spec: string;
  control_of: string | null;
  n_units: number;
  created_at: string;
}

export interface NewMask {
  id: string;
  name: string;
  modelId: string;
  contrast: string | null;
  kind: MaskKind;
  spec: Record<string, unknown>;
  controlOf: string | null;
}

export function insertMask(db: DB, m: NewMask, layers: Map<string, Int32Array>): void {
  let total = 0;
  for (const u of layers.values()) total += u.length;
  db.transaction(() => {
    db.prepare('INSERT INTO masks (id, name, model_id, job_id, kind, spec, control_of, n_units, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      m.id,
      m.name,
      m.modelId,
      m.contrast,
      m.kind,
      JSON.stringify(m.spec),
      m.controlOf,
      total,
      nowIso(),
    );
    const ins = db.prepare('INSERT INTO mask_layers (mask_id, layer, n_units, units) VALUES (?, ?, ?, ?)');
    for (const [layer, units] of layers) ins.run(m.id, layer, units.length, blob(units));
  })();
}

export function getMask(db: DB, id: string): MaskRecord | null {
  const r = db.prepare('SELECT * FROM masks WHERE id = ?').get(id) as MaskRow | undefined;
  if (!r) return null;
  const layers = (db.prepare('SELECT layer, n_units, units FROM mask_layers WHERE mask_id = ? ORDER BY rowid').all(id) as { layer: string; n_units: number; units: Buffer }[]).map(
    (l) => ({ layer: l.layer, nUnits: l.n_units, units: Array.from(fromBlob.i32(l.units)) }),
  );
  return {
    id: r.id,
    name: r.name,
    modelId: r.model_id,
    contrast: r.job_id,
    kind: r.kind,
    spec: JSON.parse(r.spec) as Record<string, unknown>,
    controlOf: r.control_of,
    nUnits: r.n_units,
    createdAt: r.created_at,
    layers,
  };
}

export function listMasks(db: DB, opts: { model?: string; limit: number; offset: number }): { items: MaskRecord[]; total: number } {
  const where = opts.model ? 'WHERE model_id = @model' : '';
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM masks ${where}`).get(opts) as { n: number }).n;
  const ids = db.prepare(`SELECT id FROM masks ${where} ORDER BY created_at, rowid LIMIT @limit OFFSET @offset`).all(opts) as { id: string }[];
  return { items: ids.map((r) => getMask(db, r.id)!), total };
}

export function deleteMask(db: DB, id: string): void {
  db.prepare('DELETE FROM masks WHERE id = ?').run(id);
}
