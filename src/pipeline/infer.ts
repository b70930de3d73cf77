/**
 * Stage 2, infer: encode each batch (images decoded and normalised, texts tokenised), run it on the
 * pool's sessions with the layers pooled there, and hand the pooled rows back in batch order. A
 * bounded number of batches is in flight at once, so encoding overlaps inference.
 */
import type { ModelRecord } from '../domain/records.ts';
import type { DecodeCache } from '../inference/decode-cache.ts';
import { encodeImageItems, TextEncoder as TextIds } from '../inference/encode.ts';
import type { PooledLayer, SessionPool } from '../inference/pool.ts';
import type { LayerFetch } from '../inference/worker-protocol.ts';
import { stimulusOf, type Batch, type PlannedLayer, type Stimulus, type TokenTable } from './plan.ts';

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

export interface InferInput {
  /** The session pool, or its start-up still under way (encoding begins meanwhile). */
  pool: SessionPool | Promise<SessionPool>;
  /** Batches encoded ahead of the workers (default: workers + 1; images decode further ahead). */
  inFlight?: number;
  model: ModelRecord;
  /** The model's stored folder (tokenizer files). */
  modelDir: string;
  layers: PlannedLayer[];
  stimuli: Stimulus[];
  batches: Batch[];
  /** Texts tokenised in the plan stage (else each batch is tokenised here). */
  tokens?: TokenTable | null;
  /** Raw bytes of an image item. */
  readImage: (s: Stimulus) => Buffer;
  /** Preprocessed pixels by item hash and preprocessing parameters (null: decode every time). */
  imageCache?: DecodeCache | null;
  signal?: AbortSignal;
}

/** Input tensors of image batches encoded ahead of the workers, at most (decoding is the slow part). */
const IMAGE_AHEAD_BYTES = 64 * 1024 * 1024;

/**
 * Batches in flight: for image models as many as fit in IMAGE_AHEAD_BYTES (at most 16), so that
 * decoding keeps every core busy while the workers run; otherwise `base`.
 */
function imagesAhead(model: ModelRecord, batches: Batch[], base: number): number {
  const image = model.manifest.input.image;
  if (model.modality !== 'image' || !image || batches.length === 0) return base;
  const bytes = (batches[0].end - batches[0].start) * image.channels * image.size[0] * image.size[1] * 4;
  return Math.max(base, Math.min(16, Math.floor(IMAGE_AHEAD_BYTES / Math.max(1, bytes))));
}

/** Runs every batch; `onBatch` receives each batch's pooled layers, in batch order. */
export async function infer(input: InferInput, onBatch: (batch: Batch, layers: PooledLayer[]) => void): Promise<InferTimings> {
  const { model, stimuli, batches, signal } = input;
  const fetch: LayerFetch[] = input.layers.map((l) => ({ key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: l.pooling }));
  const textEnc = model.modality === 'text' ? new TextIds(model.manifest.input.text!, input.modelDir) : null;
  const timings: InferTimings = { encodeMs: 0, inferenceMs: 0, batches: 0, imagesDecoded: 0, imagesCached: 0, paddedTokens: 0, realTokens: 0 };
  const counts = { decoded: 0, cached: 0 };
  let pool: SessionPool | null = input.pool instanceof Promise ? null : input.pool;
  const poolReady = input.pool instanceof Promise ? input.pool.then((p) => (pool = p)) : Promise.resolve(input.pool);
  poolReady.catch(() => undefined); // awaited by the first batch
  const label = (s: Stimulus) => s.item.label ?? `${s.setId}#${s.item.position}`;
  const where = (b: Batch) => `batch ${b.index + 1} of ${batches.length}`;
  const launch = async (b: Batch) => {
    const slice: Stimulus[] = [];
    for (let k = 0; k < b.end - b.start; k++) slice.push(stimuli[stimulusOf(b, k)]);
    const te = performance.now();
    if (textEnc) {
      const tokens = input.tokens;
      const enc = tokens
        ? textEnc.encodeIds(Array.from({ length: slice.length }, (_, k) => {
            const i = stimulusOf(b, k);
            return tokens.ids.subarray(tokens.offsets[i], tokens.offsets[i + 1]);
          }))
        : textEnc.encode(slice.map((s) => s.item.text ?? ''), slice.map(label));
      const dims = Object.values(enc.feeds)[0].dims;
      timings.paddedTokens += dims[0] * dims[1];
      for (const n of enc.lengths) timings.realTokens += n;
      timings.encodeMs += performance.now() - te;
      return (pool ?? (await poolReady)).pool(enc.feeds, fetch, enc.lengths, where(b));
    }
    const image = model.manifest.input.image!;
    const feed = await encodeImageItems(
      slice.map((s) => ({ sha256: s.item.sha256, read: () => input.readImage(s), label: label(s) })),
      image,
      input.imageCache ?? null,
      counts,
    );
    timings.encodeMs += performance.now() - te;
    return (pool ?? (await poolReady)).pool({ [image.name]: feed }, fetch, null, where(b));
  };
  const inFlight = new Map<number, Promise<{ layers: PooledLayer[]; runMs: number }>>();
  const maxInFlight = imagesAhead(model, batches, Math.max(1, input.inFlight ?? (pool ? pool.size + 1 : 2)));
  let next = 0;
  try {
    for (const b of batches) {
      while (next < batches.length && inFlight.size < maxInFlight) {
        if (signal?.aborted) throw new CancelledError();
        const p = launch(batches[next]);
        p.catch(() => undefined); // awaited below, in order
        inFlight.set(next, p);
        next++;
      }
      let res: { layers: PooledLayer[]; runMs: number };
      try {
        res = await inFlight.get(b.index)!;
      } catch (e) {
        if (signal?.aborted) throw new CancelledError();
        throw e;
      }
      inFlight.delete(b.index);
      if (signal?.aborted) throw new CancelledError();
      timings.inferenceMs += res.runMs;
      timings.batches++;
      onBatch(b, res.layers);
    }
    await input.imageCache?.flush();
  } finally {
    timings.imagesDecoded = counts.decoded;
    timings.imagesCached = counts.cached;
  }
  return timings;
}
