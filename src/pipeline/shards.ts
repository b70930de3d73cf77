/**
 * A pass through the model, split into shards: a shard is a contiguous slice of the planned batches.
 * Each shard folds its batches into a partial (partials.ts), and partials are handed on in shard order.
 * Embedded, the batches run here on the session pool; distributed, an executor (the coordinator's queue)
 * sends the shards to workers, which run {@link computeShard} on the same code. Either way a result is
 * the merge of the same partials in the same order.
 *
 * Also the wire documents a worker reads: the pass (model files, layers, fold) and each shard's work
 * (its batches, stimuli by content hash, token ids).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LesionConfig, LesionSite } from '../domain/lesion.ts';
import type { Manifest } from '../domain/manifest.ts';
import type { Modality, ModelRecord, StimulusItem } from '../domain/records.ts';
import type { WarmPools } from './warm-pools.ts';
import { decodeCacheFor, type DecodeCache } from '../inference/decode-cache.ts';
import { SessionPool } from '../inference/pool.ts';
import { TokenizerThread } from '../inference/tokenizer-thread.ts';
import { inspectModelFile } from '../onnx/model.ts';
import { infer, type InferTimings } from './infer.ts';
import { pooledGraphFor, type PooledGraph } from './pooled-graph.ts';
import { ShardFolder, type FoldSpec, type Partial } from './partials.ts';
import type { Batch, PlannedLayer, TokenTable } from './plan.ts';

/** BullMQ names shared by the coordinator and the workers. */
export const SHARD_QUEUE = 'toposcope-shards';
export const PASS_QUEUE = 'toposcope-passes';
/** Redis pub/sub channel: a pass id published here stops its running shards. */
export const CANCEL_CHANNEL = 'toposcope:cancel';

/** A stimulus of a pass: its set (index into the job's sets), its item and, for classifiers, its class (−1: none). */
export interface PassStimulus {
  setIndex: number;
  item: StimulusItem;
  classIndex?: number;
}

export interface PassPlan {
  /** Unique within a job: 'main', 'reference', 'evaluation', 'tokens', … */
  name: string;
  model: Pick<ModelRecord, 'name' | 'modality' | 'manifest'>;
  /** The ONNX file the pass runs (pruned copy or lesion copy). */
  onnxPath: string;
  /** A lesion copy: its sites, with `config` written into them for pooling (null: intact). */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
  layers: PlannedLayer[];
  stimuli: PassStimulus[];
  batches: Batch[];
  tokens: TokenTable | null;
  fold: FoldSpec;
  shardBatches: number;
}

export interface Shard {
  index: number;
  /** Batch positions [from, to). */
  from: number;
  to: number;
  stimuli: number;
}

export function shardsOf(plan: Pick<PassPlan, 'batches' | 'shardBatches'>): Shard[] {
  const per = Math.max(1, plan.shardBatches);
  const out: Shard[] = [];
  for (let from = 0, index = 0; from < plan.batches.length; from += per, index++) {
    const to = Math.min(plan.batches.length, from + per);
    let n = 0;
    for (let b = from; b < to; b++) n += plan.batches[b].end - plan.batches[b].start;
    out.push({ index, from, to, stimuli: n });
  }
  return out;
}

/** Stimulus range [start, end) of a shard whose batches are in stimulus order. */
function rangeOf(batches: Batch[]): { start: number; end: number } {
  return { start: batches[0]?.start ?? 0, end: batches[batches.length - 1]?.end ?? 0 };
}

export interface PassTimings extends InferTimings {
  /** Until the first inference could start (session start-up); 0 when remote. */
  setupMs: number;
  wallMs: number;
  shards: number;
  /** The pass took a session pool kept open from an earlier one. */
  sessionReused?: boolean;
  /** Layers the graph pooled itself (a pooled copy of the model: pooled-graph.ts). */
  pooledInGraph?: number;
  /** Remote: bytes of partials received, and the coordinator's time receiving (stream, check, store) and merging them. */
  partialBytes?: number;
  receiveMs?: number;
  mergeMs?: number;
}

