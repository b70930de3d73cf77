/** The `models` table. */
import type { DB } from './db.ts';
import { blob, fromBlob } from './db.ts';
import type { Manifest } from '../domain/manifest.ts';
import type { ModelRecord } from '../domain/records.ts';
import type { SheetLayout } from '../domain/sheet.ts';

interface Row {
  id: string;
  hash: string;
  name: string;
  modality: 'image' | 'text';
  manifest: string;
  onnx_sha256: string;
  dir: string;
  size_bytes: number;
  info: string;
  source: string;
  created_at: string;
}

function toRecord(r: Row): ModelRecord {
  return {
    id: r.id,
    hash: r.hash,
    name: r.name,
    modality: r.modality,
    manifest: JSON.parse(r.manifest) as Manifest,
    onnxSha256: r.onnx_sha256,
    dir: r.dir,
    sizeBytes: r.size_bytes,
    info: JSON.parse(r.info) as ModelRecord['info'],
    source: r.source,
    createdAt: r.created_at,
  };
}

export function insertModel(db: DB, m: ModelRecord): void {
  db.prepare(
    `INSERT INTO models (id, hash, name, modality, manifest, onnx_sha256, dir, size_bytes, info, source, created_at)
     VALUES (@id, @hash, @name, @modality, @manifest, @onnxSha256, @dir, @sizeBytes, @info, @source, @createdAt)`,
  ).run({ ...m, manifest: JSON.stringify(m.manifest), info: JSON.stringify(m.info) });
}

export function getModel(db: DB, id: string): ModelRecord | null {
  const r = db.prepare('SELECT * FROM models WHERE id = ?').get(id) as Row | undefined;
  return r ? toRecord(r) : null;
}

export function getModelByHash(db: DB, hash: string): ModelRecord | null {
  const r = db.prepare('SELECT * FROM models WHERE hash = ?').get(hash) as Row | undefined;
  return r ? toRecord(r) : null;
}

/** By id, or else the most recently registered model with that name. */
export function findModel(db: DB, idOrName: string): ModelRecord | null {
  return getModel(db, idOrName) ?? (() => {
    const r = db.prepare('SELECT * FROM models WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(idOrName) as Row | undefined;
    return r ? toRecord(r) : null;
  })();
}

export function listModels(db: DB, opts: { limit: number; offset: number; modality?: string }): { items: ModelRecord[]; total: number } {
  const where = opts.modality ? 'WHERE modality = @modality' : '';
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM models ${where}`).get({ modality: opts.modality }) as { n: number }).n;
  const rows = db
    .prepare(`SELECT * FROM models ${where} ORDER BY created_at, rowid LIMIT @limit OFFSET @offset`)
    .all({ modality: opts.modality, limit: opts.limit, offset: opts.offset }) as Row[];
  return { items: rows.map(toRecord), total };
}

export function activeJobsForModel(db: DB, id: string): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE model_id = ? AND state IN ('queued', 'running')`).get(id) as { n: number }).n;
}

export function jobsForModel(db: DB, id: string): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM jobs WHERE model_id = ?').get(id) as { n: number }).n;
}

/** Deletes a model with every job made on it, in one transaction; returns the ids of the jobs removed. */
export function deleteModelAndJobs(db: DB, id: string): string[] {
  return db.transaction(() => {
    const jobs = (db.prepare('SELECT id FROM jobs WHERE model_id = ?').all(id) as { id: string }[]).map((r) => r.id);
    db.prepare('DELETE FROM jobs WHERE model_id = ?').run(id);
    db.prepare('DELETE FROM models WHERE id = ?').run(id);
    return jobs;
  })();
}

export function putSheets(db: DB, modelId: string, sheets: { layer: string; sheet: SheetLayout }[]): void {
  const ins = db.prepare(
    `INSERT OR REPLACE INTO model_sheets (model_id, layer, type, rows, cols, cell_size, cell_of_unit, x, y) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const { layer, sheet: s } of sheets) ins.run(modelId, layer, s.type, s.rows, s.cols, s.cellSize ?? null, blob(s.cellOfUnit), blob(s.x), blob(s.y));
  })();
}

/** The stored sheet of a layer, or null (models registered before sheets were stored). */
export function getSheet(db: DB, modelId: string, layer: string): SheetLayout | null {
  const r = db.prepare('SELECT * FROM model_sheets WHERE model_id = ? AND layer = ?').get(modelId, layer) as
    | { type: 'grid' | 'coordinates'; rows: number; cols: number; cell_size: number | null; cell_of_unit: Buffer; x: Buffer; y: Buffer }
    | undefined;
  if (!r) return null;
  const cellOfUnit = fromBlob.i32(r.cell_of_unit);
  const unitOfCell = new Int32Array(r.rows * r.cols).fill(-1);
  for (let u = 0; u < cellOfUnit.length; u++) unitOfCell[cellOfUnit[u]] = u;
  const s: SheetLayout = { type: r.type, rows: r.rows, cols: r.cols, cellOfUnit, unitOfCell, x: fromBlob.f64(r.x), y: fromBlob.f64(r.y) };
  if (r.cell_size !== null) s.cellSize = r.cell_size;
  return s;
}
