/**
 * Pooling in the graph: the pooled copy of a model gives the numbers of fetching each layer whole and
 * pooling it in JavaScript (text over the real tokens of right-padded batches, images over positions),
 * is built once per layers and pooling, is not used where it cannot apply, and a copy ONNX Runtime
 * refuses leaves the pass on the model itself. Image copies are fed 8-bit pixels and compute the
 * same float32 input in the graph.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contrastEnv } from '../../src/jobs/queue.ts';
import * as ort from 'onnxruntime-node';
import { channelNorm, PIXELS_INPUT, pooledOutputName } from '../../src/domain/pooling.ts';
import { imagePixels, packImages } from '../../src/inference/encode.ts';
import { addPooledOutputs, PoolingEditError } from '../../src/onnx/pooling.ts';
import { runContrast, type ContrastOptions } from '../../src/pipeline/contrast.ts';
import { planStimuli, type Stimulus } from '../../src/pipeline/plan.ts';
import { pooledGraphFor, type PoolableLayer } from '../../src/pipeline/pooled-graph.ts';
import type { ModelRecord } from '../../src/domain/records.ts';
import { closeContext, createContext, type Context } from '../../src/store/context.ts';
import { EXPOSED_FILE, modelDir, readItemBytes } from '../../src/store/files.ts';
import { registerModelFromFolder } from '../../src/usecases/models.ts';
import { createSetFromPath, createTextSet, setItems } from '../../src/usecases/stimulus-sets.ts';
import { MODELS, STIMULI, testConfig } from '../support/env.ts';

let ctx: Context;
let gpt: ModelRecord;
let cnn: ModelRecord;
let texts: Stimulus[];
let images: Stimulus[];

beforeAll(async () => {
  ctx = createContext(testConfig({ batchSize: 8 }));
  gpt = (await registerModelFromFolder(ctx, path.join(MODELS, 'topo-gpt'), { trusted: true })).model;
  cnn = (await registerModelFromFolder(ctx, path.join(MODELS, 'topo-cnn'), { trusted: true })).model;
  const lines = (f: string) => fs.readFileSync(path.join(STIMULI, 'text', f), 'utf8').split('\n').filter(Boolean).slice(0, 20);
  const sa = createTextSet(ctx, 'sentences', lines('sentences.txt')).set;
  const sb = createTextSet(ctx, 'nonwords', lines('nonwords.txt')).set;
  texts = planStimuli([sa.id], [sb.id], (id) => setItems(ctx, id));
  const fa = (await createSetFromPath(ctx, path.join(STIMULI, 'images', 'faces'))).set;
  const ob = (await createSetFromPath(ctx, path.join(STIMULI, 'images', 'objects'))).set;
  images = planStimuli([fa.id], [ob.id], (id) => setItems(ctx, id));
});

afterAll(() => {
  closeContext(ctx);
  fs.rmSync(ctx.config.dataDir, { recursive: true, force: true });
});

const base: ContrastOptions = { layers: [], pooling: null, test: 'welch', correction: 'bh', correctionScope: 'layer', alpha: 0.05, keepActivations: false, batchSize: 8 };

function maxAbsDiff(a: Float64Array, b: Float64Array, floor = 1): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(floor, Math.abs(b[i])));
  return m;
}

const poolable = (m: ModelRecord, pooling: string): PoolableLayer[] => m.info.layers.map((l) => ({ ...l, pooling, rank: l.probeShape.length }));
const poolFiles = (m: ModelRecord) => fs.readdirSync(modelDir(ctx, m)).filter((f) => f.includes('.pool-'));

describe('pooling in the graph', () => {
  for (const [which, pooling] of [
    ['text', 'mean'],
    ['text', 'max'],
    ['image', 'mean'],
    ['image', 'max'],
  ] as const) {
    it(`${which} ${pooling}: the pooled copy gives the numbers of pooling the whole tensors in JavaScript`, async () => {
      const model = which === 'text' ? gpt : cnn;
      const stimuli = which === 'text' ? texts : images;
      const env = contrastEnv(ctx, model);
      const opts = { ...base, pooling };
      const inGraph = await runContrast(env, stimuli, opts);
      const inJs = await runContrast({ ...env, poolInGraph: false }, stimuli, opts);
      expect(inGraph.timings.pooledInGraph).toBe(model.info.layers.length);
      if (which === 'image') {
        // The pass ran the copy fed 8-bit pixels: the numbers below are those of the float32 input.
        const copy = await pooledGraphFor(path.join(modelDir(ctx, model), EXPOSED_FILE), poolable(model, pooling), 'image', model.manifest.input.image!);
        expect(copy!.pixels).toBe(true);
        expect(copy!.path.endsWith('.px.onnx')).toBe(true);
      }
      expect(inJs.timings.pooledInGraph).toBe(0);
      if (which === 'text') expect(inGraph.timings.paddedTokens).toBeGreaterThan(inGraph.timings.realTokens!); // padding to exclude
      for (let li = 0; li < inGraph.layers.length; li++) {
        const g = inGraph.layers[li];
        const j = inJs.layers[li];
        if (pooling === 'max') {
          // The same float32 maxima: the same numbers, exactly.
          expect(Array.from(g.t)).toEqual(Array.from(j.t));
          expect(g.summary.significant).toBe(j.summary.significant);
        } else {
          // Both sum in float64 (in another order) and round the mean to float32.
          expect(maxAbsDiff(g.meanA, j.meanA, 1e-3)).toBeLessThan(1e-6);
          expect(maxAbsDiff(g.meanB, j.meanB, 1e-3)).toBeLessThan(1e-6);
          expect(maxAbsDiff(g.t, j.t)).toBeLessThan(1e-5);
          expect(g.summary.significant).toBe(j.summary.significant);
        }
      }
    });
  }

  it('one copy per model file, layers and pooling, built once; none where the graph cannot pool', async () => {
    const exposed = path.join(modelDir(ctx, gpt), EXPOSED_FILE);
    const a = await pooledGraphFor(exposed, poolable(gpt, 'mean'), 'text');
    expect(a).not.toBeNull();
    expect(a!.mask).toBe(true);
    expect([...a!.layers]).toEqual(gpt.info.layers.map((l) => l.name));
    const mtime = fs.statSync(a!.path).mtimeMs;
    const again = await pooledGraphFor(exposed, poolable(gpt, 'mean'), 'text');
    expect(again!.path).toBe(a!.path);
    expect(fs.statSync(a!.path).mtimeMs).toBe(mtime);
    const one = await pooledGraphFor(exposed, poolable(gpt, 'mean').slice(0, 1), 'text');
    expect(one!.path).not.toBe(a!.path);
    expect(poolFiles(gpt)).toContain(path.basename(one!.path));
    // Per-token rows and last-token rows need the whole tensor.
    expect(await pooledGraphFor(exposed, poolable(gpt, 'tokens'), 'text')).toBeNull();
    expect(await pooledGraphFor(exposed, poolable(gpt, 'last'), 'text')).toBeNull();
    // A tensor the graph does not compute: the edit refuses it, the pass pools in JavaScript.
    const bytes = fs.readFileSync(exposed);
    expect(() => addPooledOutputs(bytes, [{ tensor: 'no/such/tensor', unitAxis: 2, rank: 3, pooling: 'mean' }], true)).toThrow(PoolingEditError);
    expect(await pooledGraphFor(exposed, [{ name: 'x', tensor: 'no/such/tensor', unitAxis: 2, pooling: 'mean', rank: 3 }], 'text')).toBeNull();
  });

  it('a copy ONNX Runtime refuses: the pass runs the model itself, with the same numbers', async () => {
    const exposed = path.join(modelDir(ctx, cnn), EXPOSED_FILE);
    const env = contrastEnv(ctx, cnn);
    const layers = [cnn.info.layers[0].name];
    const good = await runContrast(env, images, { ...base, layers, pooling: 'max' });
    expect(good.timings.pooledInGraph).toBe(1);
    const copy = await pooledGraphFor(exposed, poolable(cnn, 'max').slice(0, 1), 'image', cnn.manifest.input.image!);
    expect(copy!.pixels).toBe(true); // the copy the pass ran
    fs.writeFileSync(copy!.path, 'not an onnx model');
    const fallback = await runContrast(env, images, { ...base, layers, pooling: 'max' });
    expect(fallback.timings.pooledInGraph).toBe(0);
    expect(Array.from(fallback.layers[0].t)).toEqual(Array.from(good.layers[0].t));
    fs.rmSync(copy!.path);
  });

  it('an image copy fed 8-bit pixels computes the float32 input the JavaScript normalisation gives, bit for bit (grey images in an RGB input too)', async () => {
    const exposed = path.join(modelDir(ctx, cnn), EXPOSED_FILE);
    const image = cnn.manifest.input.image!;
    const layers = poolable(cnn, 'mean');
    const bytesCopy = await pooledGraphFor(exposed, layers, 'image', image);
    const floatCopy = await pooledGraphFor(exposed, layers, 'image');
    expect(bytesCopy!.pixels).toBe(true);
    expect(floatCopy!.pixels).toBe(false);
    const files = images.slice(0, 5).map((s) => ({ sha256: s.item.sha256, read: () => readItemBytes(ctx, s.item) }));
    const px = await imagePixels(files, image, null);
    expect(px.every((p) => p.channels === 3)).toBe(true);
    // A grey image: one channel, repeated into R, G and B by both paths.
    const [h, w] = image.size;
    const grey = new Uint8Array(h * w);
    for (let i = 0; i < grey.length; i++) grey[i] = (i * 37 + (i >> 6) * 11) & 255;
    px.push({ data: grey, height: h, width: w, channels: 1 });
    const fetch = layers.map((l) => pooledOutputName(l.tensor, l.unitAxis, 'mean'));
    const run = async (file: string, feeds: Record<string, ort.Tensor>) => {
      const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
      try {
        return await s.run(feeds, fetch);
      } finally {
        await s.release();
      }
    };
    const asTensor = (f: ReturnType<typeof packImages>) => new ort.Tensor(f.type as 'float32' | 'uint8', f.type === 'uint8' ? new Uint8Array(f.data) : new Float32Array(f.data), f.dims);
    const u8 = packImages(px, image, 'uint8');
    expect(u8.dims).toEqual([px.length, h, w, 3]);
    expect(u8.data.byteLength * 4).toBe(packImages(px, image, 'float32').data.byteLength);
    const a = await run(bytesCopy!.path, { [PIXELS_INPUT]: asTensor(u8) });
    const b = await run(floatCopy!.path, { [image.name]: asTensor(packImages(px, image, 'float32')) });
    for (const name of fetch) {
      expect(a[name].dims).toEqual(b[name].dims);
      expect(Array.from(a[name].data as Float64Array)).toEqual(Array.from(b[name].data as Float64Array));
    }
  });

  it('an image input the graph cannot take as pixels: the copy only pools, fed float32 as before', async () => {
    const exposed = path.join(modelDir(ctx, cnn), EXPOSED_FILE);
    const image = cnn.manifest.input.image!;
    const specs = poolable(cnn, 'max').map((l) => ({ tensor: l.tensor, unitAxis: l.unitAxis, rank: l.rank, pooling: 'max' as const }));
    const bytes = fs.readFileSync(exposed);
    const spec = { input: image.name, height: image.size[0], width: image.size[1], channels: image.channels, ...channelNorm(image) };
    expect(() => addPooledOutputs(bytes, specs, false, { ...spec, input: 'no-such-input' })).toThrow(PoolingEditError);
    expect(() => addPooledOutputs(bytes, specs, false, { ...spec, height: spec.height + 1 })).toThrow(/is not N×3×65×64/);
    const copy = await pooledGraphFor(exposed, poolable(cnn, 'max'), 'image', { ...image, name: 'no-such-input' });
    expect(copy!.pixels).toBe(false);
    expect(copy!.path.endsWith('.px.onnx')).toBe(false);
    expect(copy!.layers.size).toBe(cnn.info.layers.length);
    // Found again under its plain name, not edited a second time.
    const mtime = fs.statSync(copy!.path).mtimeMs;
    const again = await pooledGraphFor(exposed, poolable(cnn, 'max'), 'image', { ...image, name: 'no-such-input' });
    expect(again).toEqual(copy);
    expect(fs.statSync(copy!.path).mtimeMs).toBe(mtime);
  });
});
