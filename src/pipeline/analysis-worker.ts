/**
 * A layer's statistics after inference on a worker thread, so that they never stall the HTTP server:
 * the t-test of its merged moments, the correction within the layer (a correction across layers is
 * a request of its own, once every layer is tested), then the per-layer analysis (clusters, TFCE,
 * Moran's I with its permutation null, the smoothness curve, reliability, permutation FWE).
 * Permutations go one thread further, to ONNX Runtime's own worker. A cancelled request stops between
 * stages and aborts a running permutation test; progress names the stage.
 */
import { parentPort, workerData, type Worker } from 'node:worker_threads';
import { moduleUrl, startWorker } from '../inference/threads.ts';
import type { AnalysisOptions, LayerAnalysis } from '../domain/analysis.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import type { Correction, CorrectionScope } from '../domain/stats.ts';
import { analyseLayer, jsPermutationEngine, ortPermutationEngine, type AnalysisHooks, type LayerMatrix, type PermutationEngine } from './analyse.ts';
import { correct, testLayer, type LayerMoments, type TestedLayer, type TestOptions } from './test.ts';

export type EngineSpec = { kind: 'ort'; threads: number } | { kind: 'js' };

/** One layer of one contrast: its moments, how to test and correct it, and the analysis to run. */
export interface LayerJob {
  layer: { name: string; units: number; pooling: string; moments: LayerMoments };
  sheet: SheetLayout;
  test: TestOptions;
  /** Correct within this layer here (scope 'layer', or a single layer); else q comes from a 'correct' request. */
  correctHere: boolean;
  opts: AnalysisOptions;
  matrix: LayerMatrix | null;
  engine: EngineSpec;
}

/** What a layer's request gives back. */
export interface LayerDone {
  tested: TestedLayer;
  corrected: { q: Float64Array; log10q: Float64Array } | null;
  analysis: LayerAnalysis;
}

type Request =
  | ({ kind: 'run'; id: number } & LayerJob)
  | { kind: 'correct'; id: number; ps: { p: Float64Array; log10p: Float64Array }[]; method: Correction; scope: CorrectionScope };

type Message = Request | { kind: 'cancel'; id: number };

type Response =
  | { id: number; kind: 'done'; result: LayerDone }
  | { id: number; kind: 'corrected'; result: { q: Float64Array; log10q: Float64Array }[] }
  | { id: number; kind: 'failed'; error: string; cancelled: boolean }
  | { id: number; kind: 'progress'; stage: string; done: number; total: number };

const ENTRY = moduleUrl('./analysis-worker.ts', import.meta.url);

// Only the thread started by AnalysisRunner (whose entry is this file) listens for requests.
if (parentPort && (workerData as { entry?: string } | null)?.entry === ENTRY.href) {
  const port = parentPort;
  const running = new Map<number, AbortController>();
  port.on('message', (m: Message) => {
    if (m.kind === 'cancel') {
      running.get(m.id)?.abort();
      return;
    }
    if (m.kind === 'correct') {
      try {
        const result = correct(m.ps, m.method, m.scope);
        port.postMessage({ id: m.id, kind: 'corrected', result } satisfies Response, result.flatMap((r) => [r.q.buffer, r.log10q.buffer] as ArrayBuffer[]));
      } catch (e) {
        port.postMessage({ id: m.id, kind: 'failed', error: (e as Error)?.message ?? String(e), cancelled: false } satisfies Response);
      }
      return;
    }
    const ac = new AbortController();
    running.set(m.id, ac);
    const engine = m.engine.kind === 'ort' ? ortPermutationEngine(m.engine.threads) : jsPermutationEngine;
    const hooks: AnalysisHooks = {
      signal: ac.signal,
      onProgress: (stage, done, total) => port.postMessage({ id: m.id, kind: 'progress', stage, done, total } satisfies Response),
    };
    runLayer(m, engine, hooks).then(
      (result) => port.postMessage({ id: m.id, kind: 'done', result } satisfies Response, transferables(result)),
      (e: unknown) => port.postMessage({ id: m.id, kind: 'failed', error: (e as Error)?.message ?? String(e), cancelled: ac.signal.aborted } satisfies Response),
    ).finally(() => running.delete(m.id));
  });
}

async function runLayer(job: LayerJob, engine: PermutationEngine, hooks: AnalysisHooks): Promise<LayerDone> {
  const { layer, sheet } = job;
  const tested = testLayer(layer.moments, job.test.test);
  const corrected = job.correctHere ? correct([tested], job.test.correction, 'layer')[0] : null;
  const analysis = await analyseLayer({ t: tested.t, p: tested.p, units: layer.units }, sheet, job.test.test, job.opts, job.matrix, engine, hooks);
  return { tested, corrected, analysis };
}

