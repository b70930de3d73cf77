/**
 * Stage 2 (pipeline/infer.ts) on image batches: how far encoding runs ahead of the sessions. Batches
 * whose pixels are all in the decode cache are encoded just ahead of the sessions (a few batches);
 * as soon as an image has to be decoded, the window opens to many batches, so that decoding keeps
 * every core busy. Either way every batch is answered once, in order, with the cache counts right.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelRecord, StimulusItem } from '../../src/domain/records.ts';
import { decodeCacheFor, preprocessKeyer, type DecodeCache } from '../../src/inference/decode-cache.ts';
import { SessionPool } from '../../src/inference/pool.ts';
import { infer } from '../../src/pipeline/infer.ts';
import { planBatches, planLayers, planStimuli, type Stimulus } from '../../src/pipeline/plan.ts';
import { closeContext, createContext, type Context } from '../../src/store/context.ts';
import { EXPOSED_FILE, modelDir, readItemBytes } from '../../src/store/files.ts';
import { registerModelFromFolder } from '../../src/usecases/models.ts';
import { createSetFromPath, setItems } from '../../src/usecases/stimulus-sets.ts';
import { MODELS, STIMULI, tempDir, testConfig } from '../support/env.ts';

let ctx: Context;
let cnn: ModelRecord;
let images: Stimulus[];
let pool: SessionPool;

beforeAll(async () => {
  ctx = createContext(testConfig());
  cnn = (await registerModelFromFolder(ctx, path.join(MODELS, 'topo-cnn'), { trusted: true })).model;
  const fa = (await createSetFromPath(ctx, path.join(STIMULI, 'images', 'faces'))).set;
  const ob = (await createSetFromPath(ctx, path.join(STIMULI, 'images', 'objects'))).set;
  images = planStimuli([fa.id], [ob.id], (id) => setItems(ctx, id));
  pool = await SessionPool.create(path.join(modelDir(ctx, cnn), EXPOSED_FILE), { workers: 1, intraOpThreads: 1 });
});

afterAll(async () => {
  await pool?.close();
  closeContext(ctx);
  fs.rmSync(ctx.config.dataDir, { recursive: true, force: true });
});

const BATCH = 4;

/** Runs every batch; per batch, how many batches had started encoding (read the cache or the image) when it was answered. */
async function run(cache: DecodeCache) {
  const batches = planBatches(images.length, BATCH);
  const batchOf = new Map<string, number>();
  for (const b of batches) for (let i = b.start; i < b.end; i++) batchOf.set(images[i].item.sha256, b.index);
  let started = -1;
  const touch = (sha: string) => (started = Math.max(started, batchOf.get(sha)!));
  const keyToSha = new Map<string, string>();
  const keyOf = preprocessKeyer(cnn.manifest.input.image!);
  for (const s of images) keyToSha.set(keyOf(s.item.sha256), s.item.sha256);
  // The cache as infer uses it (read, put, flush), noting which batch each read belongs to.
  const watched = {
    read: (key: string) => {
      touch(keyToSha.get(key)!);
      return cache.read(key);
    },
    put: (key: string, px: Parameters<DecodeCache['put']>[1]) => cache.put(key, px),
    flush: () => cache.flush(),
  } as unknown as DecodeCache;
  const aheadAtAnswer: number[] = [];
  const order: number[] = [];
  const t = await infer(
    {
      pool,
      inFlight: 2,
      model: cnn,
      layers: planLayers(cnn, [], 'mean'),
      stimuli: images,
      batches,
      tokens: null,
      readImage: (item: StimulusItem) => readItemBytes(ctx, item),
      imageCache: watched,
    },
    (b, out) => {
      order.push(b.index);
      aheadAtAnswer.push(started - b.index);
      expect(out.layers!.length).toBe(cnn.info.layers.length);
    },
  );
  expect(order).toEqual(batches.map((b) => b.index));
  return { t, aheadAtAnswer, batches: batches.length };
}

describe('infer: how far image batches are encoded ahead', () => {
  it('cold cache: many batches decode ahead; warm: a few; a cache cold past its first half opens the window there', async () => {
    const cache = decodeCacheFor(tempDir('toposcope-infer-cache-'), 1 << 30);
    const cold = await run(cache);
    expect(cold.t.imagesDecoded).toBe(images.length);
    expect(cold.t.imagesCached).toBe(0);
    // The window of image batches in flight (16 here) was open from the first batch.
    expect(cold.aheadAtAnswer[0]).toBeGreaterThan(3);
    await cache.flush();

    const warm = await run(cache);
    expect(warm.t.imagesCached).toBe(images.length);
    expect(warm.t.imagesDecoded).toBe(0);
    // Never more than the base (2) + 1 batches beyond the one answered.
    expect(Math.max(...warm.aheadAtAnswer)).toBeLessThanOrEqual(2);

    // Evict the second half: the first misses widen the window.
    const half = Math.floor(images.length / 2);
    const keyOf = preprocessKeyer(cnn.manifest.input.image!);
    for (const s of images.slice(half)) fs.rmSync(cache.fileOf(keyOf(s.item.sha256)), { force: true });
    const mixed = await run(cache);
    expect(mixed.t.imagesCached).toBe(half);
    expect(mixed.t.imagesDecoded).toBe(images.length - half);
    const firstMissBatch = Math.floor(half / BATCH);
    expect(Math.max(...mixed.aheadAtAnswer.slice(0, firstMissBatch - 3))).toBeLessThanOrEqual(2);
    expect(Math.max(...mixed.aheadAtAnswer.slice(firstMissBatch - 2))).toBeGreaterThan(3);
  });
});
