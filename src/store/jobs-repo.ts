/** The `jobs`, `job_sets`, `job_stimuli`, `layer_results` and `activations` tables. */
import type { DB } from './db.ts';
import { blob, fromBlob, nowIso } from './db.ts';
import type { LayerOutcome, LayerSummary } from '../pipeline/contrast.ts';
import type { AnalysisOptions, ClusterRow } from '../pipeline/analyse.ts';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface ContrastParams {
  model: string;
  layers: string[];
  a: string[];
  b: string[];
  pooling: string | null;
  test: 'welch' | 'student';
  correction: 'bh' | 'by' | 'holm' | 'bonferroni' | 'none';
  correctionScope: 'layer' | 'all';
  alpha: number;
  keepActivations: boolean;
  label: string | null;
  analysis: AnalysisOptions;
}

export interface JobRecord {
  id: string;
  kind: string;
  modelId: string;
  state: JobState;
  params: ContrastParams;
  provenance: Record<string, unknown>;
  progressDone: number;
  progressTotal: number;
  error: string | null;
  timings: Record<string, number> | null;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  seq: number;
  batteryId: string | null;
}

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
  seq: number;
  battery_id: string | null;
}

const toJob = (r: JobRow): JobRecord => ({
  id: r.id,
  kind: r.kind,
  modelId: r.model_id,
  state: r.state,
  params: JSON.parse(r.params) as ContrastParams,
  provenance: JSON.parse(r.provenance) as Record<string, unknown>,
  progressDone: r.progress_done,
  progressTotal: r.progress_total,
  error: r.error,
  timings: r.timings ? (JSON.parse(r.timings) as Record<string, number>) : null,
  attempts: r.attempts,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  seq: r.seq,
  batteryId: r.battery_id,
});

export interface NewJob {
  id: string;
  modelId: string;
  params: ContrastParams;
  provenance: Record<string, unknown>;
  total: number;
  batteryId?: string | null;
}

/** Inserts jobs (one contrast, or all the contrasts of a battery) in one transaction. */
export function insertJobs(db: DB, jobs: NewJob[]): void {
  db.transaction(() => {
    let seq = ((db.prepare('SELECT MAX(seq) AS s FROM jobs').get() as { s: number | null }).s ?? 0) + 1;
    const ins = db.prepare('INSERT INTO job_sets (job_id, condition, position, set_id) VALUES (?, ?, ?, ?)');
    for (const j of jobs) {
      db.prepare(
        `INSERT INTO jobs (id, kind, model_id, state, params, provenance, progress_done, progress_total, created_at, seq, battery_id)
         VALUES (?, 'contrast', ?, 'queued', ?, ?, 0, ?, ?, ?, ?)`,
      ).run(j.id, j.modelId, JSON.stringify(j.params), JSON.stringify(j.provenance), j.total, nowIso(), seq++, j.batteryId ?? null);
      j.params.a.forEach((s, i) => ins.run(j.id, 'a', i, s));
      j.params.b.forEach((s, i) => ins.run(j.id, 'b', i, s));
    }
  })();
}

export function insertJob(db: DB, j: NewJob): void {
  insertJobs(db, [j]);
}

export function batteryJobs(db: DB, batteryId: string, state?: JobState): JobRecord[] {
  const rows = (
    state
      ? db.prepare('SELECT * FROM jobs WHERE battery_id = ? AND state = ? ORDER BY seq').all(batteryId, state)
      : db.prepare('SELECT * FROM jobs WHERE battery_id = ? ORDER BY seq').all(batteryId)
  ) as JobRow[];
  return rows.map(toJob);
}

export function getJob(db: DB, id: string): JobRecord | null {
  const r = db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  return r ? toJob(r) : null;
}

