/**
 * Per-layer analysis (clusters, TFCE, Moran's I with its permutation null, the smoothness curve,
 * reliability, permutation FWE) on a worker thread, so that a contrast's statistics never stall the
 * HTTP server. Permutations go one thread further, to ONNX Runtime's own worker.
 */
import { parentPort, workerData, type Worker } from 'node:worker_threads';
import { moduleUrl, startWorker } from '../inference/threads.ts';
import type { AnalysisOptions, LayerAnalysis } from '../domain/analysis.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import type { TestKind } from '../domain/stats.ts';
import { analyseLayer, jsPermutationEngine, ortPermutationEngine, type LayerMatrix } from './analyse.ts';

export type EngineSpec = { kind: 'ort'; threads: number } | { kind: 'js' };

interface Request {
  id: number;
  layer: { t: Float64Array; p: Float64Array; units: number };
  sheet: SheetLayout;
  test: TestKind;
  opts: AnalysisOptions;
  matrix: LayerMatrix | null;
  engine: EngineSpec;
}

type Response = { id: number; ok: true; result: LayerAnalysis } | { id: number; ok: false; error: string };

const ENTRY = moduleUrl('./analysis-worker.ts', import.meta.url);

// Only the thread started by AnalysisRunner (whose entry is this file) listens for requests.
if (parentPort && (workerData as { entry?: string } | null)?.entry === ENTRY.href) {
  const port = parentPort;
  port.on('message', (m: Request | { kind?: string }) => {
    if (!('id' in m)) return;
    const req = m as Request;
    const engine = req.engine.kind === 'ort' ? ortPermutationEngine(req.engine.threads) : jsPermutationEngine;
    analyseLayer(req.layer, req.sheet, req.test, req.opts, req.matrix, engine).then(
      (result) => port.postMessage({ id: req.id, ok: true, result } satisfies Response),
      (e: unknown) => port.postMessage({ id: req.id, ok: false, error: (e as Error)?.message ?? String(e) } satisfies Response),
    );
  });
}

/** Main-thread side: one worker, requests answered in order. */
export class AnalysisRunner {
  private worker: Worker | null = null;
  private next = 1;
  private pending = new Map<number, { resolve: (r: LayerAnalysis) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(ENTRY);
    w.on('message', (m: Response) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
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

  run(layer: Request['layer'], sheet: SheetLayout, test: TestKind, opts: AnalysisOptions, matrix: LayerMatrix | null, engine: EngineSpec): Promise<LayerAnalysis> {
    const w = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, layer, sheet, test, opts, matrix, engine } satisfies Request);
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
