/** ONNX protobuf reading and editing on the real fixture models. */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { exposeTensors, inspectModel, OnnxFormatError, producedTensors, pruneToTensors } from '../../src/onnx/model.ts';
import { encodeVarint, readVarint } from '../../src/onnx/proto.ts';
import { MODELS } from '../support/env.ts';
import { readManifest } from '../support/ort-direct.ts';

describe('ONNX model files', () => {
  const dir = path.join(MODELS, 'topo-cnn');
  const bytes = fs.readFileSync(path.join(dir, 'model.onnx'));
  const manifest = readManifest(dir);

  it('varints round-trip beyond 32 bits', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 35 + 7, 2 ** 52]) expect(readVarint(encodeVarint(v), 0)[0]).toBe(v);
  });

  it('lists inputs, outputs, nodes and initializers', () => {
    const info = inspectModel(bytes);
    expect(info.irVersion).toBeGreaterThan(3);
    expect(info.inputs.map((i) => i.name)).toEqual([manifest.input.image!.name]);
    expect(info.inputs[0].dims?.length).toBe(4);
    expect(info.nodes.length).toBeGreaterThan(3);
    expect(info.initializers.length).toBeGreaterThan(0);
    expect(info.opsets.some((o) => o.domain === '' || o.domain === 'ai.onnx')).toBe(true);
    const produced = producedTensors(info);
    for (const l of manifest.layers) expect(produced.has(l.tensor), l.tensor).toBe(true);
  });

  it('exposes intermediate tensors so that ONNX Runtime returns them', async () => {
    const tensors = manifest.layers.map((l) => l.tensor);
    const edited = exposeTensors(bytes, tensors);
    expect(edited.length).toBeGreaterThan(bytes.length);
    const info = inspectModel(edited);
    for (const t of tensors) expect(info.outputs.map((o) => o.name)).toContain(t);
    expect(exposeTensors(edited, tensors)).toBe(edited); // already exposed: unchanged
    const s = await ort.InferenceSession.create(edited);
    const [h, w] = manifest.input.image!.size;
    const out = await s.run({ [manifest.input.image!.name]: new ort.Tensor('float32', new Float32Array(2 * 3 * h * w), [2, 3, h, w]) });
    for (const t of tensors) expect(out[t].dims[0]).toBe(2);
    await s.release();
  });

  it('prunes a model to the wanted tensors: same activations, no unused head', async () => {
    const gptDir = path.join(MODELS, 'topo-gpt');
    const gpt = readManifest(gptDir);
    const full = fs.readFileSync(path.join(gptDir, 'model.onnx'));
    const wanted = [gpt.layers[0].tensor, gpt.layers[1].tensor];
    const pruned = pruneToTensors(full, wanted);
    const before = inspectModel(full);
    const after = inspectModel(pruned);
    expect(after.outputs.map((o) => o.name)).toEqual(wanted);
    expect(after.nodes.length).toBeLessThan(before.nodes.length);
    expect(after.initializers.length).toBeLessThan(before.initializers.length);
    expect(pruned.length).toBeLessThan(full.length);
    const ids = new ort.Tensor('int64', BigInt64Array.from([5n, 17n, 42n, 9n, 3n, 77n]), [2, 3]);
    const a = await ort.InferenceSession.create(exposeTensors(full, wanted));
    const b = await ort.InferenceSession.create(pruned);
    const ra = await a.run({ [gpt.input.text!.idsInput]: ids }, wanted);
    const rb = await b.run({ [gpt.input.text!.idsInput]: ids });
    for (const w of wanted) {
      expect(rb[w].dims).toEqual(ra[w].dims);
      const x = ra[w].data as Float32Array;
      const y = rb[w].data as Float32Array;
      for (let i = 0; i < x.length; i += 97) expect(y[i]).toBeCloseTo(x[i], 5);
    }
    await a.release();
    await b.release();
  });

  it('refuses bytes that are not an ONNX model', () => {
    expect(() => inspectModel(Buffer.from('hello world, not protobuf'))).toThrow(OnnxFormatError);
    expect(() => inspectModel(bytes.subarray(0, bytes.length / 2))).toThrow(OnnxFormatError);
    expect(() => inspectModel(Buffer.alloc(0))).toThrow(/not an ONNX model/);
  });
});