export interface PassHooks {
  signal?: AbortSignal;
  /** Stimuli folded so far (embedded: per batch; distributed: merged shards). */
  onProgress?: (done: number, total: number) => void;
}

/** Runs the shards of a pass somewhere else, handing their partials back in shard order. */
export interface PassExecutor {
  run(plan: PassPlan, onShard: (shard: number, partial: Partial) => void, hooks: PassHooks): Promise<PassTimings>;
}

/** Where a pass runs: here (session workers of this process) or, with `remote`, on the workers of a queue. */
export interface PassRuntime {
  workers: number;
  intraOpThreads: number;
  readImage: (item: StimulusItem) => Buffer | Promise<Buffer>;
  imageCache?: { dir: string; maxBytes: number } | null;
  remote?: PassExecutor | null;
  /** Sessions kept open between passes (null: each pass starts its own and closes it). */
  pools?: WarmPools | null;
  /** Mean/max layers pooled by a copy of the graph (pooled-graph.ts); default true. */
  poolInGraph?: boolean;
}

/** Texts tokenised once (on a thread): the token table and which texts were cut to maxTokens. */
export async function tokenise(model: Pick<ModelRecord, 'manifest'>, modelDir: string, texts: string[], labels: string[]): Promise<{ tokens: TokenTable; truncated: Uint8Array }> {
  const tok = new TokenizerThread(model.manifest.input.text!, modelDir);
  try {
    const t = await tok.table(texts, labels);
    return { tokens: { offsets: t.offsets, ids: t.ids }, truncated: t.truncated };
  } finally {
    await tok.close();
  }
}

function units(plan: Pick<PassPlan, 'layers'>): number[] {
  return plan.layers.map((l) => l.units);
}

function labelsOf(stimuli: ArrayLike<PassStimulus | undefined>, n: number): Int32Array {
  const out = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) out[i] = stimuli[i]?.classIndex ?? -1;
  return out;
}

/** Folds the given batches shard by shard (in order) through a running pool; the shared core of both paths. */
async function foldShards(
  input: {
    pool: SessionPool | Promise<SessionPool>;
    inFlight: number;
    model: Pick<ModelRecord, 'modality' | 'manifest'>;
    layers: PlannedLayer[];
    stimuli: ArrayLike<PassStimulus>;
    total: number;
    batches: Batch[];
    shards: Shard[];
    tokens: TokenTable | null;
    fold: FoldSpec;
    readImage: PassRuntime['readImage'];
    imageCache: DecodeCache | null;
    pooled: PooledGraph | null | Promise<PooledGraph | null>;
    signal?: AbortSignal;
  },
  onShard: (shard: number, p: Partial) => void,
  onBatch?: (b: Batch) => void,
): Promise<InferTimings> {
  const { fold, stimuli } = input;
  const setOf = (i: number) => stimuli[i].setIndex;
  const u = units(input);
  // Batches of the shards, in order, each tagged with its shard.
  const batches: Batch[] = [];
  const shardOf: number[] = [];
  for (const [k, s] of input.shards.entries()) for (let b = s.from; b < s.to; b++) (batches.push(input.batches[b]), shardOf.push(k));
  let k = 0;
  let folder: ShardFolder | null = null;
  const open = (k: number) => {
    const s = input.shards[k];
    return new ShardFolder(fold, u, setOf, rangeOf(input.batches.slice(s.from, s.to)));
  };
  let seen = 0;
  return infer(
    {
      pool: input.pool,
      inFlight: input.inFlight,
      model: input.model,
      layers: input.layers,
      stimuli,
      batches,
      tokens: input.tokens,
      readImage: input.readImage,
      imageCache: input.imageCache,
      behaviour: fold.kind === 'behaviour' ? { output: fold.output, configs: fold.configs, labels: labelsOf(stimuli, input.total) } : undefined,
      pooled: input.pooled,
      signal: input.signal,
    },
    async (b, out) => {
      const f = (folder ??= open(k));
      // A layer per turn of the event loop: folding a GPT-2-sized batch at once (~15 ms) would hold
      // up the requests the server answers meanwhile.
      for (let i = 0, n = f.steps(out); i < n; i++) {
        if (i > 0) await new Promise((r) => setImmediate(r));
        f.addStep(b, out, i);
      }
      onBatch?.(b);
      seen++;
      const s = input.shards[k];
      if (seen === s.to - s.from) {
        onShard(s.index, f.finish());
        folder = null;
        seen = 0;
        k++;
      }
    },
  );
}

