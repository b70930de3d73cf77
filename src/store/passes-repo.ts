/**
 * The `passes` and `pass_shards` tables (distributed mode): which shards of a job's pass the coordinator
 * has received, and where their partials are (files under <data>/shards/<job>/, written atomically).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from './context.ts';
import type { DB } from './db.ts';
import { nowIso } from './db.ts';

export interface PassRow {
  id: string;
  jobId: string;
  name: string;
  planSha256: string;
  shards: number;
  stimuli: number;
  flow: string | null;
}

export interface ShardRow {
  shard: number;
  stimuli: number;
  bytes: number;
  sha256: string;
  worker: string | null;
  timings: Record<string, number> | null;
}

export function shardsDir(ctx: Context, jobId: string): string {
  return path.join(ctx.paths.shards, jobId);
}

/** The partial file of one shard. */
export function partialPath(ctx: Context, jobId: string, pass: string, shard: number): string {
  return path.join(shardsDir(ctx, jobId), `${pass}.${shard}.bin`);
}

/**
 * Opens a pass for running: kept with its received shards when the stored plan is the same (a resumed
 * job), else started afresh (its rows and files removed). Returns the shards already received.
 */
export function openPass(ctx: Context, p: Omit<PassRow, 'flow'>): { row: PassRow; received: ShardRow[] } {
  const db = ctx.db;
  const old = getPass(db, p.id);
  if (old && old.planSha256 === p.planSha256 && old.shards === p.shards) {
    const received = passShards(db, p.id).filter((s) => {
      if (fs.existsSync(partialPath(ctx, p.jobId, p.name, s.shard))) return true;
      db.prepare('DELETE FROM pass_shards WHERE pass_id = ? AND shard = ?').run(p.id, s.shard);
      return false;
    });
    return { row: old, received };
  }
  if (old) deletePass(ctx, old);
  db.prepare('INSERT INTO passes (id, job_id, name, plan_sha256, shards, stimuli, flow, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)').run(p.id, p.jobId, p.name, p.planSha256, p.shards, p.stimuli, nowIso());
  return { row: { ...p, flow: null }, received: [] };
}

interface PassDbRow {
  id: string;
  job_id: string;
  name: string;
  plan_sha256: string;
  shards: number;
  stimuli: number;
  flow: string | null;
}

const toPass = (r: PassDbRow): PassRow => ({ id: r.id, jobId: r.job_id, name: r.name, planSha256: r.plan_sha256, shards: r.shards, stimuli: r.stimuli, flow: r.flow });

export function getPass(db: DB, id: string): PassRow | null {
  const r = db.prepare('SELECT * FROM passes WHERE id = ?').get(id) as PassDbRow | undefined;
  return r ? toPass(r) : null;
}

export function jobPasses(db: DB, jobId: string): PassRow[] {
  return (db.prepare('SELECT * FROM passes WHERE job_id = ? ORDER BY created_at').all(jobId) as PassDbRow[]).map(toPass);
}

export function setFlow(db: DB, id: string, flow: string | null): void {
  db.prepare('UPDATE passes SET flow = ? WHERE id = ?').run(flow, id);
}

export function passShards(db: DB, id: string): ShardRow[] {
  const rows = db.prepare('SELECT shard, stimuli, bytes, sha256, worker, timings FROM pass_shards WHERE pass_id = ? ORDER BY shard').all(id) as (Omit<ShardRow, 'timings'> & { timings: string | null })[];
  return rows.map((r) => ({ ...r, timings: r.timings ? (JSON.parse(r.timings) as Record<string, number>) : null }));
}

/** Records a received shard (its partial already renamed into place); false when it was already recorded. */
export function recordShard(db: DB, passId: string, s: ShardRow): boolean {
  return (
    db
      .prepare('INSERT OR IGNORE INTO pass_shards (pass_id, shard, stimuli, bytes, sha256, worker, timings, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(passId, s.shard, s.stimuli, s.bytes, s.sha256, s.worker, s.timings ? JSON.stringify(s.timings) : null, nowIso()).changes === 1
  );
}

export function deletePass(ctx: Context, p: PassRow): void {
  ctx.db.prepare('DELETE FROM passes WHERE id = ?').run(p.id);
  const dir = shardsDir(ctx, p.jobId);
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${p.name}.`)) fs.rmSync(path.join(dir, f), { force: true });
}

/** Removes every pass of a job, with its partials. */
export function deleteJobPasses(ctx: Context, jobId: string): void {
  ctx.db.prepare('DELETE FROM passes WHERE job_id = ?').run(jobId);
  fs.rmSync(shardsDir(ctx, jobId), { recursive: true, force: true });
}

/**
 * Start-up: partials are kept only for jobs that may still resume (queued or running); every other
 * shard folder, and any file of a kept folder that no row records (a half-written upload), goes.
 */
export function cleanShards(ctx: Context): number {
  let removed = 0;
  if (!fs.existsSync(ctx.paths.shards)) return 0;
  const live = new Set((ctx.db.prepare(`SELECT id FROM jobs WHERE state IN ('queued', 'running')`).all() as { id: string }[]).map((r) => r.id));
  ctx.db.prepare(`DELETE FROM passes WHERE job_id NOT IN (SELECT id FROM jobs WHERE state IN ('queued', 'running'))`).run();
  for (const d of fs.readdirSync(ctx.paths.shards)) {
    const dir = path.join(ctx.paths.shards, d);
    if (!live.has(d)) {
      fs.rmSync(dir, { recursive: true, force: true });
      removed++;
      continue;
    }
    const known = new Set<string>();
    for (const p of jobPasses(ctx.db, d)) for (const s of passShards(ctx.db, p.id)) known.add(`${p.name}.${s.shard}.bin`);
    for (const f of fs.readdirSync(dir)) {
      if (known.has(f)) continue;
      fs.rmSync(path.join(dir, f), { force: true });
      removed++;
    }
  }
  return removed;
}
