/**
 * The data directory as the service holds it: an exclusive lease (one owner process), the database,
 * the folders; opening it removes what an interrupted process left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { openDatabase, type DB } from './db.ts';
import { acquireLease, type Lease } from './lease.ts';
import { jobIds } from './jobs-repo.ts';
import { cleanShards } from './passes-repo.ts';
import { knownBlobPaths } from './sets-repo.ts';

export interface Context {
  config: Config;
  db: DB;
  lease: Lease;
  paths: {
    data: string;
    models: string;
    stimuli: string;
    activations: string;
    /** Distributed mode: received shard partials, per job. */
    shards: string;
    tmp: string;
  };
}

/** A data directory that cannot be used as it is (read-only, full, not a folder); the message names the path. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

function ensureDir(p: string): void {
  try {
    fs.mkdirSync(p, { recursive: true });
    fs.accessSync(p, fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' || code === 'EACCES' || code === 'EPERM' ? 'is not writable' : code === 'ENOSPC' ? 'is on a full file system' : code === 'ENOTDIR' || code === 'EEXIST' ? 'is not a folder' : `cannot be used (${code ?? (e as Error).message})`;
    throw new DataDirError(`data directory ${p} ${why}; set TOPOSCOPE_DATA_DIR to a writable folder`);
  }
}

export interface CleanupReport {
  tmp: number;
  partialBlobs: number;
  partialModelFiles: number;
  orphanBlobs: number;
  orphanActivations: number;
  orphanShards: number;
}

/**
 * Removes temp uploads, half-written blobs and model files, blobs no item row refers to, activations of
 * jobs that are gone, and shard partials of jobs that will not resume.
 */
export function cleanDataDir(ctx: Context): CleanupReport {
  const r: CleanupReport = { tmp: 0, partialBlobs: 0, partialModelFiles: 0, orphanBlobs: 0, orphanActivations: 0, orphanShards: 0 };
  for (const e of fs.readdirSync(ctx.paths.tmp)) {
    fs.rmSync(path.join(ctx.paths.tmp, e), { recursive: true, force: true });
    r.tmp++;
  }
  const known = knownBlobPaths(ctx.db);
  for (const shard of fs.readdirSync(ctx.paths.stimuli)) {
    const dir = path.join(ctx.paths.stimuli, shard);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) {
      const rel = path.join('stimuli', shard, f);
      if (f.endsWith('.tmp')) {
        fs.rmSync(path.join(dir, f), { force: true });
        r.partialBlobs++;
      } else if (!known.has(rel)) {
        fs.rmSync(path.join(dir, f), { force: true });
        r.orphanBlobs++;
      }
    }
  }
  // Model files written whole and renamed (registration's edited copies, pooled copies): a crash
  // between the two leaves a *.tmp beside the model.
  if (fs.existsSync(ctx.paths.models)) {
    for (const m of fs.readdirSync(ctx.paths.models, { withFileTypes: true })) {
      if (!m.isDirectory()) continue;
      const dir = path.join(ctx.paths.models, m.name);
      for (const f of fs.readdirSync(dir)) {
        if (!f.endsWith('.tmp')) continue;
        fs.rmSync(path.join(dir, f), { recursive: true, force: true });
        r.partialModelFiles++;
      }
    }
  }
  const jobs = new Set(jobIds(ctx.db));
  for (const d of fs.readdirSync(ctx.paths.activations)) {
    if (jobs.has(d)) continue;
    fs.rmSync(path.join(ctx.paths.activations, d), { recursive: true, force: true });
    r.orphanActivations++;
  }
  r.orphanShards = cleanShards(ctx);
  return r;
}

export function createContext(config: Config): Context {
  const data = path.resolve(config.dataDir);
  ensureDir(data);
  // One owner per data directory, before the database or any job is touched.
  const lease = acquireLease(data, { purpose: `toposcope ${process.argv[2] ?? ''}`.trim() });
  try {
    const paths = {
      data,
      models: path.join(data, 'models'),
      stimuli: path.join(data, 'stimuli'),
      activations: path.join(data, 'activations'),
      shards: path.join(data, 'shards'),
      tmp: path.join(data, 'tmp'),
    };
    for (const p of Object.values(paths)) ensureDir(p);
    const db = openDatabase(path.join(data, 'toposcope.sqlite'));
    const ctx = { config, db, lease, paths };
    cleanDataDir(ctx);
    return ctx;
  } catch (e) {
    lease.release();
    throw e;
  }
}

export function closeContext(ctx: Context): void {
  if (ctx.db.open) ctx.db.close();
  ctx.lease.release();
}
