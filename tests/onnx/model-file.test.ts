/**
 * The streamed file variants of the ONNX reader and editors: the same information and the same bytes
 * as the in-memory functions on every fixture model, weights never read while parsing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exposeTensors, exposeTensorsFile, inspectModel, inspectModelFile, OnnxFormatError, producedTensors, pruneToTensors, pruneToTensorsFile } from '../../src/onnx/model.ts';
import { MODELS } from '../support/env.ts';
import { readManifest } from '../support/ort-direct.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-onnx-file-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const models = fs.readdirSync(MODELS).filter((d) => fs.existsSync(path.join(MODELS, d, 'model.onnx')));

describe('ONNX model files, streamed', () => {
  it('finds the fixture models', () => {
    expect(models.length).toBeGreaterThanOrEqual(4);
  });

  for (const name of models) {
    const dir = path.join(MODELS, name);
    const file = path.join(dir, 'model.onnx');
    it(`${name}: inspectModelFile equals inspectModel; the file editors write the bytes of the in-memory ones`, async () => {
      const bytes = fs.readFileSync(file);
      expect(inspectModelFile(file)).toEqual(inspectModel(bytes));
      const manifest = readManifest(dir);
      const wanted = manifest.layers.map((l) => l.tensor);
      const pruned = path.join(tmp, `${name}.pruned.onnx`);
      await pruneToTensorsFile(file, pruned, wanted);
      expect(Buffer.compare(fs.readFileSync(pruned), Buffer.from(pruneToTensors(bytes, wanted)))).toBe(0);
      const info = inspectModel(bytes);
      const all = [...producedTensors(info).keys()];
      const exposed = path.join(tmp, `${name}.exposed.onnx`);
      await exposeTensorsFile(file, exposed, all);
      expect(Buffer.compare(fs.readFileSync(exposed), Buffer.from(exposeTensors(bytes, all)))).toBe(0);
      // A second exposure of the same tensors adds nothing.
      const again = path.join(tmp, `${name}.again.onnx`);
      await exposeTensorsFile(exposed, again, all);
      expect(Buffer.compare(fs.readFileSync(again), fs.readFileSync(exposed))).toBe(0);
      expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });
  }

  it('refuses files that are not an ONNX model, leaving no output behind', async () => {
    const junk = path.join(tmp, 'junk.onnx');
    fs.writeFileSync(junk, 'hello world, not protobuf');
    expect(() => inspectModelFile(junk)).toThrow(OnnxFormatError);
    const half = path.join(tmp, 'half.onnx');
    const full = fs.readFileSync(path.join(MODELS, 'topo-cnn', 'model.onnx'));
    fs.writeFileSync(half, full.subarray(0, full.length / 2));
    expect(() => inspectModelFile(half)).toThrow(OnnxFormatError);
    const empty = path.join(tmp, 'empty.onnx');
    fs.writeFileSync(empty, '');
    expect(() => inspectModelFile(empty)).toThrow(/not an ONNX model/);
    await expect(pruneToTensorsFile(junk, path.join(tmp, 'out.onnx'), ['x'])).rejects.toThrow(OnnxFormatError);
    expect(fs.existsSync(path.join(tmp, 'out.onnx'))).toBe(false);
  });
});

describe('pruning to a model with external data', () => {
  it('moves the kept weights to a page-aligned data file; ONNX Runtime gives the same activations', async () => {
    const ort = await import('onnxruntime-node');
    const dir = path.join(MODELS, 'topo-gpt');
    const gpt = readManifest(dir);
    const file = path.join(dir, 'model.onnx');
    const wanted = gpt.layers.map((l) => l.tensor);
    const out = fs.mkdtempSync(path.join(tmp, 'ext-'));
    const dst = path.join(out, 'exposed.onnx');
    await pruneToTensorsFile(file, dst, wanted, { externalData: 'exposed.onnx.data' });
    const inline = pruneToTensors(fs.readFileSync(file), wanted);
    const info = inspectModelFile(dst);
    expect(info.externalDataFiles).toEqual(['exposed.onnx.data']);
    expect(info.outputs.map((o) => o.name)).toEqual(wanted);
    expect(info.initializers).toEqual(inspectModel(inline).initializers);
    const modelBytes = fs.statSync(dst).size;
    const dataBytes = fs.statSync(path.join(out, 'exposed.onnx.data')).size;
    expect(modelBytes).toBeLessThan(inline.length / 4);
    expect(dataBytes).toBeGreaterThan(inline.length / 2);
    expect(fs.readdirSync(out).sort()).toEqual(['exposed.onnx', 'exposed.onnx.data']);
    const ids = new ort.Tensor('int64', BigInt64Array.from([5n, 17n, 42n, 9n, 3n, 77n]), [2, 3]);
    const a = await ort.InferenceSession.create(inline);
    const b = await ort.InferenceSession.create(dst);
    const ra = await a.run({ [gpt.input.text!.idsInput]: ids });
    const rb = await b.run({ [gpt.input.text!.idsInput]: ids });
    for (const w of wanted) {
      expect(rb[w].dims).toEqual(ra[w].dims);
      expect(Array.from(rb[w].data as Float32Array)).toEqual(Array.from(ra[w].data as Float32Array));
    }
    await a.release();
    await b.release();
  });

  it('refuses a data file name with a path in it', async () => {
    const file = path.join(MODELS, 'topo-cnn', 'model.onnx');
    await expect(pruneToTensorsFile(file, path.join(tmp, 'x.onnx'), ['x'], { externalData: '../escape.data' })).rejects.toThrow(/plain file name/);
  });
});
