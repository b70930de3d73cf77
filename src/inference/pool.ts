/**
 * A pool of sessions on one (edited) ONNX file. Requests queue and go to the first idle session;
 * each session runs one request at a time with `intraOpThreads` ORT threads, so sessions × threads
 * stays within the machine's cores.
 *
 * Isolation 'process' (the default): each session lives in a child process (native-child.ts), so a
 * native crash in ONNX Runtime fails the request it was running, with a message naming the model and
 * the batch, and this process carries on. 'thread': each session on a worker thread
 * (session-worker.ts), sharing this process, so a native crash there ends it. Both run the same calls
 * (session-core.ts).
 */
import path from 'node:path';
import { UnprocessableError } from '../domain/errors.ts';
import type { Worker } from 'node:worker_threads';
import { NativeChildError, NativeSession, pooledLayer, type PooledLayerResult } from './native-child.ts';
import { moduleUrl, startWorker } from './threads.ts';
import type { BehaviourFetch, FeedSpec, LayerFetch, LesionConfig, LesionSite, ProbeShape, SessionAnswer, SessionCall, WorkerResponse } from './worker-protocol.ts';

const ENTRY = moduleUrl('./session-worker.ts', import.meta.url);

export type PooledLayer = PooledLayerResult;

export type Isolation = 'process' | 'thread';

export interface PoolOptions {
  workers: number;
  intraOpThreads: number;
  /**
   * The file is a lesion copy: its sites are fed on every run, with `config` written into them for
   * pool and probe requests (null: the intact model). Behaviour requests name their own configurations.
   */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
  /** Names the model in failures (default: the file's folder). */
  label?: string;
  isolation?: Isolation;
}

export class SessionLoadError extends Error {}

/** One session, on a thread or in a child process. */
interface Runner {
  /** Rejects with the call's error, or with the reason the session died. */
  run(call: SessionCall, transfer: ArrayBuffer[], doing: string): Promise<SessionAnswer>;
  /** Why the session can take no more calls (it crashed or exited), else null. */
  readonly dead: Error | null;
  /** Ends the session. A thread finishes its running call first; a process is killed at once. */
  stop(busy: boolean): Promise<void>;
}

class ThreadRunner implements Runner {
  dead: Error | null = null;
  private current: { resolve: (a: SessionAnswer) => void; reject: (e: Error) => void } | null = null;
  private nextId = 1;

  constructor(
    private readonly worker: Worker,
    private readonly closed: () => boolean,
    private readonly onDeath: () => void,
  ) {
    worker.on('message', (m: WorkerResponse) => {
      const c = this.current;
      this.current = null;
      if (!c) return;
      if (!m.ok) c.reject(new Error(m.error));
      else if (m.kind === 'ready' || m.kind === 'raw') c.reject(new Error('unexpected worker message'));
      else c.resolve(m);
    });
    worker.on('error', (e) => this.die(new Error(`inference worker crashed: ${e.message}`)));
    worker.on('exit', (code) => this.die(new Error(this.closed() ? 'inference cancelled' : `inference worker exited with code ${code}`)));
  }

  private die(e: Error): void {
    if (!this.dead) this.dead = e;
    const c = this.current;
    this.current = null;
    c?.reject(e);
    this.onDeath();
  }

  run(call: SessionCall, transfer: ArrayBuffer[]): Promise<SessionAnswer> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.current = { resolve, reject };
      this.worker.postMessage({ ...call, id: this.nextId++ }, transfer);
    });
  }

  async stop(): Promise<void> {
    // The pool calls this once the running call is answered: a worker is never terminated inside
    // `session.run` (tearing ONNX Runtime down mid-inference can take the whole process with it).
    await this.worker.terminate();
  }
}

class ProcessRunner implements Runner {
  dead: Error | null = null;

  constructor(
    private readonly session: NativeSession,
    private readonly onDeath: () => void,
  ) {}

  async run(call: SessionCall, _transfer: ArrayBuffer[], doing: string): Promise<SessionAnswer> {
    try {
      return await this.session.call(call, doing);
    } catch (e) {
      if (!(e instanceof NativeChildError)) throw e;
      // An error the session reported (ONNX Runtime's or the pooling's) reads as on a thread.
      if (e.failure.kind === 'error' && !this.session.failure) throw new Error(e.failure.message);
      // A crash is the model's (it cannot run here), not this service's: a 422 in a request, the job's error as is.
      this.dead ??= e.failure.kind === 'crashed' ? new UnprocessableError(e.message) : e;
      this.onDeath();
      throw this.dead;
    }
  }

