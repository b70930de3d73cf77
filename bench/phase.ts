/**
 * One step of the benchmark, run by bench/run.ts in a fresh child process so that each step's peak
 * memory (`process.resourceUsage().maxRSS`, which never goes down) is its own:
 *
 *   register  register the model folder and the two stimulus sets into the bench data dir
 *   contrast  runContrast() on the stimulus list, exactly as a job runs it (image cache cold/warm/off)
 *   ort       the bare ONNX Runtime baseline: same exposed.onnx, same batches (the pipeline's, or in
 *             stimulus order), same intra-op threads, inputs encoded beforehand, session.run only
 *   decode    the bare parallel decode: every image of the list decoded and resized at once (sharp on
 *             libuv's pool, all cores), no cache, no inference
 *   peer      writes the peer script's inputs (token ids or image files, labels)
 *   isolation the session pool with its sessions on worker threads and in child processes, A/B in
 *             alternating rounds: start-up, the batches through pool.pool (inputs encoded
 *             beforehand, as many in flight as the pipeline keeps), close
 *
 *   node --import tsx bench/phase.ts <spec.json>     (writes the result to spec.out)
 *
 * With TOPOSCOPE_BENCH_BUILD=dist the pipeline comes from the compiled build (dist/, as `npm start`
 * runs it: workers load compiled JavaScript); otherwise from the TypeScript sources through tsx.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type * as ContrastMod from '../src/pipeline/contrast.ts';
import type * as PlanMod from '../src/pipeline/plan.ts';
import type * as QueueMod from '../src/jobs/queue.ts';
import type * as ConfigMod from '../src/config.ts';
import type * as ContextMod from '../src/store/context.ts';
import type * as FilesMod from '../src/store/files.ts';
import type * as ModelsRepoMod from '../src/store/models-repo.ts';
import type * as ModelsMod from '../src/usecases/models.ts';
import type * as EncodeMod from '../src/inference/encode.ts';
import type * as EncodeTextMod from '../src/inference/encode-text.ts';
import type * as SetsMod from '../src/usecases/stimulus-sets.ts';
import type * as PoolMod from '../src/inference/pool.ts';
import type * as WarmPoolsMod from '../src/pipeline/warm-pools.ts';
import type * as SessionOptionsMod from '../src/inference/session-options.ts';
import type * as SessionCoreMod from '../src/inference/session-core.ts';
import type * as PooledGraphMod from '../src/pipeline/pooled-graph.ts';
import type * as PoolingNamesMod from '../src/domain/pooling.ts';
import type { FeedSpec } from '../src/inference/worker-protocol.ts';
import type { ModelRecord } from '../src/domain/records.ts';
import type { Context } from '../src/store/context.ts';
import type { Stimulus } from '../src/pipeline/plan.ts';
import { TreeRss, type TreeRssPeaks } from './tree-rss.ts';

const DIST = process.env.TOPOSCOPE_BENCH_BUILD === 'dist';
const base = new URL(DIST ? '../dist/' : '../src/', import.meta.url);
const load = <T>(rel: string): Promise<T> => import(new URL(DIST ? rel.replace(/\.ts$/, '.js') : rel, base).href) as Promise<T>;

const { runContrast } = await load<typeof ContrastMod>('pipeline/contrast.ts');
const { planStimuli, planBatches, planBatchesByLength, tokenTable, stimulusOf } = await load<typeof PlanMod>('pipeline/plan.ts');
const { contrastEnv } = await load<typeof QueueMod>('jobs/queue.ts');
const { loadConfig } = await load<typeof ConfigMod>('config.ts');
const { closeContext, createContext } = await load<typeof ContextMod>('store/context.ts');
const { EXPOSED_FILE, MODEL_FILE, modelDir, readItemBytes } = await load<typeof FilesMod>('store/files.ts');
const { getModel } = await load<typeof ModelsRepoMod>('store/models-repo.ts');
const { registerModelFromFolder, EXPOSED_DATA_FILE } = await load<typeof ModelsMod>('usecases/models.ts');
const { decodePixels, encodeImages } = await load<typeof EncodeMod>('inference/encode.ts');
const { padIds, tokenMask, TextEncoder: TextIds } = await load<typeof EncodeTextMod>('inference/encode-text.ts');
const { createImageSet, createTextSet, parseTextBody, setItems } = await load<typeof SetsMod>('usecases/stimulus-sets.ts');
const { SessionPool } = await load<typeof PoolMod>('inference/pool.ts');
const { WarmPools } = await load<typeof WarmPoolsMod>('pipeline/warm-pools.ts');
const { sessionOptions } = await load<typeof SessionOptionsMod>('inference/session-options.ts');
const { toTensor } = await load<typeof SessionCoreMod>('inference/session-core.ts');
const { pooledGraphFor } = await load<typeof PooledGraphMod>('pipeline/pooled-graph.ts');
const { pooledOutputName, TOKEN_MASK_INPUT } = await load<typeof PoolingNamesMod>('domain/pooling.ts');

export interface PhaseSpec {
  phase: 'register' | 'contrast' | 'ort' | 'decode' | 'peer' | 'isolation';
  dataDir: string;
  out: string;
  /** register: the model folder and the stimulus sources (image folders or .txt files). */
  modelFolder?: string;
  sourceA?: string;
  sourceB?: string;
  /** contrast / ort / decode / peer: what register returned, and the number of stimuli per condition. */
  modelId?: string;
  setA?: string;
  setB?: string;
  perCondition?: number;
  /** contrast / ort: batches by token length (the pipeline's default) or in stimulus order. */
  batchOrder?: 'length' | 'stimulus';
  /** ort: run toposcope's pooled copy of the model (pipeline/pooled-graph.ts), fetching the pooled layers. */
  pooledCopy?: boolean;
  /** contrast: empty the image cache first ('cold'), use it as left by an earlier step ('warm'), or none ('off'). */
  cache?: 'cold' | 'warm' | 'off';
  /**
   * contrast: 'fresh' (default) starts the sessions as the first job after a server start does;
   * 'kept' first runs the same contrast untimed, then times a second one on the session pool the
   * first handed back (what a server's next job on that model finds: TOPOSCOPE_SESSION_IDLE_SECONDS).
   */
  session?: 'fresh' | 'kept';
  /** contrast: write every layer's t (and the significant-unit count) here, for the peer comparison. */
  dumpT?: string;
  /** isolation: rounds (each runs both isolations, the order alternating) and the poolings to run. */
  rounds?: number;
  poolings?: string[];
}

