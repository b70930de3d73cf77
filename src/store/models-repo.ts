/** The `models` table. */
import type { DB } from './db.ts';
import type { Manifest } from '../domain/manifest.ts';

export interface LayerInfo {
  name: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
  units: number;
  rows: number;
  cols: number;
  /** Shape ORT reported for the probe input. */
  probeShape: number[];
}

export interface ModelInfoJson {
  inputs: { name: string; type: string; dims: (number | string | null)[] }[];
  outputs: { name: string; type: string; dims: (number | string | null)[] }[];
  opsets: { domain: string; version: number }[];
  externalDataFiles: string[];
  /** Whether the batch axis of the inputs is dynamic (else inference runs one stimulus at a time). */
  dynamicBatch: boolean;
  layers: LayerInfo[];
  files: { name: string; sha256: string; bytes: number }[];
}

export interface ModelRecord {
  id: string;
  hash: string;
  name: string;
  modality: 'image' | 'text';
  manifest: Manifest;
  onnxSha256: string;
  dir: string;
  sizeBytes: number;
  info: ModelInfoJson;
  source: string;
  createdAt: string;
}

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
    info: JSON.parse(r.info) as ModelInfoJson,
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

export function deleteModelRow(db: DB, id: string): void {
  db.prepare('DELETE FROM models WHERE id = ?').run(id);
}

export function activeJobsForModel(db: DB, id: string): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE model_id = ? AND state IN ('queued', 'running')`).get(id) as { n: number }).n;
}

export function jobsForModel(db: DB, id: string): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM jobs WHERE model_id = ?').get(id) as { n: number }).n;
}