export function listJobs(db: DB, opts: { limit: number; offset: number; model?: string; state?: string }): { items: JobRecord[]; total: number } {
  const conds: string[] = [];
  if (opts.model) conds.push('model_id = @model');
  if (opts.state) conds.push('state = @state');
  const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(opts) as { n: number }).n;
  const rows = db.prepare(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT @limit OFFSET @offset`).all(opts) as JobRow[];
  return { items: rows.map(toJob), total };
}

export function nextQueued(db: DB, exclude: Set<string>): JobRecord | null {
  const rows = db.prepare(`SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 64`).all() as JobRow[];
  const r = rows.find((x) => !exclude.has(x.id));
  return r ? toJob(r) : null;
}

/** queued → running, only if still queued. */
export function markRunning(db: DB, id: string): boolean {
  return (
    db
      .prepare(`UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1, progress_done = 0, error = NULL WHERE id = ? AND state = 'queued'`)
      .run(nowIso(), id).changes === 1
  );
}

export function setProgress(db: DB, id: string, done: number, total: number): void {
  db.prepare(`UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ? AND state = 'running'`).run(done, total, id);
}

/** Progress of every running member of a battery (they share one pass through the model). */
export function setBatteryProgress(db: DB, batteryId: string, done: number, total: number): void {
  db.prepare(`UPDATE jobs SET progress_done = ?, progress_total = ? WHERE battery_id = ? AND state = 'running'`).run(done, total, batteryId);
}

export function finishJob(db: DB, id: string, state: 'failed' | 'cancelled', error: string | null, from: JobState[]): boolean {
  const placeholders = from.map(() => '?').join(', ');
  return (
    db
      .prepare(`UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state IN (${placeholders})`)
      .run(state, error, nowIso(), id, ...from).changes === 1
  );
}

/** Stores every layer's result and marks the job succeeded, atomically; false if it was cancelled meanwhile. */
export function storeSuccess(
  db: DB,
  id: string,
  layers: LayerOutcome[],
  stimuli: { condition: 'a' | 'b'; setId: string; sha256: string; label: string | null }[],
  activations: { layer: string; rows: number; units: number; path: string; rowIndexPath: string }[],
  timings: Record<string, number>,
): boolean {
  const insLayer = db.prepare(
    `INSERT INTO layer_results (job_id, layer, position, units, rows, cols, n_a, n_b, summary, cell_of_unit,
       t, df, p, log10p, q, d, g, mean_a, mean_b, var_a, var_b, analysis)
     VALUES (@job, @layer, @position, @units, @rows, @cols, @nA, @nB, @summary, @cell,
       @t, @df, @p, @log10p, @q, @d, @g, @meanA, @meanB, @varA, @varB, @analysis)`,
  );
  const insCluster = db.prepare(
    `INSERT INTO layer_clusters (job_id, layer, cluster_id, sign, size, mass, peak_t, peak_unit, peak_row, peak_col, centroid_row, centroid_col, p_mass, p_size)
     VALUES (@job, @layer, @id, @sign, @size, @mass, @peakT, @peakUnit, @peakRow, @peakCol, @centroidRow, @centroidCol, @pMass, @pSize)`,
  );
  const insArray = db.prepare('INSERT INTO layer_arrays (job_id, layer, name, dtype, data) VALUES (?, ?, ?, ?, ?)');
  const insStim = db.prepare('INSERT INTO job_stimuli (job_id, idx, condition, set_id, item_sha256, label) VALUES (?, ?, ?, ?, ?, ?)');
  const insAct = db.prepare('INSERT INTO activations (job_id, layer, rows, units, path, row_index_path) VALUES (?, ?, ?, ?, ?, ?)');
  const f32 = (a: Float64Array) => blob(Float32Array.from(a));
  return db.transaction(() => {
    const cur = db.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: JobState } | undefined;
    if (!cur || cur.state !== 'running') return false;
    db.prepare('DELETE FROM layer_results WHERE job_id = ?').run(id);
    db.prepare('DELETE FROM job_stimuli WHERE job_id = ?').run(id);
    db.prepare('DELETE FROM activations WHERE job_id = ?').run(id);
    db.prepare('DELETE FROM layer_clusters WHERE job_id = ?').run(id);
    db.prepare('DELETE FROM layer_arrays WHERE job_id = ?').run(id);
    layers.forEach((l, i) =>
      insLayer.run({
        job: id,
        layer: l.name,
        position: i,
        units: l.units,
        rows: l.rows,
        cols: l.cols,
        nA: l.nA,
        nB: l.nB,
        summary: JSON.stringify(l.summary),
        cell: blob(l.cellOfUnit),
        t: f32(l.t),
        df: f32(l.df),
        p: blob(l.p),
        log10p: blob(l.log10p),
        q: blob(l.q),
        d: f32(l.d),
        g: f32(l.g),
        meanA: f32(l.meanA),
        meanB: f32(l.meanB),
        varA: f32(l.varA),
        varB: f32(l.varB),
        analysis: JSON.stringify(l.analysis?.summary ?? {}),
      }),
    );
    for (const l of layers) {
      if (!l.analysis) continue;
      for (const c of l.analysis.clusters) insCluster.run({ job: id, layer: l.name, ...c });
      insArray.run(id, l.name, 'cluster_label', 'i32', blob(l.analysis.clusterLabels));
      if (l.analysis.pFWE) insArray.run(id, l.name, 'p_fwe', 'f64', blob(l.analysis.pFWE));
      if (l.analysis.tfce) insArray.run(id, l.name, 'tfce', 'f32', blob(Float32Array.from(l.analysis.tfce)));
    }
    stimuli.forEach((s, i) => insStim.run(id, i, s.condition, s.setId, s.sha256, s.label));
    for (const a of activations) insAct.run(id, a.layer, a.rows, a.units, a.path, a.rowIndexPath);
    db.prepare(`UPDATE jobs SET state = 'succeeded', finished_at = ?, timings = ?, progress_done = progress_total, error = NULL WHERE id = ?`).run(
      nowIso(),
      JSON.stringify(timings),
      id,
    );
    return true;
  })();
}

export interface StoredLayer {
  name: string;
  position: number;
  units: number;
  rows: number;
  cols: number;
  nA: number;
  nB: number;
  summary: LayerSummary;
  cellOfUnit: Int32Array;
  t: Float32Array;
  df: Float32Array;
  p: Float64Array;
  log10p: Float64Array;
  q: Float64Array;
  d: Float32Array;
  g: Float32Array;
  meanA: Float32Array;
  meanB: Float32Array;
  varA: Float32Array;
  varB: Float32Array;
  analysis: Record<string, unknown>;
}

interface LayerRow {
  layer: string;
  position: number;
  units: number;
  rows: number;
  cols: number;
  n_a: number;
  n_b: number;
  summary: string;
  cell_of_unit: Buffer;
  t: Buffer;
  df: Buffer;
  p: Buffer;
  log10p: Buffer;
  q: Buffer;
  d: Buffer;
  g: Buffer;
  mean_a: Buffer;
  mean_b: Buffer;
  var_a: Buffer;
  var_b: Buffer;
  analysis: string;
}

export function layerSummaries(db: DB, jobId: string): { name: string; summary: LayerSummary }[] {
  const rows = db.prepare('SELECT layer, summary FROM layer_results WHERE job_id = ? ORDER BY position').all(jobId) as { layer: string; summary: string }[];
  return rows.map((r) => ({ name: r.layer, summary: JSON.parse(r.summary) as LayerSummary }));
}

export function getLayerResult(db: DB, jobId: string, layer: string): StoredLayer | null {
  const r = db.prepare('SELECT * FROM layer_results WHERE job_id = ? AND layer = ?').get(jobId, layer) as LayerRow | undefined;
  if (!r) return null;
  return {
    name: r.layer,
    position: r.position,
    units: r.units,
    rows: r.rows,
    cols: r.cols,
    nA: r.n_a,
    nB: r.n_b,
    summary: JSON.parse(r.summary) as LayerSummary,
    cellOfUnit: fromBlob.i32(r.cell_of_unit),
    t: fromBlob.f32(r.t),
    df: fromBlob.f32(r.df),
    p: fromBlob.f64(r.p),
    log10p: fromBlob.f64(r.log10p),
    q: fromBlob.f64(r.q),
    d: fromBlob.f32(r.d),
    g: fromBlob.f32(r.g),
    meanA: fromBlob.f32(r.mean_a),
    meanB: fromBlob.f32(r.mean_b),
    varA: fromBlob.f32(r.var_a),
    varB: fromBlob.f32(r.var_b),
    analysis: JSON.parse(r.analysis) as Record<string, unknown>,
  };
}

export function layerClusters(db: DB, jobId: string, layer: string): ClusterRow[] {
  const rows = db
    .prepare(
      `SELECT cluster_id AS id, sign, size, mass, peak_t AS peakT, peak_unit AS peakUnit, peak_row AS peakRow, peak_col AS peakCol,
              centroid_row AS centroidRow, centroid_col AS centroidCol, p_mass AS pMass, p_size AS pSize
       FROM layer_clusters WHERE job_id = ? AND layer = ? ORDER BY cluster_id`,
    )
    .all(jobId, layer) as ClusterRow[];
  return rows;
}

/** Extra per-unit arrays of a layer (cluster_label, p_fwe, tfce), decoded. */
export function layerArrays(db: DB, jobId: string, layer: string): Record<string, Float32Array | Float64Array | Int32Array> {
  const rows = db.prepare('SELECT name, dtype, data FROM layer_arrays WHERE job_id = ? AND layer = ?').all(jobId, layer) as { name: string; dtype: string; data: Buffer }[];
  const out: Record<string, Float32Array | Float64Array | Int32Array> = {};
  for (const r of rows) out[r.name] = r.dtype === 'f64' ? fromBlob.f64(r.data) : r.dtype === 'i32' ? fromBlob.i32(r.data) : fromBlob.f32(r.data);
  return out;
}

export function getActivations(db: DB, jobId: string, layer: string): { rows: number; units: number; path: string; rowIndexPath: string } | null {
  const r = db.prepare('SELECT rows, units, path, row_index_path AS rowIndexPath FROM activations WHERE job_id = ? AND layer = ?').get(jobId, layer) as
    | { rows: number; units: number; path: string; rowIndexPath: string }
    | undefined;
  return r ?? null;
}

export function jobStimuli(db: DB, jobId: string): { idx: number; condition: string; setId: string; sha256: string; label: string | null }[] {
  return db
    .prepare('SELECT idx, condition, set_id AS setId, item_sha256 AS sha256, label FROM job_stimuli WHERE job_id = ? ORDER BY idx')
    .all(jobId) as { idx: number; condition: string; setId: string; sha256: string; label: string | null }[];
}

export function runningJobs(db: DB): JobRecord[] {
  return (db.prepare(`SELECT * FROM jobs WHERE state = 'running' ORDER BY seq`).all() as JobRow[]).map(toJob);
}

export function requeue(db: DB, id: string, note: string): void {
  db.prepare(`UPDATE jobs SET state = 'queued', progress_done = 0, started_at = NULL, error = ? WHERE id = ? AND state = 'running'`).run(note, id);
}
