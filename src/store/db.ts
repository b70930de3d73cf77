/**
 * The SQLite system of record: opening (WAL), numbered migrations from `migrations/`, and helpers
 * for typed-array blobs.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PROJECT_ROOT } from '../config.ts';

export type DB = Database.Database;

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');

export function openDatabase(file: string): DB {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  cacheStatements(db);
  return db;
}

/**
 * `db.prepare` returns one compiled statement per SQL text, kept for the connection's life (a few
 * hundred texts at most; the repositories build their SQL from a handful of variants). Compiling a
 * statement costs more than running most of the queries here; statements are only ever run with
 * get/all/run, never iterated, so one can serve every caller.
 */
function cacheStatements(db: DB): void {
  const compile = db.prepare.bind(db);
  const statements = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let st = statements.get(sql);
    if (!st) {
      if (statements.size >= 512) statements.clear();
      st = compile(sql);
      statements.set(sql, st);
    }
    return st;
  }) as DB['prepare'];
}

/** Applies every `NNN_name.sql` in order that is newer than `user_version`, each in one transaction. */
export function migrate(db: DB, dir = MIGRATIONS_DIR): number {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const current = db.pragma('user_version', { simple: true }) as number;
  let applied = 0;
  for (const f of files) {
    const version = parseInt(f, 10);
    if (version <= current) continue;
    const sql = fs.readFileSync(path.join(dir, f), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    })();
    applied++;
  }
  return applied;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** A typed array as a Buffer view (no copy) for storing as a BLOB. */
export function blob(a: Float32Array | Float64Array | Int32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function aligned(b: Buffer, bytes: number): ArrayBuffer {
  // Copy into a fresh, aligned ArrayBuffer (SQLite blobs come back as Buffers at arbitrary offsets).
  const out = new ArrayBuffer(b.byteLength - (b.byteLength % bytes));
  new Uint8Array(out).set(b.subarray(0, out.byteLength));
  return out;
}

export const fromBlob = {
  f32: (b: Buffer) => new Float32Array(aligned(b, 4)),
  f64: (b: Buffer) => new Float64Array(aligned(b, 8)),
  i32: (b: Buffer) => new Int32Array(aligned(b, 4)),
};
