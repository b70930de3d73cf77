/**
 * Session pools kept open between passes: a job that ends hands its pool back, and the next pass on
 * the same file with the same options takes it instead of starting processes and loading the model
 * again. At most `maxIdle` pools wait, each for `idleMs`; a pass on another file first closes the
 * idle ones, so an idle session never shares the machine's memory with a new one. A pool whose
 * session died, or whose pass was cancelled or failed, is closed, never kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SessionPool, type PoolOptions } from '../inference/pool.ts';

interface Idle {
  key: string;
  pool: SessionPool;
  timer: NodeJS.Timeout;
}

export interface WarmPoolStats {
  /** Passes that took a waiting pool. */
  reused: number;
  /** Pools started. */
  started: number;
  /** Idle pools closed (timed out, pushed out, or closed with the holder). */
  closed: number;
}

export class WarmPools {
  private idle: Idle[] = [];
  private closedAll = false;
  readonly stats: WarmPoolStats = { reused: 0, started: 0, closed: 0 };

  constructor(
    readonly idleMs: number,
    readonly maxIdle = 1,
  ) {}

  /** The file, its size and change time, and every option that shapes a session. */
  private keyOf(file: string, opts: PoolOptions): string {
    const abs = path.resolve(file);
    let stamp = '';
    try {
      const st = fs.statSync(abs);
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      // missing: the pool's own open reports it
    }
    const { workers, intraOpThreads, lesion, isolation } = opts;
    return JSON.stringify([abs, stamp, workers, intraOpThreads, isolation ?? 'process', lesion ?? null]);
  }

  /** A waiting pool on this file with these options, or a new one. */
  async acquire(file: string, opts: PoolOptions): Promise<{ pool: SessionPool; key: string; reused: boolean }> {
    const key = this.keyOf(file, opts);
    const i = this.idle.findIndex((e) => e.key === key && e.pool.size === Math.max(1, opts.workers));
    if (i >= 0) {
      const [e] = this.idle.splice(i, 1);
      clearTimeout(e.timer);
      this.stats.reused++;
      return { pool: e.pool, key, reused: true };
    }
    await this.drain();
    this.stats.started++;
    return { pool: await SessionPool.create(file, opts), key, reused: false };
  }

  /** Hands a pool back after a pass: kept when `healthy` and keeping is on, else closed. */
  async release(key: string, pool: SessionPool, healthy: boolean): Promise<void> {
    if (!healthy || this.closedAll || this.idleMs <= 0 || this.maxIdle <= 0) return pool.close();
    const timer = setTimeout(() => void this.evict(pool), this.idleMs);
    timer.unref();
    this.idle.push({ key, pool, timer });
    while (this.idle.length > this.maxIdle) await this.closeEntry(this.idle.shift()!);
  }

  get waiting(): number {
    return this.idle.length;
  }

  private async evict(pool: SessionPool): Promise<void> {
    const i = this.idle.findIndex((e) => e.pool === pool);
    if (i >= 0) await this.closeEntry(this.idle.splice(i, 1)[0]);
  }

  private async closeEntry(e: Idle): Promise<void> {
    clearTimeout(e.timer);
    this.stats.closed++;
    await e.pool.close();
  }

  /** Closes every waiting pool. */
  async drain(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((e) => this.closeEntry(e)));
  }

  /** Closes the waiting pools and keeps none from now on. */
  async close(): Promise<void> {
    this.closedAll = true;
    await this.drain();
  }
}
