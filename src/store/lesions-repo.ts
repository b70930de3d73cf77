/**
 * Lesion jobs (`jobs` rows of kind 'lesion', their sets in `job_sets`) and their tables:
 * `lesion_configs` + `lesion_config_layers` (every configuration with its units), `lesion_means`,
 * `lesion_results`, `lesion_values`.
 */
import type { DB } from './db.ts';
import { blob, fromBlob, nowIso } from './db.ts';
import type { ConfigRole, LesionParams, LesionStimulus } from '../domain/lesion.ts';
import type { JobState } from '../domain/records.ts';

export interface LesionJobRecord {
  id: string;
  modelId: string;
  state: JobState;
  params: LesionParams;
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
}

interface Row {
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
}

const toRecord = (r: Row): LesionJobRecord => ({
  id: r.id,
  modelId: r.model_id,
  state: r.state,
  params: JSON.parse(r.params) as LesionParams,
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
});

/** One configuration of a lesion job (index 0: the intact model). */
export interface StoredConfig {
  idx: number;
  role: ConfigRole;
  dose: number | null;
  control: number | null;
  seed: number | null;
  /** Layer → unit indices, ascending (empty for the intact model). */
  layers: { layer: string; units: Int32Array }[];
}

export interface NewLesionJob {
  id: string;
  modelId: string;
  params: LesionParams;
  provenance: Record<string, unknown>;
  total: number;
}