export interface RegisterResult {
  modelId: string;
  modelName: string;
  modality: 'image' | 'text';
  layers: { name: string; units: number; tensor: string }[];
  /** model.onnx as registered, and the pruned file the workers run (graph + external weights). */
  modelBytes: number;
  exposedBytes: number;
  setA: { id: string; name: string; items: number };
  setB: { id: string; name: string; items: number };
  registerMs: number;
  /** process.resourceUsage().maxRSS during the model's registration (before the sets), MB. */
  maxRssMB: number;
  /** With the child processes registration starts (tensor listing, probes). */
  tree: TreeRssPeaks;
  /** RSS of the process before registration, MB (Node + tsx + modules). */
  rssBeforeMB: number;
}

export interface MemoryPeaks {
  /** process.resourceUsage().maxRSS at the end of the step, MB (this process only: main thread and worker threads). */
  maxRssMB: number;
  /** With the session child processes (bench/tree-rss.ts). */
  tree: TreeRssPeaks;
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
  cache: string;
  session: string;
  timings: {
    totalMs: number;
    setupMs: number;
    sessionReused: number;
    planMs: number;
    encodeMs: number;
    inferenceMs: number;
    inferenceWallMs: number;
    statsMs: number;
    imagesDecoded: number;
    imagesCached: number;
    paddedTokens: number;
    realTokens: number;
    analysisWorkers: number;
  };
  /** ms from the start of runContrast at which each batch had been folded into the moments. */
  batchDoneMs: number[];
  layers: { name: string; units: number; significant: number; maxT: number; minT: number }[];
  memory: MemoryPeaks;
  cpuMs: number;
  loadavg: number[];
}

