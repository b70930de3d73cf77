/**
 * One step of the benchmark, run by bench/run.ts in a fresh child process so that each step's peak
 * memory (`process.resourceUsage().maxRSS`, which never goes down) is its own:
 *
 *   register  register the model folder and the two stimulus sets into the bench data dir (untimed)
 *   contrast  runContrast() on the repeated stimulus list, exactly as a job runs it
 *   ort       the bare ONNX Runtime baseline: same exposed.onnx, same batches, same intra-op
 *             threads, inputs encoded beforehand, one session on this thread, session.run only
 *
 *   node --import tsx bench/phase.ts <spec.json>     (writes the result to spec.out)
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { runContrast } from '../src/pipeline/contrast.ts';
import { planStimuli, type Stimulus } from '../src/pipeline/plan.ts';
import { contrastEnv } from '../src/jobs/queue.ts';
import { loadConfig } from '../src/config.ts';
import type { ModelRecord } from '../src/domain/records.ts';
import { closeContext, createContext, type Context } from '../src/store/context.ts';
import { EXPOSED_FILE, modelDir, readItemBytes } from '../src/store/files.ts';
import { getModel } from '../src/store/models-repo.ts';
import { registerModelFromFolder } from '../src/usecases/models.ts';
import type { FeedSpec } from '../src/inference/worker-protocol.ts';
import { encodeImages, TextEncoder as TextIds } from '../src/inference/encode.ts';
import { createImageSet, createTextSet, parseTextBody, setItems } from '../src/usecases/stimulus-sets.ts';

export interface PhaseSpec {
  phase: 'register' | 'contrast' | 'ort';
  dataDir: string;
  out: string;
  /** register: the model folder and the stimulus sources (image folders or .txt files). */
  modelFolder?: string;
  sourceA?: string;
  sourceB?: string;
  /** contrast / ort: what register returned, and the number of stimuli per condition. */
  modelId?: string;
  setA?: string;
  setB?: string;
  perCondition?: number;
}

export interface RegisterResult {
  modelId: string;
  modelName: string;
  modality: 'image' | 'text';
  layers: { name: string; units: number; tensor: string }[];
  exposedBytes: number;
  setA: { id: string; name: string; items: number };
  setB: { id: string; name: string; items: number };
  registerMs: number;
  /** process.resourceUsage().maxRSS of the register step, MB. */
  maxRssMB: number;
}

export interface MemoryPeaks {
  /** process.resourceUsage().maxRSS at the end of the step, MB (whole process: main thread + workers + ORT). */
  maxRssMB: number;
  /** RSS just before the timed part, MB. */
  rssBeforeMB: number;
  /** Highest main-thread V8 heapUsed / heapTotal / external / arrayBuffers seen by sampling, MB. */
  heapUsedPeakMB: number;
  heapTotalPeakMB: number;
  externalPeakMB: number;
  arrayBuffersPeakMB: number;
  samples: number;
}

export interface ContrastResult {
  stimuli: number;
  nA: number;
  nB: number;
  batchSize: number;
  batches: number;
  workers: number;
  intraOpThreads: number;
  collectMs: number;
  e2eMs: number;
  timings: { totalMs: number; setupMs: number; encodeMs: number; inferenceMs: number; inferenceWallMs: number; statsMs: number };
  /** ms from the start of runContrast at which each batch had been folded into the moments. */
  batchDoneMs: number[];
  layers: { name: string; units: number; significant: number; maxT: number; minT: number }[];
  memory: MemoryPeaks;
  loadavg: number[];
}

export interface OrtResult {
  stimuli: number;
  batchSize: number;
  batches: number;
  intraOpThreads: number;
  fetch: string[];
  encodeMs: number;
  sessionCreateMs: number;
  runMs: number;
  runMsPerBatch: number[];
  memory: MemoryPeaks;
  loadavg: number[];
}

const MB = 1024 * 1024;