/** Inserts a lesion job, its sets and every configuration, in one transaction. */
export function insertLesionJob(db: DB, job: NewLesionJob, configs: StoredConfig[]): void {
  db.transaction(() => {
    const seq = ((db.prepare('SELECT MAX(seq) AS s FROM jobs').get() as { s: number | null }).s ?? 0) + 1;
    db.prepare(
      `INSERT INTO jobs (id, kind, model_id, state, params, provenance, progress_done, progress_total, created_at, seq)
       VALUES (?, 'lesion', ?, 'queued', ?, ?, 0, ?, ?, ?)`,
    ).run(job.id, job.modelId, JSON.stringify(job.params), JSON.stringify(job.provenance), job.total, nowIso(), seq);
    const insSet = db.prepare('INSERT INTO job_sets (job_id, condition, position, set_id) VALUES (?, ?, ?, ?)');
    job.params.sets.forEach((s, i) => insSet.run(job.id, 'a', i, s));
    job.params.reference.forEach((s, i) => insSet.run(job.id, 'b', i, s));
    const insConfig = db.prepare('INSERT INTO lesion_configs (job_id, idx, role, dose, control, seed, n_units) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const insLayer = db.prepare('INSERT INTO lesion_config_layers (job_id, idx, layer, n_units, units) VALUES (?, ?, ?, ?, ?)');
    for (const c of configs) {
      const n = c.layers.reduce((s, l) => s + l.units.length, 0);
      insConfig.run(job.id, c.idx, c.role, c.dose, c.control, c.seed, n);
      for (const l of c.layers) insLayer.run(job.id, c.idx, l.layer, l.units.length, blob(l.units));
    }
  })();
}

export function getLesionJob(db: DB, id: string): LesionJobRecord | null {
  const r = db.prepare(`SELECT * FROM jobs WHERE id = ? AND kind = 'lesion'`).get(id) as Row | undefined;
  return r ? toRecord(r) : null;
}

export function listLesionJobs(db: DB, opts: { limit: number; offset: number; model?: string; state?: string }): { items: LesionJobRecord[]; total: number } {
  const conds = [`kind = 'lesion'`];
  if (opts.model) conds.push('model_id = @model');
  if (opts.state) conds.push('state = @state');
  const where = `WHERE ${conds.join(' AND ')}`;
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(opts) as { n: number }).n;
  const rows = db.prepare(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT @limit OFFSET @offset`).all(opts) as Row[];
  return { items: rows.map(toRecord), total };
}

interface ConfigRow {
  idx: number;
  role: ConfigRole;
  dose: number | null;
  control: number | null;
  seed: number | null;
  n_units: number;
}

/** The configurations of a lesion job in index order; `units: false` leaves the unit lists empty (counts only). */
export function lesionConfigs(db: DB, id: string, opts: { units?: boolean; idx?: number } = {}): (StoredConfig & { nUnits: number; counts: Record<string, number> })[] {
  const rows = (
    opts.idx === undefined
      ? db.prepare('SELECT idx, role, dose, control, seed, n_units FROM lesion_configs WHERE job_id = ? ORDER BY idx').all(id)
      : db.prepare('SELECT idx, role, dose, control, seed, n_units FROM lesion_configs WHERE job_id = ? AND idx = ?').all(id, opts.idx)
  ) as ConfigRow[];
  const layers = (
    opts.idx === undefined
      ? db.prepare(`SELECT idx, layer, n_units, ${opts.units === false ? 'NULL AS units' : 'units'} FROM lesion_config_layers WHERE job_id = ? ORDER BY idx, rowid`).all(id)
      : db.prepare(`SELECT idx, layer, n_units, units FROM lesion_config_layers WHERE job_id = ? AND idx = ? ORDER BY rowid`).all(id, opts.idx)
  ) as { idx: number; layer: string; n_units: number; units: Buffer | null }[];
  const byIdx = new Map<number, typeof layers>();
  for (const l of layers) {
    const list = byIdx.get(l.idx) ?? [];
    list.push(l);
    byIdx.set(l.idx, list);
  }
  return rows.map((r) => {
    const ls = byIdx.get(r.idx) ?? [];
    return {
      idx: r.idx,
      role: r.role,
      dose: r.dose,
      control: r.control,
      seed: r.seed,
      nUnits: r.n_units,
      counts: Object.fromEntries(ls.map((l) => [l.layer, l.n_units])),
      layers: ls.map((l) => ({ layer: l.layer, units: l.units ? fromBlob.i32(l.units) : new Int32Array(0) })),
    };
  });
}

export interface LesionOutcome {
  summary: unknown;
  partials: unknown;
  stimuli: LesionStimulus[];
  /** measure → configs × stimuli Float64 values. */
  values: Record<string, Float64Array>;
  configs: number;
  means: Map<string, { mean: Float64Array; rows: number }> | null;
  timings: Record<string, number>;
}

/** Stores a lesion job's results and marks it succeeded, atomically; false if it was no longer running. */
export function storeLesionSuccess(db: DB, id: string, o: LesionOutcome): boolean {
  return db.transaction(() => {
    const cur = db.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: JobState } | undefined;
    if (!cur || cur.state !== 'running') return false;
    for (const t of ['lesion_results', 'lesion_values', 'lesion_means']) db.prepare(`DELETE FROM ${t} WHERE job_id = ?`).run(id);
    db.prepare('INSERT INTO lesion_results (job_id, summary, partials, stimuli) VALUES (?, ?, ?, ?)').run(id, JSON.stringify(o.summary), JSON.stringify(o.partials), JSON.stringify(o.stimuli));
    const insV = db.prepare('INSERT INTO lesion_values (job_id, measure, configs, stimuli, data) VALUES (?, ?, ?, ?, ?)');
    for (const [m, v] of Object.entries(o.values)) insV.run(id, m, o.configs, o.stimuli.length, blob(v));
    const insM = db.prepare('INSERT INTO lesion_means (job_id, layer, rows, data) VALUES (?, ?, ?, ?)');
    if (o.means) for (const [layer, m] of o.means) insM.run(id, layer, m.rows, blob(m.mean));
    db.prepare(`UPDATE jobs SET state = 'succeeded', finished_at = ?, timings = ?, progress_done = progress_total, error = NULL WHERE id = ?`).run(nowIso(), JSON.stringify(o.timings), id);
    return true;
  })();
}

export function lesionResult(db: DB, id: string): { summary: unknown; partials: unknown; stimuli: LesionStimulus[] } | null {
  const r = db.prepare('SELECT summary, partials, stimuli FROM lesion_results WHERE job_id = ?').get(id) as { summary: string; partials: string; stimuli: string } | undefined;
  return r ? { summary: JSON.parse(r.summary), partials: JSON.parse(r.partials), stimuli: JSON.parse(r.stimuli) as LesionStimulus[] } : null;
}

export function lesionValues(db: DB, id: string, measure: string): { configs: number; stimuli: number; data: Float64Array } | null {
  const r = db.prepare('SELECT configs, stimuli, data FROM lesion_values WHERE job_id = ? AND measure = ?').get(id, measure) as { configs: number; stimuli: number; data: Buffer } | undefined;
  return r ? { configs: r.configs, stimuli: r.stimuli, data: fromBlob.f64(r.data) } : null;
}

export function lesionMeans(db: DB, id: string): Map<string, { mean: Float64Array; rows: number }> {
  const rows = db.prepare('SELECT layer, rows, data FROM lesion_means WHERE job_id = ?').all(id) as { layer: string; rows: number; data: Buffer }[];
  return new Map(rows.map((r) => [r.layer, { mean: fromBlob.f64(r.data), rows: r.rows }]));
}
