/** The hand-written ONNX graph builder: models it builds load in onnxruntime-node, compute the right numbers and read back. */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { float, int, ints, OnnxGraphBuilder, tensorAttr } from '../../src/onnx/build.ts';
import { inspectModel } from '../../src/onnx/model.ts';

/** y = LeakyRelu(x·W + b, α) ; m = ReduceMax(y, axis 1) ; g = Gather(y, idx, axis 1) ; c = Cast(m → int64) ; k = y + K (Constant). */
function buildDemo(): { bytes: Uint8Array; W: Float32Array; b: Float32Array } {
  const W = Float32Array.from([1, -2, 0.5, 3, 0, -1]); // [3, 2]
  const b = Float32Array.from([0.25, -0.5]);
  const g = new OnnxGraphBuilder({ name: 'demo', opset: 17, producerName: 'toposcope-test' });
  g.input('x', 'float32', ['N', 3]);
  g.float32('W', [3, 2], W);
  g.float32('b', [2], b);
  g.int64('idx', [1], [1]);
  // a lazily filled initializer: ones [2]
  g.lazyInitializer('ones', 'float32', [2], (dst) => dst.set(new Uint8Array(Float32Array.from([1, 1]).buffer)));
  const xw = g.op('MatMul', ['x', 'W']);
  const z = g.op('Add', [xw, 'b']);
  g.node('LeakyRelu', [z], ['y'], { alpha: float(0.1) });
  g.node('ReduceMax', ['y'], ['m'], { axes: ints([1]), keepdims: int(0) });
  g.node('Gather', ['y', 'idx'], ['g'], { axis: int(1) });
  g.node('Cast', ['m'], ['c'], { to: int(7) });
  g.node('Constant', [], ['K'], { value: tensorAttr({ elemType: 'float32', dims: [2], data: Float32Array.from([10, 20]) }) });
  g.node('Add', ['y', 'K'], ['k0']);
  g.node('Add', ['k0', 'ones'], ['k']);
  g.output('y', 'float32', ['N', 2]);
  g.output('m', 'float32', ['N']);
  g.output('g', 'float32', ['N', 1]);
  g.output('c', 'int64', ['N']);
  g.output('k'); // type and shape left to ORT
  return { bytes: g.build(), W, b };
}

