/** The top-stimuli fold as a mergeable partial: shards merged in any order equal one pass. */
import { describe, expect, it } from 'vitest';
import { TopStimuliFold, type RegionUnits } from '../../src/pipeline/topk.ts';
import { Rng } from '../../src/stats/rng.ts';

describe('TopStimuliFold', () => {
  const rng = new Rng(21);
  const N = 400;
  const layers = [
    { units: 12, data: new Float32Array(N * 12) },
    { units: 7, data: new Float32Array(N * 7) },
  ];
  for (const l of layers) for (let i = 0; i < l.data.length; i++) l.data[i] = Math.round(rng.nextNormal() * 8) / 4; // ties
  const region: RegionUnits[] = [
    { layer: 'a', units: Int32Array.from([1, 4, 9]) },
    { layer: 'b', units: Int32Array.from([0, 6]) },
  ];
  const opts = { k: 6, bottomK: 4, bins: 32, perQuantile: 3, seed: 9, perUnit: true };
  const slice = (from: number, to: number) => layers.map((l) => ({ units: l.units, data: l.data.subarray(from * l.units, to * l.units) }));
  const state = (f: TopStimuliFold) => ({ region: f.regionResult(5), units: f.unitArrays(), mean: f.mean, hist: f.hist.result() });

  it('merges shards in any order into the single-pass result', () => {
    const one = new TopStimuliFold(region, opts);
    for (let s = 0; s < N; s += 50) one.addRows(s, 50, slice(s, s + 50));
    const cuts = [0, 37, 200, 311, N];
    const shards = cuts.slice(0, -1).map((from, j) => {
      const f = new TopStimuliFold(region, opts);
      f.addRows(from, cuts[j + 1] - from, slice(from, cuts[j + 1]));
      return f;
    });
    for (const order of [[0, 1, 2, 3], [3, 0, 2, 1]]) {
      const m = new TopStimuliFold(region, opts);
      for (const j of order) m.merge(shards[j]);
      const a = state(m);
      const b = state(one);
      expect(a.region).toEqual(b.region);
      expect(a.units).toEqual(b.units);
      expect(a.hist).toEqual(b.hist);
      expect(a.mean).toBeCloseTo(b.mean, 12);
    }
  });

  it('ranks the region mean and each unit like a sort', () => {
    const f = new TopStimuliFold(region, opts);
    f.addRows(0, N, slice(0, N));
    const mean = Array.from({ length: N }, (_, i) => (layers[0].data[i * 12 + 1] + layers[0].data[i * 12 + 4] + layers[0].data[i * 12 + 9] + layers[1].data[i * 7] + layers[1].data[i * 7 + 6]) / 5);
    const order = (v: number[], dir: number) => v.map((_, i) => i).sort((a, b) => dir * (v[b] - v[a]) || a - b);
    expect(Array.from(f.regionResult(5).top.index)).toEqual(order(mean, 1).slice(0, 6));
    expect(Array.from(f.regionResult(5).bottom!.index)).toEqual(order(mean, -1).slice(0, 4));
    // Channel 4 is region unit 3: layer b, unit 0.
    const col = Array.from({ length: N }, (_, i) => layers[1].data[i * 7]);
    const u = f.unitArrays();
    expect(Array.from(u.topIndex.subarray(3 * 6, 4 * 6))).toEqual(order(col, 1).slice(0, 6));
    expect(Array.from(u.bottomIndex!.subarray(3 * 4, 4 * 4))).toEqual(order(col, -1).slice(0, 4));
  });
});