class MemorySampler {
  private peaks = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  private n = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly rssBefore = process.memoryUsage().rss;
  start(everyMs = 25): this {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    return this;
  }
  sample(): void {
    const m = process.memoryUsage();
    this.n++;
    this.peaks.heapUsed = Math.max(this.peaks.heapUsed, m.heapUsed);
    this.peaks.heapTotal = Math.max(this.peaks.heapTotal, m.heapTotal);
    this.peaks.external = Math.max(this.peaks.external, m.external);
    this.peaks.arrayBuffers = Math.max(this.peaks.arrayBuffers, m.arrayBuffers);
  }
  stop(): MemoryPeaks {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const r = (b: number) => Math.round((b / MB) * 10) / 10;
    return {
      maxRssMB: r(process.resourceUsage().maxRSS * 1024),
      rssBeforeMB: r(this.rssBefore),
      heapUsedPeakMB: r(this.peaks.heapUsed),
      heapTotalPeakMB: r(this.peaks.heapTotal),
      externalPeakMB: r(this.peaks.external),
      arrayBuffersPeakMB: r(this.peaks.arrayBuffers),
      samples: this.n,
    };
  }
}

function openContext(dataDir: string): Context {
  return createContext(loadConfig(process.env, { dataDir, registerFixtures: false }));
}

async function createSet(ctx: Context, source: string) {
  const st = fs.statSync(source);
  if (st.isDirectory()) {
    const files = fs.readdirSync(source).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
    return (await createImageSet(ctx, path.basename(source), files.map((f) => ({ name: f, data: fs.readFileSync(path.join(source, f)) })), `bench:${source}`)).set;
  }
  return createTextSet(ctx, path.basename(source).replace(/\.(txt|json)$/i, ''), parseTextBody(fs.readFileSync(source, 'utf8')), `bench:${source}`).set;
}

async function register(spec: PhaseSpec): Promise<RegisterResult> {
  const ctx = openContext(spec.dataDir);
  try {
    const t0 = performance.now();
    const { model } = await registerModelFromFolder(ctx, spec.modelFolder!, { trusted: true, source: `bench:${spec.modelFolder}` });
    const registerMs = performance.now() - t0;
    const a = await createSet(ctx, spec.sourceA!);
    const b = await createSet(ctx, spec.sourceB!);
    return {
      modelId: model.id,
      modelName: model.name,
      modality: model.modality,
      layers: model.info.layers.map((l) => ({ name: l.name, units: l.units, tensor: l.tensor })),
      exposedBytes: fs.statSync(path.join(modelDir(ctx, model), EXPOSED_FILE)).size,
      setA: { id: a.id, name: a.name, items: a.nItems },
      setB: { id: b.id, name: b.name, items: b.nItems },
      registerMs,
      maxRssMB: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
    };
  } finally {
    closeContext(ctx);
  }
}

/** The sets' items, each condition cycled to `perCondition` stimuli: all of A, then all of B (as planStimuli orders them). */
function benchStimuli(ctx: Context, spec: PhaseSpec): Stimulus[] {
  const base = planStimuli([spec.setA!], [spec.setB!], (id) => setItems(ctx, id));
  const out: Stimulus[] = [];
  for (const cond of ['a', 'b'] as const) {
    const items = base.filter((s) => s.condition === cond);
    for (let i = 0; i < spec.perCondition!; i++) out.push(items[i % items.length]);
  }
  return out;
}

function requireModelRecord(ctx: Context, id: string): ModelRecord {
  const m = getModel(ctx.db, id);
  if (!m) throw new Error(`model ${id} is not registered in ${ctx.config.dataDir}`);
  return m;
}

