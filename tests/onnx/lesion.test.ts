/**
 * The lesion edit of the ONNX graph: fed m = 1 and o = 0 the edited model computes exactly what the
 * original computes; a lesion changes nothing upstream of its layer; y = x·m + o along the unit axis.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { addLesionSites, LesionEditError } from '../../src/onnx/lesion.ts';
import { exposeTensors, inspectModel } from '../../src/onnx/model.ts';
import { OnnxGraphBuilder, int } from '../../src/onnx/build.ts';
import { lmLogits, tinyClassifier, tinyLm } from '../support/tiny-models.ts';

const ids = BigInt64Array.from([0n, 3n, 5n, 2n, 1n, 4n, 4n, 0n]); // [2, 4]

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, fetch: string[]) {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const out = await s.run(feeds, fetch);
    return Object.fromEntries(fetch.map((f) => [f, Array.from(out[f].data as Float32Array)]));
  } finally {
    await s.release();
  }
}

const siteFeeds = (m: number[], o: number[]) => ({
  'toposcope/lesion/h/scale': new ort.Tensor('float32', Float32Array.from(m), [1, 1, m.length]),
  'toposcope/lesion/h/offset': new ort.Tensor('float32', Float32Array.from(o), [1, 1, o.length]),
});

describe('addLesionSites', () => {
  const original = tinyLm();
  const { bytes: bare, sites } = addLesionSites(original, [{ layer: 'h', tensor: 'h', unitAxis: 2, rank: 3, units: 4 }]);
  // The layer tensor x as an output too (registration keeps the layers as outputs of the copy).
  const edited = exposeTensors(bare, ['h']);

  it('adds m and o as inputs shaped to broadcast along the unit axis, y as an output, and rewires the consumers of x', () => {
    expect(sites).toEqual([
      { layer: 'h', tensor: 'h', output: 'toposcope/lesion/h/y', scaleInput: 'toposcope/lesion/h/scale', offsetInput: 'toposcope/lesion/h/offset', dims: [1, 1, 4], units: 4 },
    ]);
    const info = inspectModel(bare);
    expect(info.inputs.map((i) => [i.name, i.dims])).toEqual([
      ['input_ids', ['batch', 'seq']],
      ['toposcope/lesion/h/scale', [1, 1, 4]],
      ['toposcope/lesion/h/offset', [1, 1, 4]],
    ]);
    expect(info.outputs.map((o) => o.name)).toEqual(['logits', 'toposcope/lesion/h/y']);
    const ops = info.nodes.map((n) => n.opType);
    const relu = ops.indexOf('Relu');
    expect(ops.slice(relu, relu + 3)).toEqual(['Relu', 'Mul', 'Add']);
    const consumers = info.nodes.filter((n) => n.inputs.includes('h')).map((n) => n.name);
    expect(consumers).toEqual(['toposcope/lesion/h/Mul']);
    expect(info.nodes.filter((n) => n.inputs.includes('toposcope/lesion/h/y')).map((n) => n.opType)).toEqual(['MatMul']);
  });

  it('fed m = 1, o = 0 the logits are bit for bit those of the original model', async () => {
    const feeds = { input_ids: new ort.Tensor('int64', ids, [2, 4]) };
    const a = await run(original, feeds, ['logits']);
    const b = await run(edited, { ...feeds, ...siteFeeds([1, 1, 1, 1], [0, 0, 0, 0]) }, ['logits', 'toposcope/lesion/h/y', 'h']);
    expect(b.logits).toEqual(a.logits);
    expect(b['toposcope/lesion/h/y']).toEqual(b.h);
  });

  it('a scale lesion with factor 1 reproduces the intact logits exactly; factor 2 doubles the units', async () => {
    const feeds = { input_ids: new ort.Tensor('int64', ids, [2, 4]) };
    const intact = await run(edited, { ...feeds, ...siteFeeds([1, 1, 1, 1], [0, 0, 0, 0]) }, ['logits', 'h']);
    const one = await run(edited, { ...feeds, ...siteFeeds([1, 1, 1, 1], [0, 0, 0, 0]) }, ['logits']);
    expect(one.logits).toEqual(intact.logits);
    const two = await run(edited, { ...feeds, ...siteFeeds([1, 2, 1, 1], [0, 0, 0, 0]) }, ['logits', 'toposcope/lesion/h/y']);
    for (let i = 0; i < 8; i++) {
      for (let u = 0; u < 4; u++) expect(two['toposcope/lesion/h/y'][i * 4 + u]).toBe(Math.fround(intact.h[i * 4 + u] * (u === 1 ? 2 : 1)));
    }
  });

  it('y = x·m + o along the unit axis, matching a hand computation, and nothing upstream of the layer changes', async () => {
    const up = exposeTensors(edited, ['e']);
    const feeds = { input_ids: new ort.Tensor('int64', ids, [2, 4]) };
    const m = [0, 1, 0.5, 1];
    const o = [0.25, 0, 0, -1];
    const intact = await run(up, { ...feeds, ...siteFeeds([1, 1, 1, 1], [0, 0, 0, 0]) }, ['e', 'h', 'logits']);
    const les = await run(up, { ...feeds, ...siteFeeds(m, o) }, ['e', 'h', 'logits']);
    expect(les.e).toEqual(intact.e);
    expect(les.h).toEqual(intact.h);
    expect(les.logits).not.toEqual(intact.logits);
    for (let i = 0; i < 8; i++) {
      const want = lmLogits(Number(ids[i]), m, o);
      for (let k = 0; k < want.length; k++) expect(les.logits[i * 6 + k]).toBeCloseTo(want[k], 5);
    }
  });

  it('broadcasts along axis 1 of a rank-2 layer', async () => {
    const { bytes: b0, sites: s } = addLesionSites(tinyClassifier(), [{ layer: 'h', tensor: 'h', unitAxis: 1, rank: 2, units: 3 }]);
    const bytes = exposeTensors(b0, ['h']);
    expect(s[0].dims).toEqual([1, 3]);
    const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, -1, 0.5, 0, 2]), [2, 1, 2, 2]);
    const out = await run(bytes, { x, [s[0].scaleInput]: new ort.Tensor('float32', Float32Array.from([1, 0, 1]), [1, 3]), [s[0].offsetInput]: new ort.Tensor('float32', Float32Array.from([0, 0, 7]), [1, 3]) }, [s[0].output, 'h']);
    for (let n = 0; n < 2; n++) {
      expect(out[s[0].output][n * 3]).toBe(out.h[n * 3]);
      expect(out[s[0].output][n * 3 + 1]).toBe(0);
      expect(out[s[0].output][n * 3 + 2]).toBe(Math.fround(out.h[n * 3 + 2] + 7));
    }
  });

  it('refuses unknown tensors, tensors named twice and control-flow graphs', () => {
    expect(() => addLesionSites(tinyLm(), [{ layer: 'q', tensor: 'nope', unitAxis: 2, rank: 3, units: 4 }])).toThrow(LesionEditError);
    expect(() =>
      addLesionSites(tinyLm(), [
        { layer: 'a', tensor: 'h', unitAxis: 2, rank: 3, units: 4 },
        { layer: 'b', tensor: 'h', unitAxis: 2, rank: 3, units: 4 },
      ]),
    ).toThrow(/two layers/);
    const g = new OnnxGraphBuilder({ opset: 17 });
    g.input('c', 'bool', []);
    g.input('x', 'float32', [2]);
    g.node('Relu', ['x'], ['r']);
    g.node('Identity', ['r'], ['y']);
    g.node('Loop', ['', 'c'], ['l'], { body: int(0) });
    g.output('y');
    expect(() => addLesionSites(g.build(), [{ layer: 'r', tensor: 'r', unitAxis: 1, rank: 1 + 1, units: 2 }])).toThrow(/control-flow/);
  });
});