/**
 * The pooled copy (pooled-graph.ts) of a pass' model file, the same on the embedded path and on a
 * worker (`pass` is the wire document); none for behaviour passes, which pool nothing.
 */
export function pooledCopyOf(pass: Pick<PassSpec, 'fold' | 'poolInGraph' | 'layers'> & { model: { modality: Modality; manifest: Manifest } }, onnxPath: string): Promise<PooledGraph | null> {
  if (pass.fold.kind === 'behaviour' || !pass.poolInGraph) return Promise.resolve(null);
  return pooledGraphFor(onnxPath, pass.layers, pass.model.modality, pass.model.manifest.input.image ?? null);
}

type StartedSessions = { pool: SessionPool; key: string; reused: boolean; pooled: PooledGraph | null };

/** A pass' session pool, started ahead of the pass (while its texts are tokenised, say). */
export interface SessionStart {
  readonly onnxPath: string;
  readonly acquired: Promise<StartedSessions>;
}

/**
 * Starts (or takes from `rt.pools`) the sessions of a pass on its pooled copy when its layers can be
 * pooled in the graph; should ONNX Runtime refuse the copy, on the model itself (pooled in JavaScript).
 */
export function startSessions(rt: PassRuntime, plan: Pick<PassPlan, 'onnxPath' | 'layers' | 'model' | 'fold' | 'lesion'>): SessionStart {
  const poolOptions = { workers: rt.workers, intraOpThreads: rt.intraOpThreads, lesion: plan.lesion, label: plan.model.name };
  const start = (file: string) => (rt.pools ? rt.pools.acquire(file, poolOptions) : SessionPool.create(file, poolOptions).then((pool) => ({ pool, key: '', reused: false })));
  const acquired = pooledCopyOf({ fold: plan.fold, poolInGraph: rt.poolInGraph !== false, layers: plan.layers.map(wireLayer), model: plan.model }, plan.onnxPath).then((pooled) =>
    pooled
      ? start(pooled.path).then(
          (a) => ({ ...a, pooled }),
          () => start(plan.onnxPath).then((a) => ({ ...a, pooled: null })),
        )
      : start(plan.onnxPath).then((a) => ({ ...a, pooled: null })),
  );
  acquired.catch(() => undefined); // awaited by the pass, or by releaseSessions
  return { onnxPath: plan.onnxPath, acquired };
}

/** Hands started sessions back without a pass (kept for the next pass when healthy and `rt.pools`). */
export async function releaseSessions(rt: PassRuntime, s: SessionStart, healthy: boolean): Promise<void> {
  await s.acquired.then(
    (a) => (rt.pools ? rt.pools.release(a.key, a.pool, healthy && a.pool.size === Math.max(1, rt.workers)) : a.pool.close()),
    () => undefined,
  );
}

/**
 * Runs a pass: embedded on this process' session workers (those of `started` when given, else started
 * now), or through `rt.remote`.
 */