export interface OrtResult {
  stimuli: number;
  batchSize: number;
  batches: number;
  batchOrder: string;
  intraOpThreads: number;
  fetch: string[];
  encodeMs: number;
  sessionCreateMs: number;
  runMs: number;
  runMsPerBatch: number[];
  paddedTokens: number;
  memory: MemoryPeaks;
  loadavg: number[];
}

export interface IsolationRun {
  isolation: 'thread' | 'process';
  pooling: string;
  round: number;
  /** SessionPool.create until every session is ready. */
  createMs: number;
  /** All batches through pool.pool, wall; the sessions' summed session.run inside it. */
  loopMs: number;
  runMs: number;
  closeMs: number;
  /** Bytes of pooled rows (data, sample, token) that came back, and of inputs sent. */
  bytesBack: number;
  bytesSent: number;
  loadavg: number[];
}

export interface IsolationResult {
  stimuli: number;
  batches: number;
  batchSize: number;
  workers: number;
  intraOpThreads: number;
  inFlight: number;
  encodeMs: number;
  runs: IsolationRun[];
}

export interface DecodeResult {
  images: number;
  /** Wall time to decode and resize every image at once. */
  ms: number;
  cpuMs: number;
  uvThreadpool: number;
  loadavg: number[];
}

const MB = 1024 * 1024;

class MemorySampler {
  private peaks = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  private n = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly rssBefore = process.memoryUsage().rss;
  private readonly tree = new TreeRss();
  start(everyMs = 25): this {
    this.tree.start();
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
      tree: this.tree.stop(),
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
    const rssBefore = process.memoryUsage().rss;
    const tree = new TreeRss().start();
    const t0 = performance.now();
    const { model } = await registerModelFromFolder(ctx, spec.modelFolder!, { trusted: true, source: `bench:${spec.modelFolder}` });
    const registerMs = performance.now() - t0;
    const maxRssMB = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
    const treePeaks = tree.stop();
    const a = await createSet(ctx, spec.sourceA!);
    const b = await createSet(ctx, spec.sourceB!);
    const dir = modelDir(ctx, model);
    const size = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.statSync(path.join(dir, f)).size : 0);
    return {
      modelId: model.id,
      modelName: model.name,
      modality: model.modality,
      layers: model.info.layers.map((l) => ({ name: l.name, units: l.units, tensor: l.tensor })),
      modelBytes: size(MODEL_FILE),
      exposedBytes: size(EXPOSED_FILE) + size(EXPOSED_DATA_FILE),
      setA: { id: a.id, name: a.name, items: a.nItems },
      setB: { id: b.id, name: b.name, items: b.nItems },
      registerMs,
      maxRssMB,
      tree: treePeaks,
      rssBeforeMB: Math.round((rssBefore / MB) * 10) / 10,
    };
  } finally {
    closeContext(ctx);
  }
}

