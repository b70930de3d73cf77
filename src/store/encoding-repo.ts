/**
 * Storage of what a region encodes: top-stimuli and profile jobs (rows of `jobs` with their own kind,
 * so they share the queue's state machine, recovery and cancel), their results, arrays, stimulus lists
 * and cross-validation splits; and per-unit selectivity across a battery.
 */
import type { DB } from './db.ts';
import { blob, fromBlob, nowIso } from './db.ts';
import type { EncodingJobKind } from '../domain/encoding.ts';
import type { JobState } from '../domain/records.ts';

export type ArrayDtype = 'f32' | 'f64' | 'i32';
export type TypedArray = Float32Array | Float64Array | Int32Array;

interface JobRow {
  id: string;
  kind: string;
  model_id: string;
  state: JobState;
  params: string;
  provenance: string;
  progress_done: number;
  progress_total: number;
  error: string | null;
  timings: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface EncodingJobRecord<P = unknown> {
  id: string;
  kind: EncodingJobKind;
  modelId: string;
  state: JobState;
  params: P;
  provenance: Record<string, unknown>;
  progressDone: number;
  progressTotal: number;
  error: string | null;
  timings: Record<string, number> | null;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

const toRecord = (r: JobRow): EncodingJobRecord => ({
  id: r.id,
  kind: r.kind as EncodingJobKind,
  modelId: r.model_id,
  state: r.state,
  params: JSON.parse(r.params) as unknown,
  provenance: JSON.parse(r.provenance) as Record<string, unknown>,
  progressDone: r.progress_done,
  progressTotal: r.progress_total,
  error: r.error,
  timings: r.timings ? (JSON.parse(r.timings) as Record<string, number>) : null,
  attempts: r.attempts,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export interface NewEncodingJob {
  id: string;
  kind: EncodingJobKind;
  modelId: string;
  params: unknown;
  provenance: Record<string, unknown>;
  total: number;
  /** Set ids the job reads (recorded in job_sets so the sets cannot be deleted under it). */
  sets: string[];
}

/** Inserts a queued job of an encoding kind (after every job submitted so far). */
export function insertEncodingJob(db: DB, j: NewEncodingJob): void {
  db.transaction(() => {
    const seq = ((db.prepare('SELECT MAX(seq) AS s FROM jobs').get() as { s: number | null }).s ?? 0) + 1;
    db.prepare(
      `INSERT INTO jobs (id, kind, model_id, state, params, provenance, progress_done, progress_total, created_at, seq)
       VALUES (?, ?, ?, 'queued', ?, ?, 0, ?, ?, ?)`,
    ).run(j.id, j.kind, j.modelId, JSON.stringify(j.params), JSON.stringify(j.provenance), j.total, nowIso(), seq);
    const ins = db.prepare("INSERT INTO job_sets (job_id, condition, position, set_id) VALUES (?, 'a', ?, ?)");
    [...new Set(j.sets)].forEach((s, i) => ins.run(j.id, i, s));
  })();
}

/** A job of one of the encoding kinds (null for other kinds or unknown ids). */
export function getEncodingJob(db: DB, id: string, kind?: EncodingJobKind): EncodingJobRecord | null {
  const r = db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  if (!r || (kind ? r.kind !== kind : r.kind !== 'top-stimuli' && r.kind !== 'profile')) return null;
  return toRecord(r);
}

export function listEncodingJobs(db: DB, kind: EncodingJobKind, opts: { limit: number; offset: number; model?: string; state?: string }): { items: EncodingJobRecord[]; total: number } {
  const conds = ['kind = @kind'];
  if (opts.model) conds.push('model_id = @model');
  if (opts.state) conds.push('state = @state');
  const where = `WHERE ${conds.join(' AND ')}`;
  const params = { ...opts, kind };
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(params) as { n: number }).n;
  const rows = db.prepare(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT @limit OFFSET @offset`).all(params) as JobRow[];
  return { items: rows.map(toRecord), total };
}

export interface StoredStimulusRow {
  idx: number;
  setId: string;
  position: number;
  sha256: string;
}

export interface SplitRow {
  split: number;
  definition: Int32Array;
  measurement: Int32Array;
  definitionItems: string[];
  roi: { layer: string; units: number[] }[];
  control: { layer: string; units: number[] }[] | null;
}

export interface EncodingSuccess {
  kind: EncodingJobKind;
  result: unknown;
  arrays?: { name: string; dtype: ArrayDtype; data: TypedArray }[];
  stimuli?: StoredStimulusRow[];
  splits?: SplitRow[];
  timings: Record<string, number>;
}

/** Stores a job's results and marks it succeeded, atomically; false if it was no longer running. */
export function storeEncodingSuccess(db: DB, id: string, s: EncodingSuccess): boolean {
  return db.transaction(() => {
    const cur = db.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: JobState } | undefined;
    if (!cur || cur.state !== 'running') return false;
    for (const t of ['encoding_results', 'encoding_arrays', 'encoding_stimuli', 'profile_splits']) db.prepare(`DELETE FROM ${t} WHERE job_id = ?`).run(id);
    db.prepare('INSERT INTO encoding_results (job_id, kind, result) VALUES (?, ?, ?)').run(id, s.kind, JSON.stringify(s.result));
    const insArr = db.prepare('INSERT INTO encoding_arrays (job_id, name, dtype, data) VALUES (?, ?, ?, ?)');
    for (const a of s.arrays ?? []) insArr.run(id, a.name, a.dtype, blob(a.data));
    const insStim = db.prepare('INSERT INTO encoding_stimuli (job_id, idx, set_id, position, item_sha256) VALUES (?, ?, ?, ?, ?)');
    for (const r of s.stimuli ?? []) insStim.run(id, r.idx, r.setId, r.position, r.sha256);
    const insSplit = db.prepare('INSERT INTO profile_splits (job_id, split, definition, measurement, definition_items, roi, control) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const sp of s.splits ?? []) {
      insSplit.run(id, sp.split, blob(sp.definition), blob(sp.measurement), JSON.stringify(sp.definitionItems), JSON.stringify(sp.roi), sp.control ? JSON.stringify(sp.control) : null);
    }
    db.prepare(`UPDATE jobs SET state = 'succeeded', finished_at = ?, timings = ?, progress_done = progress_total, error = NULL WHERE id = ?`).run(nowIso(), JSON.stringify(s.timings), id);
    return true;
  })();
}

export function getEncodingResult(db: DB, id: string): unknown {
  const r = db.prepare('SELECT result FROM encoding_results WHERE job_id = ?').get(id) as { result: string } | undefined;
  return r ? (JSON.parse(r.result) as unknown) : null;
}

export function getEncodingArray(db: DB, id: string, name: string): TypedArray | null {
  const r = db.prepare('SELECT dtype, data FROM encoding_arrays WHERE job_id = ? AND name = ?').get(id, name) as { dtype: ArrayDtype; data: Buffer } | undefined;
  return r ? fromBlob[r.dtype](r.data) : null;
}

export function getEncodingStimuli(db: DB, id: string): StoredStimulusRow[] {
  return db.prepare('SELECT idx, set_id AS setId, position, item_sha256 AS sha256 FROM encoding_stimuli WHERE job_id = ? ORDER BY idx').all(id) as StoredStimulusRow[];
}

export function getSplits(db: DB, id: string): SplitRow[] {
  const rows = db.prepare('SELECT * FROM profile_splits WHERE job_id = ? ORDER BY split').all(id) as {
    split: number;
    definition: Buffer;
    measurement: Buffer;
    definition_items: string;
    roi: string;
    control: string | null;
  }[];
  return rows.map((r) => ({
    split: r.split,
    definition: fromBlob.i32(r.definition),
    measurement: fromBlob.i32(r.measurement),
    definitionItems: JSON.parse(r.definition_items) as string[],
    roi: JSON.parse(r.roi) as SplitRow['roi'],
    control: r.control ? (JSON.parse(r.control) as SplitRow['roi']) : null,
  }));
}

export interface ItemAt {
  setId: string;
  position: number;
  sha256: string;
  label: string | null;
  text: string | null;
}

/** Items by (set, position), in the order asked; null where there is none. */
export function itemsAt(db: DB, refs: { setId: string; position: number }[]): (ItemAt | null)[] {
  const q = db.prepare(
    `SELECT l.set_id AS setId, l.position, l.item_sha256 AS sha256, l.label, i.text
     FROM stimulus_set_items l JOIN stimulus_items i ON i.sha256 = l.item_sha256 WHERE l.set_id = ? AND l.position = ?`,
  );
  return refs.map((r) => (q.get(r.setId, r.position) as ItemAt | undefined) ?? null);
}

/** The item hashes of the given sets (e.g. the sets a mask's contrast was defined on). */
export function itemHashesOfSets(db: DB, setIds: string[]): string[] {
  const q = db.prepare('SELECT item_sha256 AS s FROM stimulus_set_items WHERE set_id = ?');
  const out = new Set<string>();
  for (const id of setIds) for (const r of q.all(id) as { s: string }[]) out.add(r.s);
  return [...out].sort();
}

/** The sets of a contrast job, in condition and position order. */
export function jobSets(db: DB, jobId: string): { condition: 'a' | 'b'; setId: string }[] {
  return db.prepare('SELECT condition, set_id AS setId FROM job_sets WHERE job_id = ? ORDER BY condition, position').all(jobId) as { condition: 'a' | 'b'; setId: string }[];
}

// Selectivity.

export interface NewSelectivity {
  id: string;
  modelId: string;
  batteryId: string;
  spec: Record<string, unknown>;
  result: unknown;
  layers: { layer: string; arrays: { name: string; dtype: ArrayDtype; data: TypedArray }[] }[];
}

export function insertSelectivity(db: DB, s: NewSelectivity): void {
  db.transaction(() => {
    db.prepare('INSERT INTO selectivity (id, model_id, battery_id, spec, result, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(s.id, s.modelId, s.batteryId, JSON.stringify(s.spec), JSON.stringify(s.result), nowIso());
    const ins = db.prepare('INSERT INTO selectivity_arrays (selectivity_id, layer, name, dtype, data) VALUES (?, ?, ?, ?, ?)');
    for (const l of s.layers) for (const a of l.arrays) ins.run(s.id, l.layer, a.name, a.dtype, blob(a.data));
  })();
}

export interface SelectivityRow {
  id: string;
  modelId: string;
  batteryId: string;
  spec: Record<string, unknown>;
  result: unknown;
  createdAt: string;
}

type SelRow = { id: string; model_id: string; battery_id: string; spec: string; result: string; created_at: string };
const toSel = (r: SelRow): SelectivityRow => ({
  id: r.id,
  modelId: r.model_id,
  batteryId: r.battery_id,
  spec: JSON.parse(r.spec) as Record<string, unknown>,
  result: JSON.parse(r.result) as unknown,
  createdAt: r.created_at,
});

export function getSelectivity(db: DB, id: string): SelectivityRow | null {
  const r = db.prepare('SELECT * FROM selectivity WHERE id = ?').get(id) as SelRow | undefined;
  return r ? toSel(r) : null;
}

export function listSelectivity(db: DB, opts: { limit: number; offset: number; model?: string }): { items: SelectivityRow[]; total: number } {
  const where = opts.model ? 'WHERE model_id = @model' : '';
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM selectivity ${where}`).get(opts) as { n: number }).n;
  const rows = db.prepare(`SELECT * FROM selectivity ${where} ORDER BY created_at DESC, rowid DESC LIMIT @limit OFFSET @offset`).all(opts) as SelRow[];
  return { items: rows.map(toSel), total };
}

export function selectivityArrays(db: DB, id: string, layer: string): Record<string, TypedArray> {
  const rows = db.prepare('SELECT name, dtype, data FROM selectivity_arrays WHERE selectivity_id = ? AND layer = ?').all(id, layer) as { name: string; dtype: ArrayDtype; data: Buffer }[];
  const out: Record<string, TypedArray> = {};
  for (const r of rows) out[r.name] = fromBlob[r.dtype](r.data);
  return out;
}

export function deleteSelectivity(db: DB, id: string): void {
  db.prepare('DELETE FROM selectivity WHERE id = ?').run(id);
}