export async function runPass(rt: PassRuntime, plan: PassPlan, onShard: (shard: number, p: Partial) => void, hooks: PassHooks = {}, started?: SessionStart): Promise<PassTimings> {
  if (rt.remote) return rt.remote.run(plan, onShard, hooks);
  if (started && started.onnxPath !== plan.onnxPath) throw new Error(`runPass: sessions were started for ${started.onnxPath}, not ${plan.onnxPath}`);
  const t0 = performance.now();
  const shards = shardsOf(plan);
  let setupMs = 0;
  const { acquired } = started ?? startSessions(rt, plan);
  let reused = false;
  const poolPromise = acquired.then((a) => {
    setupMs = performance.now() - t0;
    reused = a.reused;
    return a.pool;
  });
  let pool: SessionPool | null = null;
  poolPromise.then((p) => (pool = p), () => undefined);
  const onAbort = () => void pool?.close();
  hooks.signal?.addEventListener('abort', onAbort);
  const cache = plan.model.modality === 'image' && rt.imageCache && rt.imageCache.maxBytes > 0 ? decodeCacheFor(rt.imageCache.dir, rt.imageCache.maxBytes) : null;
  let done = 0;
  let ok = false;
  try {
    const t = await foldShards(
      { pool: poolPromise, inFlight: rt.workers + 1, model: plan.model, layers: plan.layers, stimuli: plan.stimuli, total: plan.stimuli.length, batches: plan.batches, shards, tokens: plan.tokens, fold: plan.fold, readImage: rt.readImage, imageCache: cache, pooled: acquired.then((a) => a.pooled), signal: hooks.signal },
      onShard,
      (b) => {
        done += b.end - b.start;
        hooks.onProgress?.(done, plan.stimuli.length);
      },
    );
    ok = true;
    const inGraph = (await acquired).pooled;
    return { ...t, setupMs, wallMs: performance.now() - t0, shards: shards.length, sessionReused: reused, pooledInGraph: inGraph ? plan.layers.filter((l) => inGraph.layers.has(l.name)).length : 0 };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await releaseSessions(rt, { onnxPath: plan.onnxPath, acquired }, ok && !hooks.signal?.aborted);
  }
}

/**
 * Streams bytes to `file` (fsync'd), hashing them; the file is removed on any error. Both sides of
 * the wire use it: the coordinator for partials, workers for blobs. `tooLarge` is thrown past `maxBytes`.
 */
