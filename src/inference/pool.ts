/**
 * A pool of session workers for one (edited) ONNX file. Requests queue and go to the first idle
 * worker; each worker runs one request at a time with `intraOpThreads` ORT threads, so
 * workers × threads stays within the machine's cores.
 */
import type { Worker } from 'node:worker_threads';
import { moduleUrl, startWorker } from './threads.ts';
import type { BehaviourFetch, FeedSpec, LayerFetch, LesionConfig, LesionSite, PooledLayerOut, ProbeShape, WorkerRequest, WorkerResponse } from './worker-protocol.ts';

const ENTRY = moduleUrl('./session-worker.ts', import.meta.url);

export interface PooledLayer {
  key: string;
  rows: number;
  units: number;
  data: Float32Array;
  sample: Int32Array;
  token: Int32Array;
  dims: number[];
}

interface Slot {
  worker: Worker;
  busy: boolean;
  current: Task | null;
  /** Called when the slot's running request has been answered. */
  idle: (() => void)[];
}

interface Task {
  req: WorkerRequest;
  transfer: ArrayBuffer[];
  resolve: (r: WorkerResponse) => void;
  reject: (e: Error) => void;
}

export class SessionLoadError extends Error {}

export class SessionPool {
  private slots: Slot[] = [];
  private queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  readonly inputNames: string[];
  readonly outputNames: string[];

  private constructor(inputs: string[], outputs: string[]) {
    this.inputNames = inputs;
    this.outputNames = outputs;
  }

  /**
   * `lesion`: the file is a lesion copy; its sites are fed on every run, with `config` written into them
   * for pool and probe requests (null: the intact model). Behaviour requests name their own configurations.
   */
  static async create(modelPath: string, opts: { workers: number; intraOpThreads: number; lesion?: { sites: LesionSite[]; config: LesionConfig | null } }): Promise<SessionPool> {
    const n = Math.max(1, opts.workers);
    const started: { worker: Worker; ready: Promise<{ inputs: string[]; outputs: string[] }> }[] = [];
    for (let i = 0; i < n; i++) {
      const worker = startWorker(ENTRY, {
        workerData: { init: { modelPath, intraOpThreads: Math.max(1, opts.intraOpThreads), ...(opts.lesion ? { lesion: opts.lesion } : {}) } },
      });
      const ready = new Promise<{ inputs: string[]; outputs: string[] }>((resolve, reject) => {
        const onMsg = (m: WorkerResponse) => {
          worker.off('error', onErr);
          if (m.ok && m.kind === 'ready') resolve({ inputs: m.inputs, outputs: m.outputs });
          else reject(new SessionLoadError(m.ok ? 'unexpected worker message' : m.error));
        };
        const onErr = (e: Error) => reject(new SessionLoadError(e.message));
        worker.once('message', onMsg);
        worker.once('error', onErr);
      });
      started.push({ worker, ready });
    }
    let info: { inputs: string[]; outputs: string[] };
    try {
      const all = await Promise.all(started.map((s) => s.ready));
      info = all[0];
    } catch (e) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw e;
    }
    const pool = new SessionPool(info.inputs, info.outputs);
    for (const s of started) pool.attach(s.worker);
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private attach(worker: Worker): void {
    const slot: Slot = { worker, busy: false, current: null, idle: [] };
    worker.on('message', (m: WorkerResponse) => {
      const task = slot.current;
      slot.current = null;
      slot.busy = false;
      if (task) task.resolve(m);
      for (const f of slot.idle.splice(0)) f();
      this.pump();
    });
    worker.on('error', (e) => {
      const task = slot.current;
      slot.current = null;
      slot.busy = false;
      for (const f of slot.idle.splice(0)) f();
      if (task) task.reject(new Error(`inference worker crashed: ${e.message}`));
      this.slots = this.slots.filter((s) => s !== slot);
      if (this.slots.length === 0) for (const t of this.queue.splice(0)) t.reject(new Error('all inference workers crashed'));
    });
    worker.on('exit', (code) => {
      const task = slot.current;
      slot.current = null;
      slot.busy = false;
      for (const f of slot.idle.splice(0)) f();
      if (task) task.reject(new Error(this.closed ? 'inference cancelled' : `inference worker exited with code ${code}`));
      this.slots = this.slots.filter((s) => s !== slot);
    });
    this.slots.push(slot);
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const task = this.queue.shift();
      if (!task) return;
      slot.busy = true;
      slot.current = task;
      slot.worker.postMessage(task.req, task.transfer);
    }
  }

  private submit(req: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerResponse> {
    if (this.closed) return Promise.reject(new Error('session pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, transfer, resolve, reject });
      this.pump();
    });
  }

  async pool(
    feeds: Record<string, FeedSpec>,
    layers: LayerFetch[],
    lengths: Int32Array | null,
  ): Promise<{ layers: PooledLayer[]; runMs: number }> {
    const transfer = Object.values(feeds).map((f) => f.data);
    const lens = lengths ? (lengths.slice().buffer as ArrayBuffer) : null;
    if (lens) transfer.push(lens);
    const res = await this.submit({ id: this.nextId++, kind: 'pool', feeds, layers, lengths: lens }, transfer);
    if (!res.ok) throw new Error(res.error);
    if (res.kind !== 'pool') throw new Error('unexpected worker response');
    return {
      runMs: res.runMs,
      layers: res.layers.map((l: PooledLayerOut) => ({
        key: l.key,
        rows: l.rows,
        units: l.units,
        dims: l.dims,
        data: new Float32Array(l.data),
        sample: new Int32Array(l.sample),
        token: new Int32Array(l.token),
      })),
    };
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
  ): Promise<{ results: Record<string, Float64Array>[]; runMs: number }> {
    const transfer = Object.values(feeds).map((f) => f.data);
    const buf = (a: Int32Array | null | undefined) => {
      if (!a) return null;
      const b = a.slice().buffer as ArrayBuffer;
      transfer.push(b);
      return b;
    };
    const req: WorkerRequest = { id: this.nextId++, kind: 'behaviour', feeds, output, lengths: buf(extra.lengths), targets: buf(extra.targets), labels: buf(extra.labels), configs };
    const res = await this.submit(req, transfer);
    if (!res.ok) throw new Error(res.error);
    if (res.kind !== 'behaviour') throw new Error('unexpected worker response');
    return { runMs: res.runMs, results: res.results.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, new Float64Array(v)]))) };
  }

  async probe(feeds: Record<string, FeedSpec>, fetch: string[]): Promise<ProbeShape[]> {
    const res = await this.submit({ id: this.nextId++, kind: 'probe', feeds, fetch }, Object.values(feeds).map((f) => f.data));
    if (!res.ok) throw new Error(res.error);
    if (res.kind !== 'probe') throw new Error('unexpected worker response');
    return res.shapes;
  }

  /**
   * Closes the pool: queued requests are rejected, running ones are allowed to finish (a worker is
   * never terminated inside `session.run`: tearing down ONNX Runtime mid-inference can take the
   * whole process down), then the workers are terminated.
   */
  async close(): Promise<void> {
    if (this.closed) return this.closing ?? undefined;
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new Error('session pool closed'));
    this.closing = (async () => {
      await Promise.all(this.slots.map((s) => (s.busy ? new Promise<void>((r) => s.idle.push(r)) : undefined)));
      await Promise.all(this.slots.map((s) => s.worker.terminate()));
      this.slots = [];
    })();
    return this.closing;
  }

  private closing: Promise<void> | null = null;
}