/** The per-unit arrays of a result, handed over rather than copied (the worker keeps none of them). */
function transferables(r: LayerDone): ArrayBuffer[] {
  const x = r.tested;
  const arrays = [x.t, x.df, x.p, x.log10p, x.d, x.g, x.meanA, x.meanB, x.varA, x.varB];
  if (r.corrected) arrays.push(r.corrected.q, r.corrected.log10q);
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

/** The analysis of a layer was cancelled. */
export class AnalysisCancelledError extends Error {
  constructor() {
    super('cancelled');
  }
}

/** Main-thread side: one worker, requests answered in order. */
export class AnalysisRunner {
  private worker: Worker | null = null;
  private next = 1;
  private pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; hooks: AnalysisHooks }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(ENTRY);
    w.on('message', (m: Response) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.kind === 'progress') {
        p.hooks.onProgress?.(m.stage, m.done, m.total);
        return;
      }
      this.pending.delete(m.id);
      if (m.kind === 'failed') p.reject(m.cancelled ? new AnalysisCancelledError() : new Error(m.error));
      else p.resolve(m.result);
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = null;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`analysis worker exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  /** Starts the worker now (its module loads meanwhile) rather than at the first request. */
  boot(): void {
    this.start().ref();
  }

  /** It ran a permutation test or reliability (a nested ONNX Runtime worker) or was cancelled. */
  private used = false;

  /** The worker is running, answers nothing and only ever ran JavaScript analyses: it can wait for the next pool. */
  get reusable(): boolean {
    return this.worker !== null && this.pending.size === 0 && !this.used;
  }

  /** While it waits, the worker does not keep the process alive. */
  park(): void {
    this.worker?.unref();
  }

  private request<T>(req: Request, hooks: AnalysisHooks, transfer: ArrayBuffer[] = []): Promise<T> {
    if (hooks.signal?.aborted) return Promise.reject(new AnalysisCancelledError());
    const w = this.start();
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.used = true;
        w.postMessage({ kind: 'cancel', id: req.id } satisfies Message);
      };
      // The listener goes with its request (a job's signal would otherwise collect one per layer).
      const settled = () => hooks.signal?.removeEventListener('abort', onAbort);
      this.pending.set(req.id, {
        resolve: (r) => (settled(), resolve(r as T)),
        reject: (e) => (settled(), reject(e)),
        hooks,
      });
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      w.postMessage(req satisfies Message, transfer);
    });
  }

  /** Tests, corrects (when `job.correctHere`) and analyses one layer; the moments are handed over to the worker. */
  run(job: LayerJob, hooks: AnalysisHooks = {}): Promise<LayerDone> {
    // Permutation tests and reliability start ONNX Runtime on a thread of the worker's own: such a
    // worker is terminated after its pool, never kept (a worker ending with the process while that
    // thread is inside ONNX Runtime can abort the process).
    if (job.opts.permutations || job.opts.reliability) this.used = true;
    const { a, b } = job.layer.moments;
    const transfer = [...new Set([a.mean, a.m2, a.meanLo, b.mean, b.m2, b.meanLo].filter((x) => x !== undefined).map((x) => x!.buffer as ArrayBuffer))];
    return this.request({ kind: 'run', id: this.next++, ...job }, hooks, transfer);
  }

  /** q and log10 q of several layers' p corrected as one family (see `correct` in test.ts). */
  correct(ps: { p: Float64Array; log10p: Float64Array }[], method: Correction, scope: CorrectionScope): Promise<{ q: Float64Array; log10q: Float64Array }[]> {
    return this.request({ kind: 'correct', id: this.next++, ps, method, scope }, {});
  }

  /** Terminates the worker once nothing is pending (never in the middle of a request). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    w.removeAllListeners('exit');
    await w.terminate();
  }
}

/**
 * Several analysis workers, started at once (they boot while inference runs): each request goes to
 * the next free worker, so layers are analysed in parallel, one per worker at a time.
 */
export class AnalysisPool {
  private readonly runners: AnalysisRunner[];
  private readonly free: AnalysisRunner[];
  private readonly waiting: ((r: AnalysisRunner) => void)[] = [];
  private closed = false;

  /** `boot`: start the workers now (default), or leave it to {@link boot} or the first request. */
  constructor(
    readonly size: number,
    opts: { boot?: boolean } = {},
  ) {
    this.runners = Array.from({ length: Math.max(1, size) }, () => takeIdle() ?? new AnalysisRunner());
    if (opts.boot !== false) this.boot();
    this.free = [...this.runners];
  }

  /** Starts the workers that are not running yet (their modules load meanwhile); nothing once closed. */
  boot(): void {
    if (this.closed) return;
    for (const r of this.runners) r.boot();
  }

  private acquire(): Promise<AnalysisRunner> {
    const r = this.free.pop();
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(r: AnalysisRunner): void {
    const w = this.waiting.shift();
    if (w) w(r);
    else this.free.push(r);
  }

  async run(...args: Parameters<AnalysisRunner['run']>): Promise<LayerDone> {
    return this.on((r) => r.run(...args));
  }

  async correct(...args: Parameters<AnalysisRunner['correct']>): Promise<{ q: Float64Array; log10q: Float64Array }[]> {
    return this.on((r) => r.correct(...args));
  }

  private async on<T>(f: (r: AnalysisRunner) => Promise<T>): Promise<T> {
    const r = await this.acquire();
    try {
      return await f(r);
    } finally {
      this.release(r);
    }
  }

  /** Hands the idle workers to the next pool (they end after IDLE_MS unused); terminates the others. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.runners.map((r) => (r.reusable ? putIdle(r) : r.close())));
  }
}

/** Analysis workers wait this long for the next pool (booting one costs more than most analyses). */
const IDLE_MS = 60_000;
const MAX_IDLE = 4;
const idle: { r: AnalysisRunner; timer: NodeJS.Timeout }[] = [];

/** Analysis workers waiting for the next pool. */
export function analysisWorkersWaiting(): number {
  return idle.length;
}

function takeIdle(): AnalysisRunner | null {
  while (idle.length) {
    const e = idle.pop()!;
    clearTimeout(e.timer);
    if (e.r.reusable) return e.r;
  }
  return null;
}

async function putIdle(r: AnalysisRunner): Promise<void> {
  r.park();
  const timer = setTimeout(() => {
    const i = idle.findIndex((e) => e.r === r);
    if (i >= 0) idle.splice(i, 1);
    void r.close();
  }, IDLE_MS);
  timer.unref();
  idle.push({ r, timer });
  while (idle.length > MAX_IDLE) {
    const e = idle.shift()!;
    clearTimeout(e.timer);
    await e.r.close();
  }
}
