/**
 * The coordinator of distributed mode (TOPOSCOPE_REDIS_URL set): each pass of a job becomes a BullMQ
 * flow, a parent job with one child per shard; `toposcope worker` processes take the children, fetch
 * the pass, the shard's work, the model files and the stimuli from this server by content hash, and PUT
 * the shard's partial back. Received partials are stored (file + row) before they count, and merged in
 * shard order, so a result never depends on which worker ran what, and never holds half a shard.
 *
 * Faults: a worker that dies mid-shard stops renewing its lock and BullMQ's stalled check hands the shard
 * to another worker; a shard that fails on every attempt fails the parent (failParentOnFailure) and the
 * job with the worker's reason; Redis losing the flow (a restart without persistence) makes the
 * watchdog enqueue the shards not yet received again; Redis unreachable for `redisTimeoutMs` fails the
 * job; a coordinator restarted mid-job resumes it with the partials it had stored. Cancel removes the
 * waiting shards and tells the workers (pub/sub) to stop the running ones.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FlowProducer, Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ConflictError, NotFoundError, TooLargeError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { CancelledError } from '../pipeline/infer.ts';
import { decodePartial, type Partial } from '../pipeline/partials.ts';
import { CANCEL_CHANNEL, modelFilesOf, PASS_QUEUE, passSpecOf, SHARD_QUEUE, shardsOf, shardWorkOf, writeHashed, type PassHooks, type PassPlan, type PassSpec, type PassTimings, type Shard, type ShardWork } from '../pipeline/shards.ts';
import type { Context } from '../store/context.ts';
import { sha256File } from '../store/files.ts';
import { deleteJobPasses, openPass, partialPath, recordShard, setFlow, shardsDir, type PassRow } from '../store/passes-repo.ts';

/** Largest partial a worker may send (rows of a shard with kept activations can be large). */
export const MAX_PARTIAL_BYTES = 2 * 1024 ** 3;
const WATCH_MS = 1000;

interface Active {
  id: string;
  jobId: string;
  row: PassRow;
  plan: PassPlan;
  spec: PassSpec;
  shards: Shard[];
  received: Set<number>;
  /** Next shard to merge, and stimuli merged so far. */
  next: number;
  merged: number;
  /** Model files of the pass by content hash. */
  files: Map<string, string>;
  onShard: (shard: number, p: Partial) => void;
  hooks: PassHooks;
  resolve: (t: PassTimings) => void;
  reject: (e: Error) => void;
  done: boolean;
  /** The flow must be (re-)enqueued: at start, and when Redis lost it. */
  enqueue: boolean;
  timings: PassTimings;
  t0: number;
}

/** What a worker reports with a partial. */
export interface ShardMeta {
  plan: string;
  worker: string | null;
  timings: Record<string, number> | null;
}