/** The sets' items, each condition cycled to `perCondition` stimuli: all of A, then all of B (as planStimuli orders them). */
function benchStimuli(ctx: Context, spec: PhaseSpec): Stimulus[] {
  const all = planStimuli([spec.setA!], [spec.setB!], (id) => setItems(ctx, id));
  const out: Stimulus[] = [];
  for (const cond of ['a', 'b'] as const) {
    const items = all.filter((s) => s.condition === cond);
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
    const cache = spec.cache ?? 'cold';
    const env = contrastEnv(ctx, model);
    if (cache === 'cold' && env.imageCache) fs.rmSync(env.imageCache.dir, { recursive: true, force: true });
    if (cache === 'off') env.imageCache = null;
    const tc = performance.now();
    const stimuli = benchStimuli(ctx, spec);
    const collectMs = performance.now() - tc;
    const session = spec.session ?? 'fresh';
    const pools = session === 'kept' ? new WarmPools(600_000) : null;
    const go = (onProgress?: () => void) =>
      runContrast(
        { ...env, pools },
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
          batchOrder: spec.batchOrder ?? 'length',
        },
        { onProgress },
      );
    if (pools) await go(); // untimed: its sessions are handed back to `pools`
    const mem = new MemorySampler().start();
    const batchDoneMs: number[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const outcome = await go(() => batchDoneMs.push(performance.now() - t0));
    const e2eMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const memory = mem.stop();
    await pools?.close();
    const t = outcome.timings;
    if (spec.dumpT) {
      fs.writeFileSync(
        spec.dumpT,
        JSON.stringify({
          significant: outcome.layers.reduce((s, l) => s + l.summary.significant, 0),
          t: Object.fromEntries(outcome.layers.map((l) => [l.name, Array.from(l.t, (v) => (Number.isFinite(v) ? v : null))])),
        }),
      );
    }
    return {
      stimuli: stimuli.length,
      nA: stimuli.filter((s) => s.condition === 'a').length,
      nB: stimuli.filter((s) => s.condition === 'b').length,
      batchSize: model.info.dynamicBatch ? ctx.config.batchSize : 1,
      batches: t.batches,
      workers: ctx.config.workers,
      intraOpThreads: ctx.config.intraOpThreads,
      collectMs,
      e2eMs,
      cache,
      session,
      timings: {
        totalMs: t.totalMs,
        setupMs: t.setupMs,
        sessionReused: t.sessionReused ?? 0,
        planMs: t.planMs ?? 0,
        encodeMs: t.encodeMs,
        inferenceMs: t.inferenceMs,
        inferenceWallMs: t.inferenceWallMs,
        statsMs: t.statsMs,
        imagesDecoded: t.imagesDecoded ?? 0,
        imagesCached: t.imagesCached ?? 0,
        paddedTokens: t.paddedTokens ?? 0,
        realTokens: t.realTokens ?? 0,
        analysisWorkers: t.analysisWorkers ?? 1,
      },
      batchDoneMs,
      layers: outcome.layers.map((l) => ({ name: l.name, units: l.units, significant: l.summary.significant, maxT: l.summary.maxT, minT: l.summary.minT })),
      memory,
      cpuMs: (cpu.user + cpu.system) / 1000,
      loadavg: os.loadavg(),
    };
  } finally {
    closeContext(ctx);
  }
}

/** The batches a contrast feeds (by token length or in stimulus order), encoded with the pipeline's encoders. */
async function encodeBatches(
  ctx: Context,
  model: ModelRecord,
  stimuli: Stimulus[],
  batchSize: number,
  order: string,
): Promise<{ batches: { feeds: Record<string, FeedSpec>; lengths: Int32Array | null }[]; paddedTokens: number }> {
  const batches: { feeds: Record<string, FeedSpec>; lengths: Int32Array | null }[] = [];
  let paddedTokens = 0;
  if (model.modality === 'text') {
    const enc = new TextIds(model.manifest.input.text!, modelDir(ctx, model));
    const tokens = tokenTable(stimuli.length, (i) => enc.checkedIds(stimuli[i].item.text ?? '', `#${i}`).ids);
    const plan = order === 'length' ? planBatchesByLength(tokens, batchSize) : planBatches(stimuli.length, batchSize);
    for (const b of plan) {
      const ids = Array.from({ length: b.end - b.start }, (_, k) => {
        const i = stimulusOf(b, k);
        return tokens.ids.subarray(tokens.offsets[i], tokens.offsets[i + 1]);
      });
      const e = padIds(model.manifest.input.text!, ids);
      const d = Object.values(e.feeds)[0].dims;
      paddedTokens += d[0] * d[1];
      batches.push({ feeds: e.feeds, lengths: e.lengths });
    }
  } else {
    const image = model.manifest.input.image!;
    for (let i = 0; i < stimuli.length; i += batchSize) {
      const slice = stimuli.slice(i, i + batchSize);
      batches.push({ feeds: { [image.name]: await encodeImages(slice.map((st) => readItemBytes(ctx, st.item)), image) }, lengths: null });
    }
  }
  return { batches, paddedTokens };
}

