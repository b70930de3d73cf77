/**
 * Native ONNX Runtime work in a child process: the real crashing graph fails the call with a typed
 * 'crashed' failure naming the step while this process carries on; a good model lists exactly the
 * tensors today's in-process listing reports; a child-held session pools exactly like the worker pool.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, loadConfig } from '../../src/config.ts';
import { closeContext, createContext, type Context } from '../../src/store/context.ts';
import { listTensorsInChild, NativeChildError, NativeSession, probeInChild, type NativeFailure } from '../../src/inference/native-child.ts';
import { listTensors, registerModelFromFolder } from '../../src/usecases/models.ts';
import { SessionPool } from '../../src/inference/pool.ts';
import type { FeedSpec } from '../../src/inference/worker-protocol.ts';
import { exposeTensors } from '../../src/onnx/model.ts';
import { encodeImages } from '../../src/inference/encode.ts';
import { TextEncoder as TextIds } from '../../src/inference/encode-text.ts';
import { imageFiles, MODELS, tempDir } from '../support/env.ts';
import { readManifest } from '../support/ort-direct.ts';

const RANGE_DIR = path.join(PROJECT_ROOT, 'tests', 'data', 'onnx', 'range-positions');
const RANGE_MODEL = path.join(RANGE_DIR, 'model.onnx');

function textFeeds(dir: string, texts: string[]): Record<string, FeedSpec> {
  return new TextIds(readManifest(dir).input.text!, dir).encode(texts).feeds;
}

/** The probe today's registry builds for an image model: batch of 1, a fixed ramp. */
function imageProbe(dir: string): Record<string, FeedSpec> {
  const im = readManifest(dir).input.image!;
  const [h, w] = im.size;
  const data = new Float32Array(im.channels * h * w);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 255) / 255 - 0.5;
  return { [im.name]: { type: 'float32', dims: [1, im.channels, h, w], data: data.buffer as ArrayBuffer } };
}