export interface QueueStatus {
  mode: 'distributed';
  redis: 'ok' | 'unreachable';
  /** Worker processes connected to the shard queue. */
  workers: number;
  shards: { waiting: number; active: number; delayed: number; failed: number };
  passes: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis in ${ms} ms`)), ms);
    }),
  ]);
}

/** A Redis URL without its password, for messages and /health. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://…';
  }
}

export class Distributed {
  private readonly redis: Redis;
  private readonly shardQueue: Queue;
  private readonly passQueue: Queue;
  private readonly flows: FlowProducer;
  private readonly active = new Map<string, Active>();
  private readonly hashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();
  /** Flows to remove from Redis once their running shards have stopped (cancel, end of a pass). */
  private readonly leftovers = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private lastOk = Date.now();
  private suspended = false;

  constructor(
    private readonly ctx: Context,
    private readonly url: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    // Commands fail after a few reconnect attempts instead of waiting forever: the watchdog retries
    // them and gives up after redisTimeoutMs.
    this.redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
    this.redis.on('error', () => undefined); // reported through failing commands
    this.shardQueue = new Queue(SHARD_QUEUE, { connection: this.redis });
    this.passQueue = new Queue(PASS_QUEUE, { connection: this.redis });
    this.flows = new FlowProducer({ connection: this.redis });
    this.timer = setInterval(() => void this.tick(), WATCH_MS);
    this.timer.unref();
  }

  /** Runs a job's pass on the workers (see PassExecutor). */
  async run(jobId: string, plan: PassPlan, onShard: (shard: number, p: Partial) => void, hooks: PassHooks): Promise<PassTimings> {
    if (hooks.signal?.aborted) throw new CancelledError();
    const t0 = performance.now();
    const id = `${jobId}.${plan.name}`;
    const files = await this.modelFiles(plan.onnxPath);
    const shards = shardsOf(plan);
    const draft = passSpecOf(plan, id, files.map(({ name, sha256, bytes }) => ({ name, sha256, bytes })), '', this.ctx.config.poolInGraph);
    const h = crypto.createHash('sha256').update(JSON.stringify(draft));
    for (const s of shards) h.update(JSON.stringify(shardWorkOf(plan, s)));
    const planSha = h.digest('hex');
    const spec: PassSpec = { ...draft, plan: planSha };
    const { row, received } = openPass(this.ctx, { id, jobId, name: plan.name, planSha256: planSha, shards: shards.length, stimuli: plan.stimuli.length });
    if (received.length) this.log(`pass ${id}: resuming with ${received.length} of ${shards.length} shards already received`);
    const zero = { encodeMs: 0, inferenceMs: 0, batches: 0, imagesDecoded: 0, imagesCached: 0, paddedTokens: 0, realTokens: 0 };
    return new Promise<PassTimings>((resolve, reject) => {
      const a: Active = {
        id,
        jobId,
        row,
        plan,
        spec,
        shards,
        received: new Set(received.map((s) => s.shard)),
        next: 0,
        merged: 0,
        files: new Map(files.map((f) => [f.sha256, f.path])),
        onShard,
        hooks,
        resolve,
        reject,
        done: false,
        enqueue: true,
        timings: { ...zero, setupMs: 0, wallMs: 0, shards: shards.length, partialBytes: 0, receiveMs: 0, mergeMs: 0 },
        t0,
      };
      for (const s of received) this.count(a, s.bytes, s.timings);
      this.active.set(id, a);
      hooks.signal?.addEventListener('abort', () => this.cancel(a), { once: true });
      this.advance(a);
      if (!a.done) void this.tick();
    });
  }

  /** The pass document a worker reads. */
  passSpec(id: string): PassSpec {
    return this.require(id).spec;
  }

  shardWork(id: string, shard: number): ShardWork {
    const a = this.require(id);
    const s = a.shards[shard];
    if (!s) throw new ValidationError(`shard ${shard} is outside pass '${id}' (it has ${a.shards.length})`, 'shard');
    return shardWorkOf(a.plan, s);
  }

  /** A model file of a running pass, by content hash (null: not one). */
  modelFile(sha256: string): string | null {
    for (const a of this.active.values()) {
      const f = a.files.get(sha256);
      if (f) return f;
    }
    return null;
  }

  private require(id: string): Active {
    const a = this.active.get(id);
    if (!a) throw new NotFoundError('pass', id);
    return a;
  }

  /**
   * Stores a shard's partial sent by a worker: streamed to a temp file, checked (it decodes as a
   * partial of this pass), renamed into place and recorded, then merged when its turn comes.
   * `stored: false` when the shard had already been received (a second run of a stalled shard).
   */
  async receive(id: string, shard: number, body: Readable, meta: ShardMeta): Promise<{ stored: boolean }> {
    const a = this.active.get(id);
    if (!a) throw new ConflictError(`pass '${id}' is not running on this coordinator (finished, cancelled or unknown); the shard is not needed`);
    if (meta.plan !== a.spec.plan) throw new ConflictError(`the shard was computed for another plan of pass '${id}' (${meta.plan.slice(0, 12)}…, now ${a.spec.plan.slice(0, 12)}…)`);
    const s = a.shards[shard];
    if (!s) throw new ValidationError(`shard ${shard} is outside pass '${id}' (it has ${a.shards.length})`, 'shard');
    if (a.received.has(shard)) {
      body.resume();
      return { stored: false };
    }
    const t0 = performance.now();
    // Streamed into the data directory's tmp folder: only a complete, checked partial of a pass that is
    // still running is moved into the job's shard folder.
    const tmp = path.join(this.ctx.paths.tmp, `partial-${process.pid}-${crypto.randomBytes(6).toString('hex')}.tmp`);
    const { sha256, bytes } = await writeHashed(body as AsyncIterable<Buffer>, tmp, MAX_PARTIAL_BYTES, () => new TooLargeError(`the partial exceeds ${MAX_PARTIAL_BYTES} bytes; use fewer batches per shard (TOPOSCOPE_SHARD_BATCHES)`, 'body'));
    try {
      checkPartial(decodePartial(fs.readFileSync(tmp), a.spec.fold), a, s);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new ValidationError(`the partial of shard ${shard} is not one of pass '${id}': ${(e as Error).message}`, 'body');
    }
    // The pass may have ended (cancel) or another copy arrived while this one streamed in.
    if (a.done || a.received.has(shard)) {
      fs.rmSync(tmp, { force: true });
      if (a.done) throw new ConflictError(`pass '${id}' ended while the shard was being received`);
      return { stored: false };
    }
    fs.mkdirSync(shardsDir(this.ctx, a.jobId), { recursive: true });
    fs.renameSync(tmp, partialPath(this.ctx, a.jobId, a.plan.name, shard));
    recordShard(this.ctx.db, id, { shard, stimuli: s.stimuli, bytes, sha256, worker: meta.worker, timings: meta.timings });
    a.received.add(shard);
    this.count(a, bytes, meta.timings);
    a.timings.receiveMs = (a.timings.receiveMs ?? 0) + performance.now() - t0;
    this.advance(a);
    return { stored: true };
  }

  private count(a: Active, bytes: number, t: Record<string, number> | null): void {
    a.timings.partialBytes = (a.timings.partialBytes ?? 0) + bytes;
    if (!t) return;
    for (const k of ['encodeMs', 'inferenceMs', 'batches', 'imagesDecoded', 'imagesCached', 'paddedTokens', 'realTokens'] as const) {
      if (typeof t[k] === 'number' && Number.isFinite(t[k])) a.timings[k] += t[k];
    }
  }

  /** Merges the received shards that are next in order. */
  private advance(a: Active): void {
    try {
      while (!a.done && a.received.has(a.next)) {
        const t0 = performance.now();
        const p = decodePartial(fs.readFileSync(partialPath(this.ctx, a.jobId, a.plan.name, a.next)), a.spec.fold);
        a.onShard(a.next, p);
        a.timings.mergeMs = (a.timings.mergeMs ?? 0) + performance.now() - t0;
        a.merged += a.shards[a.next].stimuli;
        a.next++;
        a.hooks.onProgress?.(a.merged, a.plan.stimuli.length);
      }
    } catch (e) {
      this.fail(a, e as Error);
      return;
    }
    if (!a.done && a.next === a.shards.length) {
      a.done = true;
      this.active.delete(a.id);
      if (a.row.flow) this.leftovers.add(a.row.flow);
      a.timings.wallMs = performance.now() - a.t0;
      a.resolve(a.timings);
    }
  }

  private fail(a: Active, e: Error): void {
    if (a.done) return;
    a.done = true;
    this.active.delete(a.id);
    if (a.row.flow) this.leftovers.add(a.row.flow);
    void this.redis.publish(CANCEL_CHANNEL, a.id).catch(() => undefined);
    a.reject(e);
  }

  private cancel(a: Active): void {
    if (a.done) return;
    if (this.suspended) {
      // A graceful stop: the job resumes at the next start with the shards stored so far.
      a.done = true;
      this.active.delete(a.id);
      a.reject(new CancelledError());
      return;
    }
    this.fail(a, new CancelledError());
  }

  /** Removes every pass of a finished, failed or cancelled job (rows and partials). */
  endJob(jobId: string): void {
    deleteJobPasses(this.ctx, jobId);
  }

  private async enqueue(a: Active): Promise<void> {
    const missing = a.shards.filter((s) => !a.received.has(s.index));
    if (a.row.flow) this.leftovers.add(a.row.flow);
    const flow = `${a.id}-${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`;
    await withTimeout(
      this.flows.add({
        name: 'pass',
        queueName: PASS_QUEUE,
        data: { pass: a.id },
        opts: { jobId: flow },
        children: missing.map((s) => ({
          name: 'shard',
          queueName: SHARD_QUEUE,
          data: { pass: a.id, shard: s.index, plan: a.spec.plan, stimuli: s.stimuli },
          opts: { jobId: `${flow}-${s.index}`, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, failParentOnFailure: true, removeOnComplete: true, removeOnFail: { age: 24 * 3600 } },
        })),
      }),
      10_000,
      'enqueueing the shards',
    );
    if (a.done) {
      this.leftovers.add(flow);
      return;
    }
    a.row.flow = flow;
    setFlow(this.ctx.db, a.id, flow);
    a.enqueue = false;
  }

  /** The reason the flow's parent failed: the failing shard's last error. */
  private async failureOf(parent: Job, flow: string): Promise<string> {
    const m = /child \S*?:([^:\s]+) failed/.exec(parent.deferredFailure ?? parent.failedReason ?? '');
    const child = m ? await Job.fromId(this.shardQueue, m[1]) : undefined;
    const shard = m ? m[1].slice(flow.length + 1) : '?';
    return `shard ${shard} failed on every attempt: ${child?.failedReason ?? parent.failedReason ?? 'unknown reason'}`;
  }

  /** The watchdog: enqueue what needs it, notice lost or failed flows, give up on an unreachable Redis. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const a of [...this.active.values()]) {
        if (a.done) continue;
        try {
          if (!a.enqueue) {
            const parent = await withTimeout(Job.fromId(this.passQueue, a.row.flow!), 2000, 'reading the flow');
            if (a.done) continue;
            if (!parent) {
              this.log(`pass ${a.id}: its shards are gone from Redis (restarted without persistence?); enqueueing the ${a.shards.length - a.received.size} not received again`);
              a.enqueue = true;
            } else if (parent.deferredFailure || parent.failedReason) {
              this.fail(a, new UnprocessableError(`distributed pass '${a.plan.name}': ${await this.failureOf(parent, a.row.flow!)}`));
              continue;
            }
          }
          if (a.enqueue) await this.enqueue(a);
          this.lastOk = Date.now();
        } catch (e) {
          if (Date.now() - this.lastOk > this.ctx.config.redisTimeoutMs) {
            this.fail(a, new UnprocessableError(`the job queue's Redis at ${redactUrl(this.url)} has been unreachable for ${Math.round((Date.now() - this.lastOk) / 1000)} s (${(e as Error).message}); the job stopped`));
          }
        }
      }
      if (this.active.size === 0) this.lastOk = Date.now();
      for (const flow of [...this.leftovers]) {
        try {
          const parent = await withTimeout(Job.fromId(this.passQueue, flow), 2000, 'reading a flow');
          if (parent) {
            await parent.removeUnprocessedChildren();
            await parent.remove(); // throws while a shard of it is still running: tried again next tick
          }
          this.leftovers.delete(flow);
        } catch {
          // Redis down or a shard still running.
        }
      }
    } finally {
      this.ticking = false;
    }
  }

  /** The queue as /health reports it. */
  async status(): Promise<QueueStatus> {
    try {
      const [workers, c] = await withTimeout(Promise.all([this.shardQueue.getWorkersCount(), this.shardQueue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized')]), 1000, 'queue status');
      return { mode: 'distributed', redis: 'ok', workers, shards: { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 }, passes: this.active.size };
    } catch {
      return { mode: 'distributed', redis: 'unreachable', workers: 0, shards: { waiting: 0, active: 0, delayed: 0, failed: 0 }, passes: this.active.size };
    }
  }

  /** A graceful stop is coming: running passes are left to resume at the next start. */
  suspend(): void {
    this.suspended = true;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([this.flows.close(), this.shardQueue.close(), this.passQueue.close()]);
    this.redis.disconnect();
  }

  /** The pass' ONNX file and its data files with their hashes (cached while the files are unchanged). */
  private async modelFiles(onnxPath: string): Promise<{ name: string; path: string; sha256: string; bytes: number }[]> {
    const out = [];
    for (const f of modelFilesOf(onnxPath)) {
      const st = fs.statSync(f.path);
      let h = this.hashes.get(f.path);
      if (!h || h.size !== st.size || h.mtimeMs !== st.mtimeMs) {
        h = { size: st.size, mtimeMs: st.mtimeMs, sha256: (await sha256File(f.path)).sha256 };
        this.hashes.set(f.path, h);
      }
      out.push({ name: f.name, path: f.path, sha256: h.sha256, bytes: st.size });
    }
    return out;
  }
}

/** A decoded partial has the shape its shard of the pass must have. */
function checkPartial(p: Partial, a: Active, s: Shard): void {
  const layers = a.spec.layers.length;
  if (p.kind === 'moments') {
    if (p.moments.length !== layers) throw new Error(`${p.moments.length} layers of moments, the pass has ${layers}`);
    let n = 0;
    for (const sets of p.moments) for (const m of sets) n += m.n;
    const tokens = a.spec.layers.some((l) => l.pooling === 'tokens');
    if (!tokens && n !== s.stimuli * layers) throw new Error(`moments over ${n / layers} stimuli, the shard has ${s.stimuli}`);
  } else if (p.kind === 'behaviour') {
    if (p.n !== s.stimuli) throw new Error(`values of ${p.n} stimuli, the shard has ${s.stimuli}`);
  } else if ((p.kind === 'rows' || p.kind === 'sums') && (p.kind === 'rows' ? p.rows.length : p.sums.length) !== layers) {
    throw new Error(`partial of ${p.kind === 'rows' ? p.rows.length : p.sums.length} layers, the pass has ${layers}`);
  } else if (p.kind === 'region' && p.stim.length !== s.stimuli) {
    throw new Error(`region means of ${p.stim.length} stimuli, the shard has ${s.stimuli}`);
  }
}
