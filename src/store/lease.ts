/**
 * One owner per data directory. The owner holds an open write transaction on `toposcope.lock` (an
 * empty SQLite file) for as long as it runs; the kernel drops that lock when the process ends in any
 * way, SIGKILL included, so a lease can never outlive its owner and a live owner is never taken over
 * (no pid-reuse or clock guesses). Who holds it is in `toposcope.owner.json` beside it (pid, host,
 * start, heartbeat), rewritten every `heartbeatMs`; a refused process names that owner.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

export const LOCK_FILE = 'toposcope.lock';
export const OWNER_FILE = 'toposcope.owner.json';

export interface LeaseOwner {
  /** Unique per acquisition. */
  id: string;
  pid: number;
  hostname: string;
  startedAt: string;
  heartbeatAt: string;
  /** What the owner is (e.g. "serve on 127.0.0.1:3000"). */
  purpose: string;
}

export interface LeaseOptions {
  /** How long to wait for a current owner to let go (e.g. one that is shutting down). Default 0. */
  waitMs?: number;
  /** Interval of the heartbeat in the owner file. Default 10 s. */
  heartbeatMs?: number;
  purpose?: string;
}

export interface Lease {
  /** The data directory (real path). */
  readonly dir: string;
  readonly owner: LeaseOwner;
  /** Lets go of the lease; idempotent. Also runs at process exit. */
  release(): void;
}

/** Another live process holds the lease. */
export class LeaseHeldError extends Error {
  override readonly name = 'LeaseHeldError';
  constructor(
    readonly dir: string,
    readonly owner: LeaseOwner | null,
  ) {
    super(heldMessage(dir, owner));
  }
}

/** The lease could not be taken for another reason (read-only or missing directory, ...). */
export class LeaseError extends Error {
  override readonly name = 'LeaseError';
}

function heldMessage(dir: string, o: LeaseOwner | null): string {
  if (!o) return `data directory ${dir} is in use by another toposcope process (its owner has not recorded itself yet); stop it first or use another TOPOSCOPE_DATA_DIR`;
  const beat = Math.max(0, Math.round((Date.now() - Date.parse(o.heartbeatAt)) / 1000));
  return (
    `data directory ${dir} is in use by toposcope pid ${o.pid} on ${o.hostname} (${o.purpose}, since ${o.startedAt}, last heartbeat ${beat} s ago); ` +
    'stop that process first or use another TOPOSCOPE_DATA_DIR'
  );
}

/** The recorded owner of a data directory, or null (no file, or unreadable). Says nothing about liveness. */
export function readLeaseOwner(dataDir: string): LeaseOwner | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, OWNER_FILE), 'utf8')) as LeaseOwner;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeOwner(dir: string, o: LeaseOwner): void {
  const file = path.join(dir, OWNER_FILE);
  const tmp = `${file}.${o.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(o, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes the exclusive lease on `dataDir` (created if missing), or throws `LeaseHeldError` naming the
 * directory and the owner's pid. Call it before opening the database.
 */
export function acquireLease(dataDir: string, opts: LeaseOptions = {}): Lease {
  let dir: string;
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    dir = fs.realpathSync(dataDir);
  } catch (e) {
    throw new LeaseError(`cannot use data directory ${path.resolve(dataDir)}: ${(e as Error).message}`);
  }
  let db: Database.Database;
  try {
    db = new Database(path.join(dir, LOCK_FILE), { timeout: opts.waitMs ?? 0 });
  } catch (e) {
    throw new LeaseError(`cannot open the lock file ${path.join(dir, LOCK_FILE)}: ${(e as Error).message}`);
  }
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw new LeaseError(`cannot lock ${path.join(dir, LOCK_FILE)}: ${(e as Error).message}`);
    throw new LeaseHeldError(dir, currentOwner(dir));
  }
  const now = new Date().toISOString();
  const owner: LeaseOwner = {
    id: crypto.randomBytes(8).toString('hex'),
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: now,
    heartbeatAt: now,
    purpose: opts.purpose ?? process.argv.slice(1).join(' '),
  };
  try {
    writeOwner(dir, owner);
  } catch (e) {
    db.close();
    throw new LeaseError(`cannot write ${path.join(dir, OWNER_FILE)}: ${(e as Error).message}`);
  }
  const beat = setInterval(() => {
    owner.heartbeatAt = new Date().toISOString();
    try {
      writeOwner(dir, owner);
    } catch {
      // A full disk stops the heartbeat, not the lease: the lock is what counts.
    }
  }, opts.heartbeatMs ?? 10_000);
  beat.unref();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearInterval(beat);
    process.off('exit', release);
    if (readLeaseOwner(dir)?.id === owner.id) fs.rmSync(path.join(dir, OWNER_FILE), { force: true });
    db.close(); // ends the transaction: the lock goes with it
  };
  process.on('exit', release);
  return { dir, owner, release };
}

/**
 * The owner file of a held lease. A new owner writes it just after locking, so a missing file or one
 * naming a dead local pid is read again for a moment before it is reported.
 */
function currentOwner(dir: string): LeaseOwner | null {
  let o = readLeaseOwner(dir);
  for (let i = 0; i < 10 && (!o || (o.hostname === os.hostname() && !alive(o.pid))); i++) {
    sleep(50);
    o = readLeaseOwner(dir);
  }
  return o;
}
