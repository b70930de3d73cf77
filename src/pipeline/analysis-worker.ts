/**
 * Per-layer analysis (clusters, TFCE, Moran's I with its permutation null, the smoothness curve,
 * reliability, permutation FWE) on a worker thread, so that a contrast's statistics never stall the
 * HTTP server. Permutations go one thread further, to ONNX Runtime's own worker. A cancelled request
 * stops between stages and aborts a running permutation test; progress names the stage.
 */
import { parentPort, workerData, type Worker } from 'node:worker_threads';
import { moduleUrl, startWorker } from '../inference/threads.ts';
import type { AnalysisOptions, LayerAnalysis } from '../domain/analysis.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import type { TestKind } from '../domain/stats.ts';
import { analyseLayer, jsPermutationEngine, ortPermutationEngine, type AnalysisHooks, type LayerMatrix } from './analyse.ts';

export type EngineSpec = { kind: 'ort'; threads: number } | { kind: 'js' };

interface Request {
  kind: 'run';
  id: number;
  layer: { t: Float64Array; p: Float64Array; units: number };
  sheet: SheetLayout;
  test: TestKind;
  opts: AnalysisOptions;
  matrix: LayerMatrix | null;
  engine: EngineSpec;
}

type Message = Request | { kind: 'cancel'; id: number };

type Response =
  | { id: number; kind: 'done'; result: LayerAnalysis }
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
    const ac = new AbortController();
    running.set(m.id, ac);
    const engine = m.engine.kind === 'ort' ? ortPermutationEngine(m.engine.threads) : jsPermutationEngine;
    const hooks: AnalysisHooks = {
      signal: ac.signal,
      onProgress: (stage, done, total) => port.postMessage({ id: m.id, kind: 'progress', stage, done, total } satisfies Response),
    };
    analyseLayer(m.layer, m.sheet, m.test, m.opts, m.matrix, engine, hooks).then(
      (result) => port.postMessage({ id: m.id, kind: 'done', result } satisfies Response),
      (e: unknown) => port.postMessage({ id: m.id, kind: 'failed', error: (e as Error)?.message ?? String(e), cancelled: ac.signal.aborted } satisfies Response),
    ).finally(() => running.delete(m.id));
  });
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
  private pending = new Map<number, { resolve: (r: LayerAnalysis) => void; reject: (e: Error) => void; hooks: AnalysisHooks }>();

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
      if (m.kind === 'done') p.resolve(m.result);
      else p.reject(m.cancelled ? new AnalysisCancelledError() : new Error(m.error));
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
    this.start();
  }

  run(layer: Request['layer'], sheet: SheetLayout, test: TestKind, opts: AnalysisOptions, matrix: LayerMatrix | null, engine: EngineSpec, hooks: AnalysisHooks = {}): Promise<LayerAnalysis> {
    if (hooks.signal?.aborted) return Promise.reject(new AnalysisCancelledError());
    const w = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, hooks });
      hooks.signal?.addEventListener('abort', () => w.postMessage({ kind: 'cancel', id } satisfies Message), { once: true });
      w.postMessage({ kind: 'run', id, layer, sheet, test, opts, matrix, engine } satisfies Message);
    });
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

  constructor(readonly size: number) {
    this.runners = Array.from({ length: Math.max(1, size) }, () => new AnalysisRunner());
    for (const r of this.runners) r.boot();
    this.free = [...this.runners];
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

  async run(...args: Parameters<AnalysisRunner['run']>): Promise<LayerAnalysis> {
    const r = await this.acquire();
    try {
      return await r.run(...args);
    } finally {
      this.release(r);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.close()));
  }
}