/** The registered model, its folder, the bench's stimuli and the batch size a contrast would use. */
function batchInputs(ctx: Context, spec: PhaseSpec): { model: ModelRecord; dir: string; stimuli: Stimulus[]; batchSize: number } {
  const model = requireModelRecord(ctx, spec.modelId!);
  return { model, dir: modelDir(ctx, model), stimuli: benchStimuli(ctx, spec), batchSize: model.info.dynamicBatch ? Math.max(1, ctx.config.batchSize) : 1 };
}

async function bareOrt(spec: PhaseSpec): Promise<OrtResult> {
  const ctx = openContext(spec.dataDir);
  try {
    const { model, dir, stimuli, batchSize } = batchInputs(ctx, spec);
    const pooled = spec.pooledCopy ? await pooledGraphFor(path.join(dir, EXPOSED_FILE), model.info.layers.map((l) => ({ ...l, rank: l.probeShape.length })), model.modality) : null;
    if (spec.pooledCopy && !pooled) throw new Error(`the layers of ${model.name} cannot be pooled in the graph`);
    const fetch = pooled
      ? model.info.layers.map((l) => pooledOutputName(l.tensor, l.unitAxis, l.pooling as 'mean' | 'max'))
      : [...new Set(model.info.layers.map((l) => l.tensor))];
    const order = model.modality === 'text' && batchSize > 1 ? (spec.batchOrder ?? 'length') : 'stimulus';

    // Encode every batch first, with the pipeline's encoders and the same batches as the pipeline (or stimulus order).
    const te = performance.now();
    const { batches, paddedTokens } = await encodeBatches(ctx, model, stimuli, batchSize, order);
    const encodeMs = performance.now() - te;
    const feeds = batches.map((b) => {
      const f = { ...b.feeds };
      if (pooled?.mask) f[TOKEN_MASK_INPUT] = tokenMask(b.lengths!, f[model.manifest.input.text!.idsInput].dims[1]);
      return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toTensor(v)]));
    });

    const mem = new MemorySampler();
    const ts = performance.now();
    // The same session options as the session workers (src/inference/session-options.ts).
    const session = await ort.InferenceSession.create(pooled ? pooled.path : path.join(dir, EXPOSED_FILE), sessionOptions(ctx.config.intraOpThreads));
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
      batchOrder: order,
      intraOpThreads: ctx.config.intraOpThreads,
      fetch,
      encodeMs,
      sessionCreateMs,
      runMs: runMsPerBatch.reduce((s, x) => s + x, 0),
      runMsPerBatch,
      paddedTokens,
      memory,
      loadavg: os.loadavg(),
    };
  } finally {
    closeContext(ctx);
  }
}

/**
 * Thread against process isolation of the session pool on the same pre-encoded batches. Each round
 * runs both (the order alternating between rounds, so drift in the machine's load hits both alike);
 * inputs are copied before the timed loop (the pool takes ownership of what it sends).
 */
