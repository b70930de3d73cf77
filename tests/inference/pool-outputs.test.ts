import { describe, expect, it } from 'vitest';
import { fetchedOf, poolOutputs, type PoolCall } from '../../src/inference/pool-outputs.ts';
import { poolTensor } from '../../src/inference/pooling.ts';

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    a[i] = (s / 2147483648 - 0.5) * 8;
  }
  return a;
}

// A text batch: 3 samples, 4 positions, 5 units; lengths 4, 2, 3.
const B = 3;
const T = 4;
const U = 5;
const lengths = Int32Array.from([4, 2, 3]);

function call(layers: PoolCall['layers']): PoolCall {
  return { kind: 'pool', feeds: {}, layers, lengths: lengths.slice().buffer as ArrayBuffer };
}

/** As a session process gets them: a raw answer's buffers, back as typed arrays. */
function raw(tensors: { tensor: string; dims: number[]; data: Float32Array }[]) {
  return fetchedOf({ kind: 'raw', runMs: 7, tensors: tensors.map((t) => ({ tensor: t.tensor, dims: t.dims, data: t.data.buffer as ArrayBuffer })) });
}

describe('poolOutputs (a pool call pooled where its raw outputs arrive)', () => {
  it('pools each layer as poolTensor does, takes the graph\'s pooled rows as they are, and keeps runMs', () => {
    const full = values(B * T * U, 3);
    const rows = values(B * U, 9);
    const { answer, transfer } = poolOutputs(
      call([
        { key: 'mean', tensor: 'h', unitAxis: 2, pooling: 'mean' },
        { key: 'max', tensor: 'h', unitAxis: 2, pooling: 'max' },
        { key: 'pooled', tensor: 'p', unitAxis: 1, pooling: 'mean', pooled: true },
      ]),
      raw([
        { tensor: 'h', dims: [B, T, U], data: full.slice() },
        { tensor: 'p', dims: [B, U], data: rows.slice() },
      ]),
      7,
    );
    if (answer.kind !== 'pool') throw new Error('not a pool answer');
    expect(answer.runMs).toBe(7);
    expect(answer.layers.map((l) => l.key)).toEqual(['mean', 'max', 'pooled']);
    for (const [i, pooling] of (['mean', 'max'] as const).entries()) {
      const want = poolTensor({ data: full, dims: [B, T, U] }, 2, pooling, lengths);
      expect(Array.from(new Float32Array(answer.layers[i].data))).toEqual(Array.from(want.data));
      expect(answer.layers[i].dims).toEqual([B, T, U]);
    }
    expect(Array.from(new Float32Array(answer.layers[2].data))).toEqual(Array.from(rows));
    expect(Array.from(new Int32Array(answer.layers[2].sample))).toEqual([0, 1, 2]);
    expect(Array.from(new Int32Array(answer.layers[2].token))).toEqual([-1, -1, -1]);
    // Every buffer of the answer once in the transfer list (postMessage refuses duplicates).
    expect(new Set(transfer).size).toBe(transfer.length);
    expect(transfer.length).toBe(9);
  });

  it('a layer sharing its pooled tensor with another is transferred once', () => {
    const rows = values(B * U, 5);
    const { answer, transfer } = poolOutputs(
      call([
        { key: 'a', tensor: 'p', unitAxis: 1, pooling: 'mean', pooled: true },
        { key: 'b', tensor: 'p', unitAxis: 1, pooling: 'mean', pooled: true },
      ]),
      raw([{ tensor: 'p', dims: [B, U], data: rows }]),
      7,
    );
    if (answer.kind !== 'pool') throw new Error('not a pool answer');
    expect(answer.layers[0].data).toBe(answer.layers[1].data);
    expect(new Set(transfer).size).toBe(transfer.length);
  });

  it.each([NaN, Infinity, -Infinity])('refuses a non-finite activation (%s), naming layer, tensor and sample', (bad) => {
    const rows = values(B * U, 11);
    rows[2 * U + 3] = bad;
    expect(() => poolOutputs(call([{ key: 'mlp1', tensor: 'p1', unitAxis: 1, pooling: 'mean', pooled: true }]), raw([{ tensor: 'p1', dims: [B, U], data: rows }]), 7)).toThrow(
      `layer 'mlp1' (tensor 'p1') produced a non-finite activation (${bad}) for sample 2 of the batch`,
    );
  });

  it('finite values near the float32 limit are not mistaken for an overflow', () => {
    const rows = new Float32Array(B * U).fill(3.4e38);
    const { answer } = poolOutputs(call([{ key: 'x', tensor: 'p', unitAxis: 1, pooling: 'mean', pooled: true }]), raw([{ tensor: 'p', dims: [B, U], data: rows }]), 7);
    if (answer.kind !== 'pool') throw new Error('not a pool answer');
    expect(answer.layers[0].rows).toBe(B);
  });

  it('pooled rows that are a view into a larger buffer come back as a buffer of their own', () => {
    const big = values(2 * B * U, 13);
    const view = big.subarray(B * U);
    const { answer, transfer } = poolOutputs(call([{ key: 'x', tensor: 'p', unitAxis: 1, pooling: 'mean', pooled: true }]), [{ tensor: 'p', dims: [B, U], data: view }], 3);
    if (answer.kind !== 'pool') throw new Error('not a pool answer');
    expect(answer.layers[0].data.byteLength).toBe(B * U * 4);
    expect(Array.from(new Float32Array(answer.layers[0].data))).toEqual(Array.from(view));
    expect(transfer).not.toContain(big.buffer);
  });

  it('names a tensor the model did not return', () => {
    expect(() => poolOutputs(call([{ key: 'x', tensor: 'missing', unitAxis: 1, pooling: 'mean' }]), raw([]), 7)).toThrow("the model did not return tensor 'missing'");
  });
});