async function failureOf(p: Promise<unknown>): Promise<NativeFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NativeChildError) return e.failure;
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('the crashing graph in a child process', () => {
  it('listing every tensor of the Range model is a typed crash at the run step; this process lives on', async () => {
    const before = fs.readdirSync(RANGE_DIR).sort();
    const f = await failureOf(listTensorsInChild(RANGE_MODEL, textFeeds(RANGE_DIR, ['the quick brown fox']), { timeoutMs: 30_000 }));
    expect(f).toMatchObject({ kind: 'crashed', signal: 'SIGSEGV', step: 'run', model: 'range-positions' });
    expect(new NativeChildError(f).message).toMatch(/range-positions.*step 'run'.*SIGSEGV/);
    // The exposed copy written beside the model is gone.
    expect(fs.readdirSync(RANGE_DIR).sort()).toEqual(before);
    // Same model, same process: a run that does not fetch the Range output works.
    const shapes = await probeInChild(RANGE_MODEL, textFeeds(RANGE_DIR, ['hello there']), ['logits']);
    expect(shapes).toEqual([{ name: 'logits', type: 'float32', dims: [1, 2, 26] }]);
  });

  it('a held session dies with the crash and every later call gets the same failure', async () => {
    const dir = tempDir('toposcope-native-');
    try {
      const exposed = path.join(dir, 'model.onnx');
      fs.writeFileSync(exposed, exposeTensors(fs.readFileSync(RANGE_MODEL), ['/Range_output_0']));
      const s = await NativeSession.open(exposed, { label: 'range-exposed' });
      expect(s.outputNames).toEqual(['logits', '/Range_output_0']);
      const feeds = () => textFeeds(RANGE_DIR, ['a probe']);
      const first = await failureOf(s.probe(feeds(), ['/Range_output_0']));
      expect(first).toMatchObject({ kind: 'crashed', signal: 'SIGSEGV', step: 'run', model: 'range-exposed' });
      expect(s.failure).toEqual(first);
      expect(await failureOf(s.probe(feeds(), ['logits']))).toEqual(first);
      await s.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a session pool in child processes (the default) meeting the crashing graph', () => {
  const CRASHING = path.join(PROJECT_ROOT, 'tests', 'data', 'onnx', 'range-crash-at-run.onnx');
  const layer = { key: 'mlp', tensor: '/mlp/act/Relu_output_0', unitAxis: 2, pooling: 'mean' };

  it('fails the running request naming model, batch and step, and every queued one with it; this process lives on', async () => {
    const pool = await SessionPool.create(CRASHING, { workers: 1, intraOpThreads: 1, label: 'range-positions' });
    try {
      const enc = () => new TextIds(readManifest(RANGE_DIR).input.text!, RANGE_DIR).encode(['the quick brown fox', 'hello there']);
      const e1 = enc();
      const e2 = enc();
      const first = pool.behaviour(e1.feeds, { tensor: layer.tensor, kind: 'lm' }, { lengths: e1.lengths, targets: new Int32Array(8) }, [], 'batch 2 of 5');
      const queued = pool.pool(e2.feeds, [layer], e2.lengths, 'batch 3 of 5');
      const message = /^ONNX Runtime crashed on model 'range-positions' while running batch 2 of 5 for output '\/mlp\/act\/Relu_output_0' \(intact and 0 lesion configurations\) \(step 'behaviour'\): its child process ended with SIGSEGV$/;
      await expect(first).rejects.toThrow(message);
      await expect(queued).rejects.toThrow(message);
      expect(pool.size).toBe(0);
      await expect(pool.probe(enc().feeds, [layer.tensor])).rejects.toThrow(message);
    } finally {
      await pool.close();
    }
  });
});

describe('failures other than crashes', () => {
  const gpt = path.join(MODELS, 'topo-gpt');
  const feeds = () => textFeeds(gpt, ['the quick brown fox jumps over the lazy dog']);

  it('a hang past the deadline is a timeout; an abort is a cancel; a bad file is an error at create-session', async () => {
    expect(await failureOf(listTensorsInChild(path.join(gpt, 'model.onnx'), feeds(), { timeoutMs: 200 }))).toMatchObject({ kind: 'timeout', timeoutMs: 200, model: 'topo-gpt' });
    const ac = new AbortController();
    const p = listTensorsInChild(path.join(gpt, 'model.onnx'), feeds(), { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(await failureOf(p)).toMatchObject({ kind: 'cancelled', model: 'topo-gpt' });
    const dir = tempDir('toposcope-native-');
    try {
      fs.writeFileSync(path.join(dir, 'model.onnx'), 'not an onnx file at all');
      const f = await failureOf(probeInChild(path.join(dir, 'model.onnx'), feeds(), ['logits'], { label: 'garbage' }));
      expect(f).toMatchObject({ kind: 'error', step: 'create-session', model: 'garbage' });
      expect((f as { message: string }).message.length).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a memory cap too small for the model fails the call, not this process', async () => {
    const f = await failureOf(listTensorsInChild(path.join(gpt, 'model.onnx'), feeds(), { memoryMb: 100 }));
    expect(['crashed', 'error']).toContain(f.kind);
  });
});

describe('equivalence with the in-process code', () => {
  let ctx: Context;
  beforeAll(() => {
    ctx = createContext(loadConfig({}, { dataDir: tempDir(), registerFixtures: false, modelsRoots: [MODELS], workers: 1, intraOpThreads: 1 }));
  });
  afterAll(() => {
    closeContext(ctx);
    fs.rmSync(ctx.config.dataDir, { recursive: true, force: true });
  });

  for (const name of ['topo-gpt', 'topo-cnn']) {
    it(`${name}: the child's tensor list equals today's in-process listTensors`, async () => {
      const dir = path.join(MODELS, name);
      const { model } = await registerModelFromFolder(ctx, dir, { trusted: true });
      const expected = await listTensors(ctx, model);
      const probe = model.modality === 'text' ? textFeeds(dir, ['the quick brown fox jumps over the lazy dog']) : imageProbe(dir);
      const got = await listTensorsInChild(path.join(dir, 'model.onnx'), probe, { intraOpThreads: 1 });
      const layerOf = new Map(model.manifest.layers.map((l) => [l.tensor, l.name]));
      expect(got.map((t) => ({ ...t, isLayer: layerOf.get(t.name) ?? null }))).toEqual(expected);
      expect(expected.length).toBeGreaterThan(10);
    });
  }

  it('topo-cnn: a child-held session pools a batch bit for bit like the worker-thread pool', async () => {
    const dir = path.join(MODELS, 'topo-cnn');
    const m = readManifest(dir);
    const file = path.join(tempDir('toposcope-native-'), 'model.onnx');
    fs.writeFileSync(file, exposeTensors(fs.readFileSync(path.join(dir, 'model.onnx')), m.layers.map((l) => l.tensor)));
    const layers = m.layers.map((l) => ({ key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: l.pooling ?? 'mean' }));
    const images = imageFiles('faces').slice(0, 5).map((f) => fs.readFileSync(f));
    const feeds = async () => ({ [m.input.image!.name]: await encodeImages(images, m.input.image!) });
    const pool = await SessionPool.create(file, { workers: 1, intraOpThreads: 1, isolation: 'thread' });
    const session = await NativeSession.open(file, { intraOpThreads: 1 });
    try {
      // The session child runs at a lower priority than this process (niceness + 10, at most 19).
      expect(os.getPriority(session.pid)).toBe(Math.min(19, os.getPriority() + 10));
      const want = await pool.pool(await feeds(), layers, null);
      const got = await session.pool(await feeds(), layers, null);
      expect(got.layers.map((l) => l.key)).toEqual(want.layers.map((l) => l.key));
      got.layers.forEach((l, i) => {
        const w = want.layers[i];
        expect([l.rows, l.units, l.dims]).toEqual([w.rows, w.units, w.dims]);
        expect(Buffer.from(l.data.buffer).equals(Buffer.from(w.data.buffer))).toBe(true);
        expect([...l.sample]).toEqual([...w.sample]);
        expect([...l.token]).toEqual([...w.token]);
      });
    } finally {
      await pool.close();
      await session.close();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('the session process runs a young-generation collection per MB of buffers it moves (it is started with --expose-gc)', async () => {
    const dir = path.join(MODELS, 'topo-gpt');
    const m = readManifest(dir);
    const file = path.join(tempDir('toposcope-native-'), 'model.onnx');
    fs.writeFileSync(file, exposeTensors(fs.readFileSync(path.join(dir, 'model.onnx')), m.layers.map((l) => l.tensor)));
    const layers = m.layers.map((l) => ({ key: l.name, tensor: l.tensor, unitAxis: l.unitAxis, pooling: 'mean' }));
    const enc = new TextIds(m.input.text!, dir);
    // 32 texts a call, of growing length as batches by token length are: 4 pooled layers of 32 × 512
    // floats (64 KB each) come back every time.
    const batches = Array.from({ length: 40 }, (_, k) => enc.encode(Array.from({ length: 32 }, (_, i) => `sentence ${i} ${'word '.repeat(k + (i % 3))}`)));
    const session = await NativeSession.open(file, { intraOpThreads: 1 });
    try {
      const start = await session.memory();
      for (let i = 0; i < 3; i++) for (const b of batches) await session.pool(b.feeds, layers, b.lengths);
      const end = await session.memory();
      const moved = end.movedBytes - start.movedBytes;
      expect(moved).toBeGreaterThanOrEqual(120 * 4 * 32 * 512 * 4); // every answer's buffers crossed the socket
      // A collection per MB moved (30 MB here); without --expose-gc there are none.
      expect(end.collections - start.collections).toBeGreaterThanOrEqual(Math.floor(moved / (1 << 20)) - 1);
      expect(end.collections - start.collections).toBeLessThanOrEqual(Math.ceil(moved / (1 << 20)));
    } finally {
      await session.close();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  }, 120_000);
});
