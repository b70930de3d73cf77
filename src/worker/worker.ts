/**
 * `toposcope worker`: takes shards of distributed jobs from the BullMQ queue, runs them with the same
 * inference and fold as the embedded pipeline (pipeline/shards.ts, computeShard), and PUTs each shard's
 * partial to the coordinator. Model files and stimuli come from the coordinator by content hash and are
 * cached under `--cache`; session pools stay open between shards of the same model.
 *
 * Locks: BullMQ renews a running shard's lock every stalledMs / 2; a worker that dies stops renewing,
 * and another worker's stalled check hands the shard on after stalledMs. A pass id published on the
 * cancel channel aborts its running shards here.
 */
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { LesionConfig, LesionSite } from '../domain/lesion.ts';
import { decodeCacheFor } from '../inference/decode-cache.ts';
import { SessionPool } from '../inference/pool.ts';
import { CancelledError } from '../pipeline/infer.ts';
import { encodePartial } from '../pipeline/partials.ts';
import { CANCEL_CHANNEL, computeShard, pooledCopyOf, SHARD_QUEUE, type PassSpec, type ShardWork } from '../pipeline/shards.ts';
import { BlobCache } from './cache.ts';
import { CoordinatorClient, GoneError } from './client.ts';

export interface WorkerOptions {
  redis: string;
  api: string;
  /** Shards run at once (one ORT session each). */
  concurrency: number;
  /** ORT intra-op threads per session. */
  threads: number;
  cache: string;
  key: string | null;
  /** Lock duration and stalled-check interval (TOPOSCOPE_STALLED_MS). */
  stalledMs: number;
  imageCacheBytes: number;
}

interface ShardJob {
  pass: string;
  shard: number;
  plan: string;
  stimuli: number;
}

/** Session pools by model file and lesion configuration, kept between shards (at most two models). */
class Pools {
  private readonly pools = new Map<string, { pool: Promise<SessionPool>; users: number; used: number }>();
  constructor(private readonly o: { workers: number; threads: number }) {}

  async acquire(onnx: string, lesion: { sites: LesionSite[]; config: LesionConfig | null } | null): Promise<{ pool: SessionPool; release: () => void }> {
    const key = `${onnx}\n${JSON.stringify(lesion)}`;
    let e = this.pools.get(key);
    if (!e) {
      e = { pool: SessionPool.create(onnx, { workers: this.o.workers, intraOpThreads: this.o.threads, ...(lesion ? { lesion } : {}) }), users: 0, used: 0 };
      this.pools.set(key, e);
      e.pool.catch(() => this.pools.delete(key));
      this.evict(key);
    }
    e.users++;
    e.used = Date.now();
    const entry = e;
    try {
      const pool = await entry.pool;
      return { pool, release: () => void entry.users-- };
    } catch (err) {
      entry.users--;
      throw err;
    }
  }

  /** Closes idle pools beyond two (oldest first). */
  private evict(keep: string): void {
    const idle = [...this.pools.entries()].filter(([k, e]) => k !== keep && e.users === 0).sort((a, b) => a[1].used - b[1].used);
    while (this.pools.size > 2 && idle.length) {
      const [k, e] = idle.shift()!;
      this.pools.delete(k);
      void e.pool.then((p) => p.close(), () => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((e) => e.pool.then((p) => p.close(), () => undefined)));
    this.pools.clear();
  }
}

export function defaultWorkerCache(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'toposcope');
}

/** Starts the worker; resolves once it is taking shards. SIGINT / SIGTERM let running shards finish, then exit. */
export async function runWorker(o: WorkerOptions, announce: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const tag = `${os.hostname()}:${process.pid}`;
  const client = new CoordinatorClient({ api: o.api, key: o.key, tag, retryMs: 60_000 });
  const cache = new BlobCache(o.cache, client);
  const images = o.imageCacheBytes > 0 ? decodeCacheFor(path.join(o.cache, 'images'), o.imageCacheBytes) : null;
  const pools = new Pools({ workers: o.concurrency, threads: o.threads });
  const specs = new Map<string, Promise<PassSpec>>();
  /** Running shards: BullMQ job id → pass id. */
  const running = new Map<string, string>();

  const specOf = (pass: string): Promise<PassSpec> => {
    let p = specs.get(pass);
    if (!p) {
      p = client.json<PassSpec>(`/v1/passes/${encodeURIComponent(pass)}`);
      p.catch(() => specs.delete(pass));
      specs.set(pass, p);
      if (specs.size > 64) specs.delete(specs.keys().next().value!);
    }
    return p;
  };

  const process_ = async (job: Job<ShardJob>, _token?: string, signal?: AbortSignal): Promise<{ stored: boolean; bytes: number; ms: number }> => {
    const t0 = performance.now();
    const { pass, shard, plan } = job.data;
    running.set(job.id!, pass);
    try {
      const spec = await specOf(pass);
      if (spec.plan !== plan) throw new GoneError(`pass '${pass}' has another plan now`);
      const work = await client.json<ShardWork>(`/v1/passes/${encodeURIComponent(pass)}/shards/${shard}`, signal);
      const onnx = await cache.model(spec, signal);
      // The pooled copy, as the embedded path runs it (the model itself should ONNX Runtime refuse it).
      let pooled = await pooledCopyOf(spec, onnx);
      const { pool, release } = pooled
        ? await pools.acquire(pooled.path, spec.lesion).catch(() => ((pooled = null), pools.acquire(onnx, spec.lesion)))
        : await pools.acquire(onnx, spec.lesion);
      try {
        const { partial, timings } = await computeShard(spec, work, { pool, pooled, readImage: (item) => cache.bytes(item.sha256, signal), imageCache: images, signal });
        const body = encodePartial(partial);
        const r = await client.putPartial(pass, shard, plan, body, { ...timings }, signal);
        return { stored: r.stored, bytes: body.length, ms: performance.now() - t0 };
      } finally {
        release();
      }
    } catch (e) {
      if (e instanceof GoneError) throw new UnrecoverableError(e.message);
      if (signal?.aborted || e instanceof CancelledError) throw new UnrecoverableError(`shard ${shard} of pass '${pass}' cancelled`);
      throw e;
    } finally {
      running.delete(job.id!);
    }
  };

  const connection = new Redis(o.redis, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined); // BullMQ reconnects; errors surface as failed shards
  const worker = new Worker<ShardJob>(SHARD_QUEUE, process_, {
    connection,
    concurrency: o.concurrency,
    lockDuration: o.stalledMs,
    stalledInterval: o.stalledMs,
    maxStalledCount: 3,
    name: tag,
  });
  worker.on('error', () => undefined);
  const sub = new Redis(o.redis, { maxRetriesPerRequest: null });
  sub.on('error', () => undefined);
  sub.on('message', (_channel, pass: string) => {
    for (const [jobId, p] of running) if (p === pass) worker.cancelJob(jobId, 'cancelled by the coordinator');
  });
  await sub.subscribe(CANCEL_CHANNEL);
  await worker.waitUntilReady();

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.close();
    await pools.close();
    sub.disconnect();
    connection.disconnect();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  announce(`toposcope worker ${tag} taking shards from ${o.redis.replace(/\/\/[^@/]*@/, '//***@')} for ${o.api}: ${o.concurrency} at once, ${o.threads} ORT thread(s) each, cache ${o.cache}`);
}