  stop(busy: boolean): Promise<void> {
    return busy ? this.session.kill() : this.session.close();
  }
}

interface Slot {
  runner: Runner;
  /** Requests sent to the session and not yet answered. */
  inFlight: number;
  /** Requests it may hold at once: a child process queues the next one while it runs (its input is then already there). */
  depth: number;
  /** Called when the slot has no request left to answer. */
  idle: (() => void)[];
}

interface Task {
  call: SessionCall;
  transfer: ArrayBuffer[];
  doing: string;
  resolve: (r: SessionAnswer) => void;
  reject: (e: Error) => void;
}

/** "layer a" / "layers a, b, c" / "layers a, b, c and 9 more". */
function layerList(keys: string[]): string {
  if (keys.length === 1) return `layer ${keys[0]}`;
  if (keys.length <= 4) return `layers ${keys.join(', ')}`;
  return `layers ${keys.slice(0, 3).join(', ')} and ${keys.length - 3} more`;
}

export class SessionPool {
  private slots: Slot[] = [];
  private queue: Task[] = [];
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Why the last session ended, once none is left. */
  private ended: Error | null = null;
  readonly inputNames: string[];
  readonly outputNames: string[];

  private constructor(inputs: string[], outputs: string[]) {
    this.inputNames = inputs;
    this.outputNames = outputs;
  }

