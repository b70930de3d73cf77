/**
 * Stage 2, infer: encode each batch (images decoded and normalised, texts padded from the token ids of
 * the plan stage), run it on the session workers — pooling the layers there, or scoring a behaviour
 * output under lesion configurations — and hand the results back in batch order. A bounded number of
 * batches is in flight at once, so encoding overlaps inference.
 */
import { UnprocessableError } from '../domain/errors.ts';
import type { LesionConfig } from '../domain/lesion.ts';
import type { BehaviourFetch } from '../inference/worker-protocol.ts';
import type { ModelRecord, StimulusItem } from '../domain/records.ts';
import type { DecodeCache } from '../inference/decode-cache.ts';
import { PIXELS_INPUT, pooledOutputName, TOKEN_MASK_INPUT } from '../domain/pooling.ts';
import { imagePixels, packImages } from '../inference/encode.ts';
import { padIds, tokenMask } from '../inference/encode-text.ts';
import type { PooledLayer, SessionPool } from '../inference/pool.ts';
import type { FeedSpec, LayerFetch } from '../inference/worker-protocol.ts';
import { stimulusOf, type Batch, type PlannedLayer, type TokenTable } from './plan.ts';
import type { PooledGraph } from './pooled-graph.ts';

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
  }
}

export interface InferTimings {
  encodeMs: number;
  inferenceMs: number;
  batches: number;
  /** Images decoded, and images whose pixels came from the decode cache. */
  imagesDecoded: number;
  imagesCached: number;
  /** Token positions fed (batch × longest text, summed) and real tokens, for text models. */
  paddedTokens: number;
  realTokens: number;
}

/** What infer needs of a stimulus: its item (hash, bytes, label for messages). */
export interface InferStimulus {
  item: StimulusItem;
}

/** Score a behaviour output instead of pooling layers: the intact model, then each configuration. */
export interface BehaviourRequest {
  output: BehaviourFetch;
  configs: LesionConfig[];
  /** Class index of each stimulus (−1: none), by stimulus index; classifier outputs. */
  labels: Int32Array | null;
}

export interface InferInput {
  /** The session pool, or its start-up still under way (encoding begins meanwhile). */
  pool: SessionPool | Promise<SessionPool>;
  /** Batches encoded ahead of the workers (default: workers + 1; images decode further ahead). */
  inFlight?: number;
  model: Pick<ModelRecord, 'modality' | 'manifest'>;
  /** Layers to pool (ignored with `behaviour`). */
  layers: PlannedLayer[];
  /** By stimulus index (may be sparse: only the stimuli of the batches are read). */
  stimuli: ArrayLike<InferStimulus>;
  batches: Batch[];
  /** Text models: every text's ids, tokenised in the plan stage. */
  tokens: TokenTable | null;
  /** Raw bytes of an image item. */
  readImage: (item: StimulusItem) => Buffer | Promise<Buffer>;
  /** Preprocessed pixels by item hash and preprocessing parameters (null: decode every time). */
  imageCache?: DecodeCache | null;
  behaviour?: BehaviourRequest;
  /** The pool runs a pooled copy (pooled-graph.ts): these layers come pooled, texts feed the token mask. Known once the pool is. */
  pooled?: PooledGraph | null | Promise<PooledGraph | null>;
  signal?: AbortSignal;
}

/** Input tensors of image batches encoded ahead of the workers, at most (decoding is the slow part). */
const IMAGE_AHEAD_BYTES = 64 * 1024 * 1024;

/**
 * Batches in flight: for image models as many as fit in IMAGE_AHEAD_BYTES (at most 16), so that
 * decoding keeps every core busy while the workers run (once a batch has images to decode); otherwise `base`.
 */
function imagesAhead(model: Pick<ModelRecord, 'modality' | 'manifest'>, batches: Batch[], base: number): number {
  const image = model.manifest.input.image;
  if (model.modality !== 'image' || !image || batches.length === 0) return base;
  const bytes = (batches[0].end - batches[0].start) * image.channels * image.size[0] * image.size[1] * 4;
  return Math.max(base, Math.min(16, Math.floor(IMAGE_AHEAD_BYTES / Math.max(1, bytes))));
}