async function isolation(spec: PhaseSpec): Promise<IsolationResult> {
  const ctx = openContext(spec.dataDir);
  try {
    const { model, dir, stimuli, batchSize } = batchInputs(ctx, spec);
    const order = model.modality === 'text' && batchSize > 1 ? 'length' : 'stimulus';
    const te = performance.now();
    const { batches } = await encodeBatches(ctx, model, stimuli, batchSize, order);
    const encodeMs = performance.now() - te;
    const workers = ctx.config.workers;
    const inFlight = workers + 1;
    const runs: IsolationRun[] = [];
    const rounds = Math.max(1, spec.rounds ?? 3);
    for (let round = 0; round < rounds; round++) {
      const isos: ('thread' | 'process')[] = round % 2 === 0 ? ['thread', 'process'] : ['process', 'thread'];
      for (const pooling of spec.poolings ?? ['default']) {
        const layers = model.info.layers.map((l) => ({ key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: pooling === 'default' ? l.pooling : pooling }));
        for (const iso of isos) {
          const copies = batches.map((b) => ({ feeds: Object.fromEntries(Object.entries(b.feeds).map(([k, f]) => [k, { ...f, data: f.data.slice(0) }])), lengths: b.lengths }));
          const bytesSent = copies.reduce((n, b) => n + Object.values(b.feeds).reduce((m, f) => m + f.data.byteLength, 0), 0);
          const t0 = performance.now();
          const pool = await SessionPool.create(path.join(dir, EXPOSED_FILE), { workers, intraOpThreads: ctx.config.intraOpThreads, isolation: iso, label: model.name });
          const createMs = performance.now() - t0;
          let runMs = 0;
          let bytesBack = 0;
          const tl = performance.now();
          const pending = new Map<number, ReturnType<typeof pool.pool>>();
          let next = 0;
          for (let i = 0; i < copies.length; i++) {
            while (next < copies.length && pending.size < inFlight) {
              const p = pool.pool(copies[next].feeds, layers, copies[next].lengths, `batch ${next + 1} of ${copies.length}`);
              p.catch(() => undefined);
              pending.set(next++, p);
            }
            const r = await pending.get(i)!;
            pending.delete(i);
            runMs += r.runMs;
            for (const l of r.layers) bytesBack += l.data.byteLength + l.sample.byteLength + l.token.byteLength;
          }
          const loopMs = performance.now() - tl;
          const tc = performance.now();
          await pool.close();
          runs.push({ isolation: iso, pooling, round, createMs, loopMs, runMs, closeMs: performance.now() - tc, bytesBack, bytesSent, loadavg: os.loadavg() });
        }
      }
    }
    return { stimuli: stimuli.length, batches: batches.length, batchSize, workers, intraOpThreads: ctx.config.intraOpThreads, inFlight, encodeMs, runs };
  } finally {
    closeContext(ctx);
  }
}

async function bareDecode(spec: PhaseSpec): Promise<DecodeResult> {
  const ctx = openContext(spec.dataDir);
  try {
    const model = requireModelRecord(ctx, spec.modelId!);
    const image = model.manifest.input.image!;
    const stimuli = benchStimuli(ctx, spec);
    const bufs = stimuli.map((s) => readItemBytes(ctx, s.item)); // read beforehand: decoding only
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(bufs.map((b, i) => decodePixels(b, image, `#${i}`)));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { images: bufs.length, ms, cpuMs: (cpu.user + cpu.system) / 1000, uvThreadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4), loadavg: os.loadavg() };
  } finally {
    closeContext(ctx);
  }
}

/** The peer script's inputs: the stimuli in order with their labels, as token ids (toposcope's tokenizer) or image files. */
async function peerInput(spec: PhaseSpec): Promise<{ labels: string[]; ids?: number[][]; files?: string[] }> {
  const ctx = openContext(spec.dataDir);
  try {
    const model = requireModelRecord(ctx, spec.modelId!);
    const stimuli = benchStimuli(ctx, spec);
    const labels = stimuli.map((s) => s.condition);
    if (model.modality === 'text') {
      const enc = new TextIds(model.manifest.input.text!, modelDir(ctx, model));
      return { labels, ids: stimuli.map((s, i) => enc.checkedIds(s.item.text ?? '', `#${i}`).ids) };
    }
    return { labels, files: stimuli.map((s) => path.join(ctx.paths.data, s.item.path!)) };
  } finally {
    closeContext(ctx);
  }
}

async function main(): Promise<void> {
  const specFile = process.argv[2];
  if (!specFile) throw new Error('usage: node --import tsx bench/phase.ts <spec.json>');
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as PhaseSpec;
  const run = { register, contrast, ort: bareOrt, decode: bareDecode, peer: peerInput, isolation }[spec.phase];
  if (!run) throw new Error(`unknown phase '${spec.phase}'`);
  fs.writeFileSync(spec.out, JSON.stringify(await run(spec)));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