  static async create(modelPath: string, opts: PoolOptions): Promise<SessionPool> {
    const n = Math.max(1, opts.workers);
    const init = { intraOpThreads: Math.max(1, opts.intraOpThreads), ...(opts.lesion ? { lesion: opts.lesion } : {}) };
    const label = opts.label ?? path.basename(path.dirname(path.resolve(modelPath)));
    // The pool exists before its sessions do, so that a runner can report its death to it.
    let pool: SessionPool | null = null;
    const onDeath = (r: Runner) => pool?.drop(r);
    const started: Promise<{ runner: Runner; inputs: string[]; outputs: string[] }>[] = [];
    for (let i = 0; i < n; i++) {
      if ((opts.isolation ?? 'process') === 'process') {
        started.push(
          NativeSession.open(modelPath, { ...init, label, timeoutMs: 0 }).then(
            (s) => {
              const runner: Runner = new ProcessRunner(s, () => onDeath(runner));
              return { runner, inputs: s.inputNames, outputs: s.outputNames };
            },
            (e: unknown) => {
              throw new SessionLoadError(e instanceof NativeChildError && e.failure.kind === 'error' ? e.failure.message : (e as Error).message);
            },
          ),
        );
        continue;
      }
      const worker = startWorker(ENTRY, { workerData: { init: { ...init, modelPath } } });
      started.push(
        new Promise((resolve, reject) => {
          const onErr = (e: Error) => reject(new SessionLoadError(e.message));
          worker.once('error', onErr);
          worker.once('message', (m: WorkerResponse) => {
            worker.off('error', onErr);
            if (!(m.ok && m.kind === 'ready')) {
              void worker.terminate();
              reject(new SessionLoadError(m.ok ? 'unexpected worker message' : m.error));
              return;
            }
            const runner: Runner = new ThreadRunner(worker, () => pool?.closed ?? false, () => onDeath(runner));
            resolve({ runner, inputs: m.inputs, outputs: m.outputs });
          });
        }),
      );
    }
    const settled = await Promise.allSettled(started);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.runner.stop(false) : undefined)));
      throw failed.reason;
    }
    const all = settled.map((s) => (s as PromiseFulfilledResult<{ runner: Runner; inputs: string[]; outputs: string[] }>).value);
    const ok = all.filter((s) => !s.runner.dead);
    if (ok.length === 0) throw new SessionLoadError(all[0].runner.dead!.message);
    pool = new SessionPool(ok[0].inputs, ok[0].outputs);
    for (const s of ok) pool.slots.push({ runner: s.runner, inFlight: 0, depth: s.runner instanceof ProcessRunner ? 2 : 1, idle: [] });
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** A session died: it takes no more requests; with none left, the queued ones fail with its reason. */
  private drop(runner: Runner): void {
    this.slots = this.slots.filter((s) => s.runner !== runner);
    if (this.slots.length > 0) return;
    this.ended = runner.dead ?? new Error('every inference session of the pool has ended');
    for (const t of this.queue.splice(0)) t.reject(this.ended);
  }

  /** Hands queued requests to sessions, the least loaded first, each up to its depth. */
  private pump(): void {
    for (let level = 0; this.queue.length > 0; level++) {
      let sent = false;
      for (const slot of this.slots) {
        if (slot.inFlight > level || slot.inFlight >= slot.depth) continue;
        const task = this.queue.shift();
        if (!task) return;
        sent = true;
        slot.inFlight++;
        slot.runner.run(task.call, task.transfer, task.doing).then(task.resolve, task.reject).finally(() => {
          slot.inFlight--;
          if (slot.inFlight === 0) for (const f of slot.idle.splice(0)) f();
          this.pump();
        });
      }
      if (!sent && this.slots.every((s) => s.inFlight >= s.depth)) return;
    }
  }

  private submit(call: SessionCall, transfer: ArrayBuffer[], doing: string): Promise<SessionAnswer> {
    if (this.closed) return Promise.reject(new Error('session pool is closed'));
    if (this.slots.length === 0) return Promise.reject(this.ended ?? new Error('the pool has no session'));
    return new Promise((resolve, reject) => {
      this.queue.push({ call, transfer, doing, resolve, reject });
      this.pump();
    });
  }

  /** `where` names the batch in failures, e.g. "batch 3 of 16". */
  async pool(feeds: Record<string, FeedSpec>, layers: LayerFetch[], lengths: Int32Array | null, where = 'a batch'): Promise<{ layers: PooledLayer[]; runMs: number }> {
    const transfer = Object.values(feeds).map((f) => f.data);
    const lens = lengths ? (lengths.slice().buffer as ArrayBuffer) : null;
    if (lens) transfer.push(lens);
    const doing = `running ${where} (${layerList(layers.map((l) => l.key))})`;
    const res = await this.submit({ kind: 'pool', feeds, layers, lengths: lens }, transfer, doing);
    if (res.kind !== 'pool') throw new Error('unexpected session answer');
    return { runMs: res.runMs, layers: res.layers.map(pooledLayer) };
  }

  /**
   * Runs one batch through the intact model and then through each configuration (one session, the
   * site inputs rewritten between runs) and returns per-stimulus measures: results[0] is the intact
   * model, results[i] the configuration i − 1.
   */
  async behaviour(
    feeds: Record<string, FeedSpec>,
    output: BehaviourFetch,
    extra: { lengths?: Int32Array | null; targets?: Int32Array | null; labels?: Int32Array | null },
    configs: LesionConfig[],
    where = 'a batch',
  ): Promise<{ results: Record<string, Float64Array>[]; runMs: number }> {
    const transfer = Object.values(feeds).map((f) => f.data);
    const buf = (a: Int32Array | null | undefined) => {
      if (!a) return null;
      const b = a.slice().buffer as ArrayBuffer;
      transfer.push(b);
      return b;
    };
    const call: SessionCall = { kind: 'behaviour', feeds, output, lengths: buf(extra.lengths), targets: buf(extra.targets), labels: buf(extra.labels), configs };
    const doing = `running ${where} for output '${output.tensor}' (intact and ${configs.length} lesion configuration${configs.length === 1 ? '' : 's'})`;
    const res = await this.submit(call, transfer, doing);
    if (res.kind !== 'behaviour') throw new Error('unexpected session answer');
    return { runMs: res.runMs, results: res.results.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, new Float64Array(v)]))) };
  }

  async probe(feeds: Record<string, FeedSpec>, fetch: string[]): Promise<ProbeShape[]> {
    const res = await this.submit({ kind: 'probe', feeds, fetch }, Object.values(feeds).map((f) => f.data), 'running the probe input');
    if (res.kind !== 'probe') throw new Error('unexpected session answer');
    return res.shapes;
  }

  /**
   * Closes the pool: queued requests are rejected; a running one is killed with its child process,
   * or, on a thread, allowed to finish (a worker is never terminated inside `session.run`).
   */
  async close(): Promise<void> {
    if (this.closed) return this.closing ?? undefined;
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new Error('session pool closed'));
    this.closing = (async () => {
      await Promise.all(
        this.slots.map(async (s) => {
          if (s.inFlight > 0 && s.runner instanceof ThreadRunner) await new Promise<void>((r) => s.idle.push(r));
          await s.runner.stop(s.inFlight > 0);
        }),
      );
      this.slots = [];
    })();
    return this.closing;
  }
}
