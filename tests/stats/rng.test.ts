import { describe, expect, it } from 'vitest';
import { Rng, randomPermutation } from '../../src/stats/rng.ts';
import { loadReference } from './helpers.ts';

const ref = loadReference();

describe('Rng (xoshiro128** seeded by splitmix32)', () => {
  it('reproduces an independent transcription of the algorithm', () => {
    for (const c of ref.rng) {
      const r = new Rng(c.seed);
      expect(Array.from({ length: c.uint32.length }, () => r.nextUint32())).toEqual(c.uint32);
    }
  });

  it('same seed → same stream, different seeds differ', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const xa = Array.from({ length: 20 }, () => a.nextFloat());
    const xb = Array.from({ length: 20 }, () => b.nextFloat());
    const xc = Array.from({ length: 20 }, () => c.nextFloat());
    expect(xa).toEqual(xb);
    expect(xa).not.toEqual(xc);
  });

  it('nextFloat is in [0, 1) with mean ≈ 1/2', () => {
    const r = new Rng(9);
    let s = 0;
    let outside = 0;
    const n = 50000;
    for (let i = 0; i < n; i++) {
      const x = r.nextFloat();
      if (!(x >= 0 && x < 1)) outside++;
      s += x;
    }
    expect(outside).toBe(0);
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
  });

  it('nextInt and shuffle draw exactly as rejection of the top range and r mod n (the definition)', () => {
    const r = new Rng(2024);
    const d = new Rng(2024); // the definition, on a copy of the stream
    const byDefinition = (n: number) => {
      const limit = 4294967296 - (4294967296 % n);
      let x = d.nextUint32();
      while (x >= limit) x = d.nextUint32();
      return x % n;
    };
    // Small, odd, powers of two, and large n where rejection is frequent (n just above 2^31) or r ≥ 2^32 − n often.
    const ns = [2, 3, 5, 64, 1000, 3072, 2 ** 31 + 1, 3 * 2 ** 30, 2 ** 32 - 5, 2 ** 32];
    for (let k = 0; k < 4000; k++) {
      const n = ns[k % ns.length];
      expect(r.nextInt(n)).toBe(byDefinition(n));
    }
    const a = Float64Array.from({ length: 257 }, (_, i) => i);
    r.shuffle(a, 3, 250);
    const b = Float64Array.from({ length: 257 }, (_, i) => i);
    for (let i = 249; i > 3; i--) {
      const j = 3 + byDefinition(i - 3 + 1);
      [b[i], b[j]] = [b[j], b[i]];
    }
    expect(Array.from(a)).toEqual(Array.from(b));
    // A long shuffle (about a hundred draws rejected near the top of the range) leaves the generator
    // where the definition's draws leave it.
    const big = 1 << 20;
    const u = new Int32Array(big);
    const w = new Int32Array(big);
    for (let i = 0; i < big; i++) u[i] = w[i] = i;
    r.shuffle(u);
    for (let i = big - 1; i > 0; i--) {
      const j = byDefinition(i + 1);
      const t = w[i];
      w[i] = w[j];
      w[j] = t;
    }
    expect(u).toEqual(w);
    expect(r.nextUint32()).toBe(d.nextUint32());
  });

  it('nextInt is unbiased (chi-square) including a non-power-of-two near 2^32', () => {
    const r = new Rng(77);
    for (const k of [3, 7, 10]) {
      const n = 30000;
      const counts = new Array(k).fill(0);
      for (let i = 0; i < n; i++) counts[r.nextInt(k)]++;
      const e = n / k;
      const chi2 = counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
      // 99.9% quantile of chi-square with k−1 ≤ 9 df is < 28
      expect(chi2).toBeLessThan(28);
    }
    // With n = 3·2^30 plain modulo would put 2/3 of the mass in the lower 2^31; rejection must not.
    const big = 3 * 2 ** 30;
    let low = 0;
    const m = 20000;
    for (let i = 0; i < m; i++) if (r.nextInt(big) < 2 ** 31) low++;
    expect(Math.abs(low / m - 2 / 3)).toBeLessThan(0.02);
    expect(() => r.nextInt(0)).toThrow();
    expect(() => r.nextInt(1.5)).toThrow();
  });

  it('shuffle is an in-place permutation with all orders equally likely', () => {
    const r = new Rng(4);
    const counts = new Map<string, number>();
    const n = 24000;
    for (let i = 0; i < n; i++) {
      const a = Int32Array.from([0, 1, 2]);
      r.shuffle(a);
      const key = Array.from(a).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const c of counts.values()) expect(Math.abs(c - n / 6)).toBeLessThan(5 * Math.sqrt((n / 6) * (5 / 6)));
    const p = randomPermutation(100, r);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const u = Uint32Array.from([5, 6, 7, 8]);
    r.shuffle(u, 1, 3); // only the middle two may move
    expect(u[0]).toBe(5);
    expect(u[3]).toBe(8);
  });

  it('nextNormal has mean 0 and variance 1', () => {
    const r = new Rng(8);
    let s = 0;
    let s2 = 0;
    const n = 40000;
    for (let i = 0; i < n; i++) {
      const x = r.nextNormal();
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.04);
  });
});