export async function writeHashed(chunks: AsyncIterable<Uint8Array>, file: string, maxBytes = Infinity, tooLarge = () => new Error(`more than ${maxBytes} bytes`)): Promise<{ sha256: string; bytes: number }> {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const fd = fs.openSync(file, 'w');
  try {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw tooLarge();
      hash.update(chunk);
      fs.writeSync(fd, chunk);
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return { sha256: hash.digest('hex'), bytes };
}

// ---- what a worker reads ----

export interface WireLayer {
  name: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
  units: number;
  /** Rank of the layer's tensor (from the registration probe). */
  rank: number;
}

/** A pass as a worker sees it (`GET /v1/passes/:pass`). */
export interface PassSpec {
  id: string;
  /** Hash of this document and of every shard's work: a partial belongs to exactly one plan. */
  plan: string;
  name: string;
  shards: number;
  stimuli: number;
  model: { name: string; modality: Modality; manifest: Manifest };
  /** The ONNX file first, then the data files it references; fetched by hash, placed under these names. */
  files: { name: string; sha256: string; bytes: number }[];
  lesion: { sites: LesionSite[]; config: LesionConfig | null } | null;
  layers: WireLayer[];
  fold: FoldSpec;
  /** Workers run the pass' pooled copy, as the coordinator's own passes do (TOPOSCOPE_POOL_IN_GRAPH). */
  poolInGraph: boolean;
}

/** One shard's work (`GET /v1/passes/:pass/shards/:shard`). */
export interface ShardWork {
  shard: number;
  batches: { index: number; start: number; end: number; items?: number[] }[];
  /** The shard's stimuli, with their job-wide index. */
  stimuli: { idx: number; setIndex: number; sha256: string; position: number; label: string | null; classIndex: number }[];
  /** Text models: each stimulus' token ids, in the order of `stimuli`. */
  tokens: number[][] | null;
}

/** The files a worker needs to run `onnxPath`: the file and every external data file it names. */
export function modelFilesOf(onnxPath: string): { name: string; path: string }[] {
  const dir = path.dirname(onnxPath);
  const data = inspectModelFile(onnxPath).externalDataFiles;
  return [{ name: path.basename(onnxPath), path: onnxPath }, ...data.map((f) => ({ name: f, path: path.join(dir, f) }))];
}

function wireLayer(l: PlannedLayer): WireLayer {
  return { name: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: l.pooling, units: l.units, rank: l.probeShape.length };
}

export function passSpecOf(plan: PassPlan, id: string, files: PassSpec['files'], planSha256: string, poolInGraph = true): PassSpec {
  return {
    poolInGraph,
    id,
    plan: planSha256,
    name: plan.name,
    shards: shardsOf(plan).length,
    stimuli: plan.stimuli.length,
    model: { name: plan.model.name, modality: plan.model.modality, manifest: plan.model.manifest },
    files,
    lesion: plan.lesion ?? null,
    layers: plan.layers.map(wireLayer),
    fold: plan.fold,
  };
}

export function shardWorkOf(plan: PassPlan, s: Shard): ShardWork {
  const batches = plan.batches.slice(s.from, s.to);
  const idx: number[] = [];
  for (const b of batches) for (let k = 0; k < b.end - b.start; k++) idx.push(b.items ? b.items[k] : b.start + k);
  const t = plan.tokens;
  return {
    shard: s.index,
    batches: batches.map((b) => ({ index: b.index, start: b.start, end: b.end, ...(b.items ? { items: Array.from(b.items) } : {}) })),
    stimuli: idx.map((i) => {
      const st = plan.stimuli[i];
      return { idx: i, setIndex: st.setIndex, sha256: st.item.sha256, position: st.item.position, label: st.item.label, classIndex: st.classIndex ?? -1 };
    }),
    tokens: t ? idx.map((i) => Array.from(t.ids.subarray(t.offsets[i], t.offsets[i + 1]))) : null,
  };
}

/** What a worker brings to {@link computeShard}. */
export interface ShardEnv {
  pool: SessionPool;
  /** The pool runs this pooled copy of the pass' model (see {@link pooledCopyOf}). */
  pooled: PooledGraph | null;
  readImage: (item: StimulusItem) => Buffer | Promise<Buffer>;
  imageCache: DecodeCache | null;
  signal?: AbortSignal;
}

/** Runs one shard on a worker: the same fold as the embedded path, on the shard's batches only. */
export async function computeShard(spec: PassSpec, work: ShardWork, env: ShardEnv): Promise<{ partial: Partial; timings: InferTimings }> {
  const n = spec.stimuli;
  const stimuli: PassStimulus[] = new Array(n);
  for (const s of work.stimuli) {
    if (!(Number.isInteger(s.idx) && s.idx >= 0 && s.idx < n)) throw new Error(`shard ${work.shard}: stimulus index ${s.idx} outside the pass`);
    const item: StimulusItem = { position: s.position, sha256: s.sha256, label: s.label, classLabel: null, kind: spec.model.modality, mediaType: '', text: null, path: null };
    stimuli[s.idx] = { setIndex: s.setIndex, item, classIndex: s.classIndex };
  }
  let tokens: TokenTable | null = null;
  if (work.tokens) {
    // A job-wide table holding only this shard's texts (every other text has no ids).
    const len = new Int32Array(n);
    work.stimuli.forEach((s, j) => (len[s.idx] = work.tokens![j].length));
    const offsets = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + len[i];
    const ids = new Int32Array(offsets[n]);
    work.stimuli.forEach((s, j) => ids.set(work.tokens![j], offsets[s.idx]));
    tokens = { offsets, ids };
  }
  const batches: Batch[] = work.batches.map((b) => ({ index: b.index, start: b.start, end: b.end, ...(b.items ? { items: Int32Array.from(b.items) } : {}) }));
  const layers = spec.layers.map((l) => ({ ...l, rows: 0, cols: 0, probeShape: [] })) as PlannedLayer[];
  const pooled = env.pooled;
  let partial: Partial | null = null;
  const timings = await foldShards(
    {
      pool: env.pool,
      inFlight: env.pool.size + 1,
      model: spec.model,
      layers,
      stimuli,
      total: n,
      batches,
      shards: [{ index: work.shard, from: 0, to: batches.length, stimuli: work.stimuli.length }],
      tokens,
      fold: spec.fold,
      readImage: env.readImage,
      imageCache: env.imageCache,
      pooled,
      signal: env.signal,
    },
    (_, p) => (partial = p),
  );
  if (!partial) throw new Error(`shard ${work.shard} has no batches`);
  return { partial, timings };
}
