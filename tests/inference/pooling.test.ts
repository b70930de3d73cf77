import { describe, expect, it } from 'vitest';
import { poolTensor, PoolingError } from '../../src/inference/pooling.ts';

function seeded(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    a[i] = s / 2147483648 - 0.5;
  }
  return a;
}

describe('pooling', () => {
  it('mean and max over spatial positions of an NCHW tensor', () => {
    const [B, C, H, W] = [3, 4, 5, 6];
    const data = seeded(B * C * H * W);
    const mean = poolTensor({ data, dims: [B, C, H, W] }, 1, 'mean', null);
    const max = poolTensor({ data, dims: [B, C, H, W] }, 1, 'max', null);
    expect(mean.rows).toBe(B);
    expect(mean.units).toBe(C);
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++) {
        let s = 0;
        let m = -Infinity;
        for (let i = 0; i < H * W; i++) {
          const v = data[((b * C + c) * H * W) + i];
          s += v;
          m = Math.max(m, v);
        }
        expect(mean.data[b * C + c]).toBeCloseTo(s / (H * W), 6);
        expect(max.data[b * C + c]).toBe(Math.fround(m));
      }
  });

  it('NHWC (unit axis last) pools the same values as NCHW', () => {
    const [B, C, H, W] = [2, 3, 4, 5];
    const nchw = seeded(B * C * H * W, 7);
    const nhwc = new Float32Array(nchw.length);
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) nhwc[((b * H + h) * W + w) * C + c] = nchw[((b * C + c) * H + h) * W + w];
    const a = poolTensor({ data: nchw, dims: [B, C, H, W] }, 1, 'mean', null);
    const b = poolTensor({ data: nhwc, dims: [B, H, W, C] }, 3, 'mean', null);
    for (let i = 0; i < a.data.length; i++) expect(b.data[i]).toBeCloseTo(a.data[i], 6);
  });

  it('text mean, last and tokens respect the number of real tokens (padding ignored)', () => {
    const [B, T, U] = [2, 4, 3];
    const data = seeded(B * T * U, 3);
    // Poison the padding positions: they must not leak into any pooled value.
    const lengths = Int32Array.from([4, 2]);
    for (let t = 2; t < T; t++) for (let u = 0; u < U; u++) data[(1 * T + t) * U + u] = 1e6;
    const mean = poolTensor({ data, dims: [B, T, U] }, 2, 'mean', lengths);
    const last = poolTensor({ data, dims: [B, T, U] }, 2, 'last', lengths);
    const tokens = poolTensor({ data, dims: [B, T, U] }, 2, 'tokens', lengths);
    for (let u = 0; u < U; u++) {
      const v = (t: number, b: number) => data[(b * T + t) * U + u];
      expect(mean.data[1 * U + u]).toBeCloseTo((v(0, 1) + v(1, 1)) / 2, 6);
      expect(mean.data[0 * U + u]).toBeCloseTo((v(0, 0) + v(1, 0) + v(2, 0) + v(3, 0)) / 4, 6);
      expect(last.data[1 * U + u]).toBe(v(1, 1));
      expect(last.data[0 * U + u]).toBe(v(3, 0));
    }
    expect(tokens.rows).toBe(6);
    expect(Array.from(tokens.sample)).toEqual([0, 0, 0, 0, 1, 1]);
    expect(Array.from(tokens.token)).toEqual([0, 1, 2, 3, 0, 1]);
    expect(Array.from(last.token)).toEqual([3, 1]);
    for (let i = 0; i < tokens.data.length; i++) expect(tokens.data[i]).toBeLessThan(1e5);
  });

  it('text [batch, units, tokens] layout pools over the last axis', () => {
    const [B, U, T] = [2, 3, 5];
    const data = seeded(B * U * T, 11);
    const lengths = Int32Array.from([5, 3]);
    const r = poolTensor({ data, dims: [B, U, T] }, 1, 'mean', lengths);
    for (let u = 0; u < U; u++) {
      let s = 0;
      for (let t = 0; t < 3; t++) s += data[(1 * U + u) * T + t];
      expect(r.data[U + u]).toBeCloseTo(s / 3, 6);
    }
  });

  it('text [batch, tokens, units] mean and max equal the [batch, units, tokens] layout exactly', () => {
    const [B, T, U] = [3, 6, 7];
    const btu = seeded(B * T * U, 5);
    const lengths = Int32Array.from([6, 1, 4]);
    for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) for (let u = 0; u < U; u++) btu[(b * T + t) * U + u] = 1e6;
    const but = new Float32Array(B * U * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let u = 0; u < U; u++) but[(b * U + u) * T + t] = btu[(b * T + t) * U + u];
    for (const pooling of ['mean', 'max'] as const) {
      const a = poolTensor({ data: btu, dims: [B, T, U] }, 2, pooling, lengths);
      const b = poolTensor({ data: but, dims: [B, U, T] }, 1, pooling, lengths);
      expect(Array.from(a.data)).toEqual(Array.from(b.data));
      for (let i = 0; i < a.data.length; i++) expect(a.data[i]).toBeLessThan(1e5);
    }
    // Unit 0 of sample 2 by hand.
    let s = 0;
    let m = -Infinity;
    for (let t = 0; t < 4; t++) {
      s += btu[(2 * T + t) * U];
      m = Math.max(m, btu[(2 * T + t) * U]);
    }
    expect(poolTensor({ data: btu, dims: [B, T, U] }, 2, 'mean', lengths).data[2 * U]).toBe(Math.fround(s / 4));
    expect(poolTensor({ data: btu, dims: [B, T, U] }, 2, 'max', lengths).data[2 * U]).toBe(m);
  });

  it('rejects impossible requests with a message', () => {
    expect(() => poolTensor({ data: new Float32Array(6), dims: [1, 6] }, 1, 'last', null)).toThrow(PoolingError);
    expect(() => poolTensor({ data: new Float32Array(6), dims: [1, 6] }, 2, 'mean', null)).toThrow(/out of range/);
    expect(() => poolTensor({ data: new Float32Array(12), dims: [1, 4, 3] }, 2, 'mean', Int32Array.from([5]))).toThrow(/real tokens/);
  });
});
