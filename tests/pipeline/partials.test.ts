/** Shard partials on the wire: every kind survives encode → decode bit for bit; broken bytes are refused. */
import { describe, expect, it } from 'vitest';
import type { PooledLayer } from '../../src/inference/pool.ts';
import { decodePartial, encodePartial, ShardFolder, type FoldSpec, type Partial } from '../../src/pipeline/partials.ts';
import type { Batch } from '../../src/pipeline/plan.ts';
import { Rng } from '../../src/stats/rng.ts';

const U = [5, 3];
const rng = new Rng(11);
const batch: Batch = { index: 0, start: 10, end: 16 };
const n = batch.end - batch.start;
const pooled = (tokens: boolean): PooledLayer[] =>
  U.map((u, li) => {
    const rows = tokens ? 2 * n : n;
    return {
      key: `l${li}`,
      rows,
      units: u,
      data: Float32Array.from({ length: rows * u }, () => rng.nextFloat() * 10 - 5),
      sample: Int32Array.from({ length: rows }, (_, r) => (tokens ? r >> 1 : r)),
      token: Int32Array.from({ length: rows }, (_, r) => (tokens ? r & 1 : -1)),
      dims: [rows, u],
    };
  });

const folded = (spec: FoldSpec, out: { layers: PooledLayer[] | null; results: Record<string, Float64Array>[] | null }): Partial => {
  const f = new ShardFolder(spec, U, (i) => i % 3, { start: batch.start, end: batch.end });
  f.add(batch, out);
  return f.finish();
};

/** The partial's numbers as plain arrays (typed arrays compared element by element, NaN included). */
const plain = (p: Partial): unknown => JSON.parse(JSON.stringify(p, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array, (x) => (Number.isNaN(x) ? 'NaN' : x)) : v)));

describe('shard partials', () => {
  const region = [{ layer: 'l0', units: [0, 2] }, { layer: 'l1', units: [1] }];
  const cases: [string, FoldSpec, boolean][] = [
    ['moments with rows', { kind: 'moments', nSets: 3, rows: true }, false],
    ['moments', { kind: 'moments', nSets: 3, rows: false }, false],
    ['rows (tokens)', { kind: 'rows' }, true],
    ['sums', { kind: 'sums' }, true],
    ['region', { kind: 'region', roi: region, control: [{ layer: 'l0', units: [1, 3] }, { layer: 'l1', units: [2] }] }, false],
    ['topk', { kind: 'topk', region, options: { k: 3, bottomK: 2, bins: 16, perQuantile: 2, seed: 5, perUnit: true } }, false],
  ];
  for (const [name, spec, tokens] of cases) {
    it(`${name}: decode(encode(p)) is p, bit for bit`, () => {
      const p = folded(spec, { layers: pooled(tokens), results: null });
      const back = decodePartial(encodePartial(p), spec);
      if (p.kind === 'topk' && back.kind === 'topk') {
        expect(back.fold.regionResult(3)).toEqual(p.fold.regionResult(3));
        expect(back.fold.unitArrays()).toEqual(p.fold.unitArrays());
        expect(back.fold.mean).toBe(p.fold.mean);
      } else expect(plain(back)).toEqual(plain(p));
    });
  }

  for (const [name, spec, tokens] of cases.filter(([, s]) => s.kind === 'moments' || s.kind === 'rows' || s.kind === 'sums')) {
    it(`${name}: folded a layer at a time, in any order, the partial is the whole batch's`, () => {
      const layers = pooled(tokens);
      const whole = folded(spec, { layers, results: null });
      const f = new ShardFolder(spec, U, (i) => i % 3, { start: batch.start, end: batch.end });
      const out = { layers, results: null };
      expect(f.steps(out)).toBe(U.length);
      for (const i of [1, 0]) f.addStep(batch, out, i);
      expect(plain(f.finish())).toEqual(plain(whole));
    });
  }

  it('behaviour: per-stimulus values of the intact model and each configuration, with NaN kept', () => {
    const spec: FoldSpec = { kind: 'behaviour', output: { tensor: 'logits', kind: 'classifier' }, configs: [] };
    const res = (k: number) => ({ correct: Float64Array.from({ length: n }, (_, i) => (i === 2 ? NaN : (i + k) % 2)), logp: Float64Array.from({ length: n }, () => -rng.nextFloat()) });
    const p = folded(spec, { layers: null, results: [res(0), res(1)] });
    expect(p.kind === 'behaviour' && p.values.correct.length).toBe(2 * n);
    expect(plain(decodePartial(encodePartial(p), spec))).toEqual(plain(p));
  });

  it('refuses bytes that are not a partial of the pass', () => {
    const spec: FoldSpec = { kind: 'sums' };
    const bytes = encodePartial(folded(spec, { layers: pooled(false), results: null }));
    expect(() => decodePartial(bytes.subarray(0, bytes.length - 8), spec)).toThrow(/truncated/);
    expect(() => decodePartial(Buffer.from('nope, not a partial'), spec)).toThrow(/bad magic/);
    expect(() => decodePartial(bytes, { kind: 'rows' })).toThrow(/of kind 'sums' for a 'rows' pass/);
  });
});
