/**
 * Stage 2, infer: encode each batch (images decoded and normalised, texts tokenised), run it on the
 * session workers with the layers pooled there, and hand the pooled rows back in batch order. A
 * bounded number of batches is in flight at once, so encoding overlaps inference.
 */
import type { ModelRecord } from '../domain/records.ts';
import { encodeImages } from '../inference/encode.ts';
import { TokenizerThread } from '../inference/tokenizer-thread.ts';
import type { PooledLayer, SessionPool } from '../inference/pool.ts';
import type { LayerFetch } from '../inference/worker-protocol.ts';
import type { Batch, PlannedLayer, Stimulus } from './plan.ts';

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
  }
}

export interface InferTimings {
  encodeMs: number;
  inferenceMs: number;
  batches: number;
  /** Per set index: texts longer than maxTokens, fed cut to their first maxTokens tokens. */
  truncatedBySet: number[];
}

export interface InferInput {
  pool: SessionPool;
  model: ModelRecord;
  /** The model's stored folder (tokenizer files). */
  modelDir: string;
  layers: PlannedLayer[];
  stimuli: Stimulus[];
  batches: Batch[];
  /** Raw bytes of an image item. */
  readImage: (s: Stimulus) => Buffer;
  signal?: AbortSignal;
}

/** Runs every batch; `onBatch` receives each batch's pooled layers, in batch order. */
export async function infer(input: InferInput, onBatch: (batch: Batch, layers: PooledLayer[]) => void): Promise<InferTimings> {
  const { pool, model, stimuli, batches, signal } = input;
  const fetch: LayerFetch[] = input.layers.map((l) => ({ key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: l.pooling }));
  // Tokenisation runs on its own thread, off the event loop.
  const textEnc = model.modality === 'text' ? new TokenizerThread(model.manifest.input.text!, input.modelDir) : null;
  const timings: InferTimings = { encodeMs: 0, inferenceMs: 0, batches: 0, truncatedBySet: [] };
  const launch = async (b: Batch) => {
    const slice = stimuli.slice(b.start, b.end);
    const te = performance.now();
    const labels = slice.map((s) => s.item.label ?? `${s.setId}#${s.item.position}`);
    if (textEnc) {
      const enc = await textEnc.encode(slice.map((s) => s.item.text ?? ''), labels);
      for (let i = 0; i < slice.length; i++) if (enc.truncated[i]) timings.truncatedBySet[slice[i].setIndex] = (timings.truncatedBySet[slice[i].setIndex] ?? 0) + 1;
      timings.encodeMs += performance.now() - te;
      return pool.pool(enc.feeds, fetch, enc.lengths);
    }
    const image = model.manifest.input.image!;
    const feed = await encodeImages(slice.map((s) => input.readImage(s)), image, labels);
    timings.encodeMs += performance.now() - te;
    return pool.pool({ [image.name]: feed }, fetch, null);
  };
  try {
    const inFlight = new Map<number, Promise<{ layers: PooledLayer[]; runMs: number }>>();
    const maxInFlight = pool.size + 1;
    let next = 0;
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
  } finally {
    await textEnc?.close();
  }
  return timings;
}