/** One batch's answer: pooled layers, or per-stimulus measures of the intact model and each configuration. */
export interface BatchOut {
  layers: PooledLayer[] | null;
  results: Record<string, Float64Array>[] | null;
}

const label = (s: InferStimulus) => s.item.label ?? `item ${s.item.position}`;

/** A layer answering with another number of units than it was registered with fails the batch, naming it. */
function checkUnits(out: PooledLayer[], layers: PlannedLayer[], pooled: PooledGraph | null, at: string): void {
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    const got = out[i];
    if (got && got.units === l.units) continue;
    const how = pooled?.layers.has(l.name) ? `its pooled output in the graph has shape [${got?.dims.join(', ')}]` : `its tensor has shape [${got?.dims.join(', ')}]`;
    throw new UnprocessableError(`layer '${l.name}' (tensor '${l.tensor}') gave ${got?.units} units per sample on ${at}, but it was registered with ${l.units} (unit axis ${l.unitAxis}): ${how}. The model file no longer computes what was registered; register it again`);
  }
}

/** Runs every batch; `onBatch` receives each batch's answer, in batch order (awaited: it may fold in steps). */
export async function infer(input: InferInput, onBatch: (batch: Batch, out: BatchOut) => void | Promise<void>): Promise<InferTimings> {
  const { model, stimuli, batches, signal, behaviour } = input;
  const fetchOf = (pooled: PooledGraph | null): LayerFetch[] =>
    input.layers.map((l) =>
      pooled?.layers.has(l.name)
        ? { key: l.name, tensor: pooledOutputName(l.tensor, l.unitAxis, l.pooling as 'mean' | 'max'), unitAxis: l.unitAxis, pooling: l.pooling, pooled: true }
        : { key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: l.pooling },
    );
  let fetch: LayerFetch[] | null = null;
  let pooled: PooledGraph | null = null;
  const text = model.modality === 'text' ? model.manifest.input.text! : null;
  if (text && !input.tokens) throw new Error('infer: text stimuli need their token ids (plan stage)');
  const timings: InferTimings = { encodeMs: 0, inferenceMs: 0, batches: 0, imagesDecoded: 0, imagesCached: 0, paddedTokens: 0, realTokens: 0 };
  const counts: { decoded: number; cached: number; onDecode?: () => void } = { decoded: 0, cached: 0 };
  let pool: SessionPool | null = input.pool instanceof Promise ? null : input.pool;
  const poolReady = input.pool instanceof Promise ? input.pool.then((p) => (pool = p)) : Promise.resolve(input.pool);
  poolReady.catch(() => undefined); // awaited by the first batch
  const pooledGraph = Promise.resolve(input.pooled ?? null).then((g) => g ?? null);
  pooledGraph.catch(() => undefined);
  const where = (b: Batch) => `batch ${b.index + 1} of ${batches.length}`;
  const submit = async (b: Batch, feeds: Record<string, FeedSpec>, lengths: Int32Array | null): Promise<BatchOut & { runMs: number }> => {
    const at = where(b);
    const p = pool ?? (await poolReady);
    if (!behaviour) {
      if (!fetch) {
        pooled = await pooledGraph;
        fetch = fetchOf(pooled);
      }
      if (pooled?.mask && text && lengths) feeds = { ...feeds, [TOKEN_MASK_INPUT]: tokenMask(lengths, feeds[text.idsInput].dims[1]) };
      const r = await p.pool(feeds, fetch, lengths, at);
      checkUnits(r.layers, input.layers, pooled, at);
      return { layers: r.layers, results: null, runMs: r.runMs };
    }
    let targets: Int32Array | null = null;
    if (text) {
      const ids = new BigInt64Array(feeds[text.idsInput].data);
      targets = new Int32Array(ids.length);
      for (let i = 0; i < ids.length; i++) targets[i] = Number(ids[i]);
    }
    let labels: Int32Array | null = null;
    if (behaviour.labels) {
      labels = new Int32Array(b.end - b.start);
      for (let k = 0; k < labels.length; k++) labels[k] = behaviour.labels[stimulusOf(b, k)];
    }
    const r = await p.behaviour(feeds, behaviour.output, { lengths, targets, labels }, behaviour.configs, at);
    return { layers: null, results: r.results, runMs: r.runMs };
  };
  let encodeTurn: Promise<void> = Promise.resolve();
  const launch = async (b: Batch) => {
    const te = performance.now();
    const n = b.end - b.start;
    if (text) {
      const tokens = input.tokens!;
      const enc = padIds(
        text,
        Array.from({ length: n }, (_, k) => {
          const i = stimulusOf(b, k);
          return tokens.ids.subarray(tokens.offsets[i], tokens.offsets[i + 1]);
        }),
      );
      const dims = enc.feeds[text.idsInput].dims;
      timings.paddedTokens += dims[0] * dims[1];
      for (const len of enc.lengths) timings.realTokens += len;
      timings.encodeMs += performance.now() - te;
      return submit(b, enc.feeds, enc.lengths);
    }
    // Cached images encode synchronously: batches start their encoding one per turn of the event loop
    // (each after the one before), so that sending a batch to its session and the sessions' answers
    // are not held up behind every batch encoded ahead.
    const mine = encodeTurn.then(() => new Promise<void>((r) => setImmediate(r)));
    encodeTurn = mine;
    await mine;
    const image = model.manifest.input.image!;
    const slice: InferStimulus[] = [];
    for (let k = 0; k < n; k++) slice.push(stimuli[stimulusOf(b, k)]);
    const pixels = await imagePixels(
      slice.map((s) => ({ sha256: s.item.sha256, read: () => input.readImage(s.item), label: label(s) })),
      image,
      input.imageCache ?? null,
      counts,
    );
    timings.encodeMs += performance.now() - te;
    // 8-bit pixels for a copy that normalises them itself; known once the sessions are started.
    const bytes = !behaviour && (await pooledGraph)?.pixels === true;
    const tp = performance.now();
    const feed = packImages(pixels, image, bytes ? 'uint8' : 'float32');
    timings.encodeMs += performance.now() - tp;
    return submit(b, { [bytes ? PIXELS_INPUT : image.name]: feed }, null);
  };
  const inFlight = new Map<number, Promise<BatchOut & { runMs: number }>>();
  const base = Math.max(1, input.inFlight ?? (pool ? pool.size + 1 : 2));
  const deep = imagesAhead(model, batches, base);
  // Batches whose pixels are all cached encode in about a millisecond: running far ahead of the
  // sessions would only take a core from them. The window opens wide at the first image to decode.
  let maxInFlight = input.imageCache && deep > base ? base + 1 : deep;
  // Wakes the wait below when the window opens (a promise per wait: one kept for the whole job would
  // hold every batch's answer through the races it took part in).
  let wake: (() => void) | null = null;
  counts.onDecode = () => {
    if (maxInFlight === deep) return;
    maxInFlight = deep;
    wake?.();
  };
  let next = 0;
  try {
    for (let bi = 0; bi < batches.length; bi++) {
      let res: BatchOut & { runMs: number };
      for (;;) {
        while (next < batches.length && inFlight.size < maxInFlight) {
          if (signal?.aborted) throw new CancelledError();
          const p = launch(batches[next]);
          p.catch(() => undefined); // awaited below, in order
          inFlight.set(next, p);
          next++;
        }
        let r: (BatchOut & { runMs: number }) | 'widened';
        try {
          if (maxInFlight < deep) {
            const widened = new Promise<'widened'>((resolve) => (wake = () => resolve('widened')));
            r = await Promise.race([inFlight.get(bi)!, widened]);
          } else r = await inFlight.get(bi)!;
        } catch (e) {
          if (signal?.aborted) throw new CancelledError();
          throw e;
        } finally {
          wake = null;
        }
        if (r === 'widened') continue; // launch the batches the wider window allows, then wait again
        res = r;
        break;
      }
      inFlight.delete(bi);
      if (signal?.aborted) throw new CancelledError();
      timings.inferenceMs += res.runMs;
      timings.batches++;
      await onBatch(batches[bi], res);
    }
    await input.imageCache?.flush();
  } finally {
    timings.imagesDecoded = counts.decoded;
    timings.imagesCached = counts.cached;
  }
  return timings;
}
