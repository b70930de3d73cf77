import { describe, expect, it } from 'vitest';
import { Moments } from '../../src/stats/moments.ts';
import { Rng } from '../../src/stats/rng.ts';
import { expectClose } from './helpers.ts';

/** Two-pass mean and sample variance per column of a rows×units matrix. */
function twoPass(data: Float32Array, rows: number, units: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(units);
  const variance = new Float64Array(units);
  for (let r = 0; r < rows; r++) for (let j = 0; j < units; j++) mean[j] += data[r * units + j];
  for (let j = 0; j < units; j++) mean[j] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < units; j++) {
      const d = data[r * units + j] - mean[j];
      variance[j] += d * d;
    }
  }
  for (let j = 0; j < units; j++) variance[j] /= rows - 1;
  return { mean, variance };
}

function randomMatrix(rows: number, units: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(rows * units);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < units; j++) {
      // per-unit offsets and scales, including a large offset (cancellation-prone) and a constant unit
      const offset = j === 0 ? 1000 : j * 0.7;
      const scale = j === 1 ? 0 : 0.5 + j * 0.3;
      out[r * units + j] = offset + scale * rng.nextNormal();
    }
  }
  return out;
}

describe('Moments (Welford)', () => {
  const rows = 537;
  const units = 9;
  const data = randomMatrix(rows, units, 11);
  const ref = twoPass(data, rows, units);

  it('streaming in random chunk sizes equals a two-pass computation to 1e-12', () => {
    for (const seed of [1, 2, 3]) {
      const rng = new Rng(seed);
      const m = new Moments(units);
      let r = 0;
      while (r < rows) {
        const chunk = Math.min(rows - r, 1 + rng.nextInt(40));
        if (rng.nextFloat() < 0.5) m.pushRows(data.subarray(r * units), chunk);
        else for (let k = 0; k < chunk; k++) m.push(data, (r + k) * units);
        r += chunk;
      }
      expect(m.n).toBe(rows);
      const v = m.variance();
      for (let j = 0; j < units; j++) {
        expectClose(m.mean[j], ref.mean[j], 1e-12, 1e-12, `mean[${j}]`);
        expectClose(v[j], ref.variance[j], 1e-12, 0, `var[${j}]`);
      }
      expect(v[1]).toBe(0); // a constant unit is exactly zero variance
    }
  });

  it('merging shards (Chan et al.) in any grouping equals the two-pass result to 1e-12', () => {
    const rng = new Rng(5);
    const shards: Moments[] = [];
    let r = 0;
    while (r < rows) {
      const chunk = Math.min(rows - r, 1 + rng.nextInt(120));
      const m = new Moments(units);
      m.pushRows(data.subarray(r * units), chunk);
      shards.push(m);
      r += chunk;
    }
    shards.push(new Moments(units)); // an empty shard merges as a no-op
    // merge as a random binary tree
    const pool = shards.slice();
    while (pool.length > 1) {
      const i = rng.nextInt(pool.length);
      const x = pool.splice(i, 1)[0];
      const k = rng.nextInt(pool.length);
      pool[k].merge(x);
    }
    const m = pool[0];
    expect(m.n).toBe(rows);
    const v = m.variance();
    for (let j = 0; j < units; j++) {
      expectClose(m.mean[j], ref.mean[j], 1e-12, 1e-12, `mean[${j}]`);
      expectClose(v[j], ref.variance[j], 1e-12, 0, `var[${j}]`);
    }
  });

  it('pushRows honours stride and offset', () => {
    const stride = 5;
    const padded = new Float32Array(3 * stride + 2);
    const vals = [
      [1, 2, 3],
      [4, 6, 8],
      [7, 7, 7],
    ];
    vals.forEach((row, r) => row.forEach((v, j) => (padded[2 + r * stride + j] = v)));
    const m = new Moments(3);
    m.pushRows(padded, 3, stride, 2);
    expect(Array.from(m.mean)).toEqual([4, 5, 6]);
    expect(Array.from(m.variance())).toEqual([9, 7, 7]);
    expect(() => m.pushRows(padded, 4, stride, 2)).toThrow();
    expect(() => m.push([1, 2])).toThrow();
  });

  it('variance is NaN below 2 samples; JSON and buffers round-trip; merge checks units', () => {
    const m = new Moments(2);
    expect(Number.isNaN(m.variance()[0])).toBe(true);
    m.push([1, 2]);
    expect(Number.isNaN(m.variance()[1])).toBe(true);
    m.push([3, 5]);
    const back = Moments.fromJSON(JSON.parse(JSON.stringify(m)));
    expect(back.n).toBe(2);
    expect(Array.from(back.mean)).toEqual([2, 3.5]);
    expect(Array.from(back.variance())).toEqual([2, 4.5]);
    const b = Moments.fromBuffers(m.n, m.mean.slice(), m.m2.slice());
    expect(b.units).toBe(2);
    b.merge(back);
    expect(b.n).toBe(4);
    expect(Array.from(b.mean)).toEqual([2, 3.5]);
    expect(() => b.merge(new Moments(3))).toThrow(/mismatch/);
  });
});
