/** The `jobs` and `job_sets` tables: the job state machine. */
import type { DB } from './db.ts';
import { nowIso } from './db.ts';
import type { ContrastParams, JobRecord, JobState } from '../domain/records.ts';

interface JobRow {
  id: string;
  kind: string;
  model_id: string;
  state: JobState;
  params: string;
  provenance: string;
  progress_done: number;
  progress_total: number;
  progress_stage: string | null;
  error: string | null;
  timings: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  seq: number;
  battery_id: string | null;
  truncation: string | null;
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
  progressStage: r.progress_stage,
  error: r.error,
  timings: r.timings ? (JSON.parse(r.timings) as Record<string, number>) : null,
  attempts: r.attempts,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  seq: r.seq,
  batteryId: r.battery_id,
  truncation: r.truncation ? (JSON.parse(r.truncation) as JobRecord['truncation']) : null,
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

/** A job's kind, state and finish time only (no JSON columns): what a cache key of its results needs. */
export function jobStamp(db: DB, id: string): { kind: string; state: JobState; finishedAt: string | null } | null {
  const r = db.prepare('SELECT kind, state, finished_at FROM jobs WHERE id = ?').get(id) as { kind: string; state: JobState; finished_at: string | null } | undefined;
  return r ? { kind: r.kind, state: r.state, finishedAt: r.finished_at } : null;
}

export function listJobs(db: DB, opts: { limit: number; offset: number; model?: string; state?: string; kind?: string }): { items: JobRecord[]; total: number } {
  // One kind at a time (contrasts unless told): lesions, top stimuli and profiles have their own routes.
  const conds: string[] = [opts.kind ? 'kind = @kind' : "kind = 'contrast'"];
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
      .prepare(`UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1, progress_done = 0, progress_stage = 'starting', error = NULL WHERE id = ? AND state = 'queued'`)
      .run(nowIso(), id).changes === 1
  );
}

export function setProgress(db: DB, id: string, done: number, total: number, stage: string | null): void {
  db.prepare(`UPDATE jobs SET progress_done = ?, progress_total = ?, progress_stage = ? WHERE id = ? AND state = 'running'`).run(done, total, stage, id);
}

/** Progress of every running member of a battery (they share one pass through the model). */
export function setBatteryProgress(db: DB, batteryId: string, done: number, total: number, stage: string | null): void {
  db.prepare(`UPDATE jobs SET progress_done = ?, progress_total = ?, progress_stage = ? WHERE battery_id = ? AND state = 'running'`).run(done, total, stage, batteryId);
}

export function finishJob(db: DB, id: string, state: 'failed' | 'cancelled', error: string | null, from: JobState[]): boolean {
  const placeholders = from.map(() => '?').join(', ');
  return (
    db
      .prepare(`UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state IN (${placeholders})`)
      .run(state, error, nowIso(), id, ...from).changes === 1
  );
}

export function runningJobs(db: DB): JobRecord[] {
  return (db.prepare(`SELECT * FROM jobs WHERE state = 'running' ORDER BY seq`).all() as JobRow[]).map(toJob);
}

export function requeue(db: DB, id: string, note: string): void {
  db.prepare(`UPDATE jobs SET state = 'queued', progress_done = 0, progress_stage = NULL, started_at = NULL, error = ? WHERE id = ? AND state = 'running'`).run(note, id);
}

/** Deletes a finished job and its results (cascade). */
export function deleteJob(db: DB, id: string): void {
  db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
}

export function queueCounts(db: DB): { queued: number; running: number } {
  const r = db.prepare(`SELECT SUM(state = 'queued') AS queued, SUM(state = 'running') AS running FROM jobs`).get() as { queued: number | null; running: number | null };
  return { queued: r.queued ?? 0, running: r.running ?? 0 };
}

export function jobIds(db: DB): string[] {
  return (db.prepare('SELECT id FROM jobs').all() as { id: string }[]).map((j) => j.id);
}