describe('OnnxGraphBuilder', () => {
  it('builds a model that onnxruntime-node runs with the right numbers', async () => {
    const { bytes, W, b } = buildDemo();
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    try {
      expect([...s.inputNames]).toEqual(['x']);
      expect([...s.outputNames]).toEqual(['y', 'm', 'g', 'c', 'k']);
      const x = Float32Array.from([1, 2, 3, -1, 0.5, 4]); // [2, 3]
      const out = await s.run({ x: new ort.Tensor('float32', x, [2, 3]) });
      for (let n = 0; n < 2; n++) {
        const y: number[] = [];
        for (let j = 0; j < 2; j++) {
          let v = b[j];
          for (let i = 0; i < 3; i++) v += x[n * 3 + i] * W[i * 2 + j];
          y.push(v >= 0 ? v : 0.1 * v);
        }
        expect((out.y.data as Float32Array)[n * 2]).toBeCloseTo(y[0], 5);
        expect((out.y.data as Float32Array)[n * 2 + 1]).toBeCloseTo(y[1], 5);
        expect((out.m.data as Float32Array)[n]).toBeCloseTo(Math.max(...y), 5);
        expect((out.g.data as Float32Array)[n]).toBeCloseTo(y[1], 5);
        expect((out.c.data as BigInt64Array)[n]).toBe(BigInt(Math.trunc(Math.fround(Math.max(...y)))));
        expect((out.k.data as Float32Array)[n * 2]).toBeCloseTo(y[0] + 11, 4);
        expect((out.k.data as Float32Array)[n * 2 + 1]).toBeCloseTo(y[1] + 21, 4);
      }
      expect(out.g.dims).toEqual([2, 1]);
    } finally {
      await s.release();
    }
  });

  it('is read back by inspectModel', () => {
    const { bytes } = buildDemo();
    const info = inspectModel(bytes);
    expect(info.irVersion).toBe(8);
    expect(info.opsets).toEqual([{ domain: '', version: 17 }]);
    expect(info.graphName).toBe('demo');
    expect(info.inputs).toEqual([{ name: 'x', elemType: 1, dims: ['N', 3] }]);
    expect(info.outputs.map((o) => [o.name, o.elemType, o.dims])).toEqual([
      ['y', 1, ['N', 2]],
      ['m', 1, ['N']],
      ['g', 1, ['N', 1]],
      ['c', 7, ['N']],
      ['k', null, null],
    ]);
    expect(info.initializers).toEqual(['W', 'b', 'idx', 'ones']);
    expect(info.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'LeakyRelu', 'ReduceMax', 'Gather', 'Cast', 'Constant', 'Add', 'Add']);
    expect(info.nodes[0].inputs).toEqual(['x', 'W']);
    expect(info.externalDataFiles).toEqual([]);
  });

  it('supports other opset domains, ir_version and an int64 initializer with raw data', async () => {
    const g = new OnnxGraphBuilder({ irVersion: 9, opset: 18 });
    g.opsetImport('com.microsoft', 1);
    g.input('a', 'int64', [3]);
    g.int64('k', [3], BigInt64Array.from([1n, -2n, 2n ** 40n]));
    g.node('Mul', ['a', 'k'], ['p']);
    g.output('p', 'int64', [3]);
    const bytes = g.build();
    const info = inspectModel(bytes);
    expect(info.irVersion).toBe(9);
    expect(info.opsets).toEqual([
      { domain: '', version: 18 },
      { domain: 'com.microsoft', version: 1 },
    ]);
    const s = await ort.InferenceSession.create(bytes);
    const out = await s.run({ a: new ort.Tensor('int64', BigInt64Array.from([3n, 5n, -1n]), [3]) });
    expect([...(out.p.data as BigInt64Array)]).toEqual([3n, -10n, -(2n ** 40n)]);
    await s.release();
  });

  it('writes external-data initializers that ONNX Runtime reads from an in-memory file', async () => {
    const g = new OnnxGraphBuilder();
    g.input('x', 'float32', [2]);
    const data = Float32Array.from([0, 0, 0, 0, 3, -4]); // the initializer is the last two floats
    g.externalInitializer('w', 'float32', [2], { location: 'w.bin', offset: 16, length: 8 });
    g.node('Mul', ['x', 'w'], ['y']);
    g.output('y', 'float32', [2]);
    const bytes = g.build();
    expect(inspectModel(bytes).externalDataFiles).toEqual(['w.bin']);
    const s = await ort.InferenceSession.create(bytes, { externalData: [{ path: 'w.bin', data: new Uint8Array(data.buffer) }] });
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([2, 0.5]), [2]) });
    expect([...(out.y.data as Float32Array)]).toEqual([6, -2]);
    await s.release();
  });

  it('refuses inconsistent graphs', () => {
    const g = new OnnxGraphBuilder();
    g.input('x', 'float32', [2]);
    expect(() => g.node('Relu', ['nope'], ['y'])).toThrow(/not defined/);
    expect(() => g.float32('x', [2], [1, 2])).toThrow(/already defined/);
    expect(() => g.float32('w', [3], [1, 2])).toThrow(/2 values for dims \[3\]/);
    expect(() => g.initializer('w', { elemType: 'int64', dims: [1], data: new Float32Array(1) })).toThrow(/BigInt64Array/);
    expect(() => g.node('Foo', ['x'], ['z'], {}, { domain: 'ai.example' })).toThrow(/no opset import/);
    g.output('never');
    expect(() => g.build()).toThrow(/never produced/);
  });
});