async function contrast(spec: PhaseSpec): Promise<ContrastResult> {
  const ctx = openContext(spec.dataDir);
  try {
    const model = requireModelRecord(ctx, spec.modelId!);
    const tc = performance.now();
    const stimuli = benchStimuli(ctx, spec);
    const collectMs = performance.now() - tc;
    const mem = new MemorySampler().start();
    const batchDoneMs: number[] = [];
    const t0 = performance.now();
    const outcome = await runContrast(
      contrastEnv(ctx, model),
      stimuli,
      {
        layers: [],
        pooling: null,
        test: 'welch',
        correction: 'bh',
        correctionScope: 'layer',
        alpha: 0.05,
        keepActivations: false,
        batchSize: ctx.config.batchSize,
      },
      { onProgress: () => batchDoneMs.push(performance.now() - t0) },
    );
    const e2eMs = performance.now() - t0;
    const memory = mem.stop();
    const { totalMs, setupMs, encodeMs, inferenceMs, inferenceWallMs, statsMs } = outcome.timings;
    return {
      stimuli: stimuli.length,
      nA: stimuli.filter((s) => s.condition === 'a').length,
      nB: stimuli.filter((s) => s.condition === 'b').length,
      batchSize: model.info.dynamicBatch ? ctx.config.batchSize : 1,
      batches: outcome.timings.batches,
      workers: ctx.config.workers,
      intraOpThreads: ctx.config.intraOpThreads,
      collectMs,
      e2eMs,
      timings: { totalMs, setupMs, encodeMs, inferenceMs, inferenceWallMs, statsMs },
      batchDoneMs,
      layers: outcome.layers.map((l) => ({ name: l.name, units: l.units, significant: l.summary.significant, maxT: l.summary.maxT, minT: l.summary.minT })),
      memory,
      loadavg: (await import('node:os')).loadavg(),
    };
  } finally {
    closeContext(ctx);
  }
}

function toTensor(f: FeedSpec): ort.Tensor {
  if (f.type === 'float32') return new ort.Tensor('float32', new Float32Array(f.data), f.dims);
  if (f.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(f.data), f.dims);
  return new ort.Tensor('int32', new Int32Array(f.data), f.dims);
}

async function bareOrt(spec: PhaseSpec): Promise<OrtResult> {
  const ctx = openContext(spec.dataDir);
  try {
    const model = requireModelRecord(ctx, spec.modelId!);
    const dir = modelDir(ctx, model);
    const stimuli = benchStimuli(ctx, spec);
    const batchSize = model.info.dynamicBatch ? Math.max(1, ctx.config.batchSize) : 1;
    const fetch = [...new Set(model.info.layers.map((l) => l.tensor))];

    // Encode every batch first, with the pipeline's encoders and the pipeline's batch slicing.
    const te = performance.now();
    const batches: Record<string, FeedSpec>[] = [];
    const textEnc = model.modality === 'text' ? new TextIds(model.manifest.input.text!, dir) : null;
    for (let i = 0; i < stimuli.length; i += batchSize) {
      const slice = stimuli.slice(i, i + batchSize);
      if (textEnc) batches.push(textEnc.encode(slice.map((s) => s.item.text ?? '')).feeds);
      else {
        const spec_ = model.manifest.input.image!;
        batches.push({ [spec_.name]: await encodeImages(slice.map((s) => readItemBytes(ctx, s.item)), spec_) });
      }
    }
    const encodeMs = performance.now() - te;
    const feeds = batches.map((b) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, toTensor(v)])));

    const mem = new MemorySampler();
    const ts = performance.now();
    // The same session options as src/models/session-worker.ts.
    const session = await ort.InferenceSession.create(path.join(dir, EXPOSED_FILE), {
      intraOpNumThreads: ctx.config.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const sessionCreateMs = performance.now() - ts;
    mem.sample();
    const runMsPerBatch: number[] = [];
    for (const f of feeds) {
      const t0 = performance.now();
      const out = await session.run(f, fetch);
      runMsPerBatch.push(performance.now() - t0);
      mem.sample(); // session.run blocks this thread: sample between runs
      for (const k of Object.keys(out)) out[k].dispose?.();
    }
    const memory = mem.stop();
    await session.release();
    return {
      stimuli: stimuli.length,
      batchSize,
      batches: feeds.length,
      intraOpThreads: ctx.config.intraOpThreads,
      fetch,
      encodeMs,
      sessionCreateMs,
      runMs: runMsPerBatch.reduce((s, x) => s + x, 0),
      runMsPerBatch,
      memory,
      loadavg: (await import('node:os')).loadavg(),
    };
  } finally {
    closeContext(ctx);
  }
}

async function main(): Promise<void> {
  const specFile = process.argv[2];
  if (!specFile) throw new Error('usage: node --import tsx bench/phase.ts <spec.json>');
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as PhaseSpec;
  const result = spec.phase === 'register' ? await register(spec) : spec.phase === 'contrast' ? await contrast(spec) : await bareOrt(spec);
  fs.writeFileSync(spec.out, JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
