/** The pipeline's stages, each alone: plan, fold (exact merge of shards), test (correction in log space). */
import { describe, expect, it } from 'vitest';
import type { StimulusItem } from '../../src/domain/records.ts';
import { Fold } from '../../src/pipeline/fold.ts';
import { ShardFolder } from '../../src/pipeline/partials.ts';
import { planBatches, planStimuli, type PlannedLayer } from '../../src/pipeline/plan.ts';
import { correct, layerMoments, layerOutcome, testLayer } from '../../src/pipeline/test.ts';
import { resolveLayout } from '../../src/sheet/layout.ts';
import { adjustLog10P, adjustP } from '../../src/stats/correction.ts';
import { Moments } from '../../src/stats/moments.ts';
import { tTest } from '../../src/stats/ttest.ts';
import { Rng } from '../../src/stats/rng.ts';
import type { PooledLayer } from '../../src/inference/pool.ts';

const item = (k: number): StimulusItem => ({ position: k, sha256: `s${k}`, label: null, classLabel: null, kind: 'text', mediaType: 'text/plain', text: `t${k}`, path: null });

describe('plan', () => {
  it('orders A before B, sets in the given order, items in position order; batches cover every stimulus once', () => {
    const items: Record<string, StimulusItem[]> = { x: [item(0), item(1)], y: [item(0)], z: [item(0), item(1), item(2)] };
    const st = planStimuli(['x', 'y'], ['z'], (id) => items[id]);
    expect(st.map((s) => `${s.condition}${s.setIndex}${s.setId}${s.item.position}`)).toEqual(['a0x0', 'a0x1', 'a1y0', 'b2z0', 'b2z1', 'b2z2']);
    const b = planBatches(st.length, 4);
    expect(b).toEqual([{ index: 0, start: 0, end: 4 }, { index: 1, start: 4, end: 6 }]);
  });
});

describe('fold and test', () => {
  const units = 6;
  const layer: PlannedLayer = { name: 'l', tensor: 't', unitAxis: 1, pooling: 'mean', units, rows: 2, cols: 3, probeShape: [1, units] };
  const rng = new Rng(7);
  const n = 23;
  const rows = Float32Array.from({ length: n * units }, () => rng.nextFloat() * 4 - 2);
  const stimuli = planStimuli(['a1', 'a2'], ['b1'], (id) => Array.from({ length: id === 'a1' ? 8 : id === 'a2' ? 5 : 10 }, (_, k) => item(k)));
  const pooled = (start: number, end: number): PooledLayer[] => [
    { key: 'l', rows: end - start, units, data: rows.slice(start * units, end * units), sample: Int32Array.from({ length: end - start }, (_, i) => i), token: new Int32Array(end - start).fill(-1), dims: [end - start, units] },
  ];

  /** Each batch as a shard of its own: folded alone, then merged in order. */
  const foldAll = (f: Fold, size: number, rows: boolean) => {
    for (const b of planBatches(n, size)) {
      const s = new ShardFolder({ kind: 'moments', nSets: 3, rows }, [units], (i) => stimuli[i].setIndex, b);
      s.add(b, { layers: pooled(b.start, b.end), results: null });
      f.mergeShard(s.finish());
    }
    return f;
  };

  it('folds rows into per-set moments that merge exactly, whatever the shard size', () => {
    const folds = [3, 7, 23].map((size) => foldAll(new Fold([layer], stimuli, 3, { keepMatrix: false }), size, false));
    const direct = new Moments(units);
    direct.pushRows(rows.subarray(0, 13 * units), 13);
    for (const f of folds) {
      const m = f.merged(0, [0, 1]);
      expect(m.n).toBe(13);
      for (let u = 0; u < units; u++) {
        expect(m.mean[u]).toBeCloseTo(direct.mean[u], 12);
        expect(m.m2[u]).toBeCloseTo(direct.m2[u], 11);
      }
    }
  });

  it('tests each layer in full: t equals the two-sample test of the merged moments, q and log10 q agree', () => {
    const f = foldAll(new Fold([layer], stimuli, 3, { keepMatrix: true }), 5, true);
    const sheet = resolveLayout({ type: 'grid', rows: 2, cols: 3 }, units);
    const opts = { test: 'welch', correction: 'bh', correctionScope: 'layer', alpha: 0.05 } as const;
    // The stage as a job runs it on an analysis worker: merged moments → test → correction → outcome.
    const tested = testLayer(layerMoments(f, 0, { a: [0, 1], b: [2] }), opts.test);
    const o = layerOutcome(layer, sheet, tested, correct([tested], opts.correction, opts.correctionScope)[0], opts);
    const ref = tTest(f.merged(0, [0, 1]), f.merged(0, [2]), 'welch');
    expect(Array.from(o.t)).toEqual(Array.from(ref.t));
    expect(Array.from(o.q)).toEqual(Array.from(adjustP(ref.p, 'bh')));
    for (let u = 0; u < units; u++) expect(o.log10q[u]).toBeCloseTo(Math.log10(o.q[u]), 10);
    expect(o.summary).toMatchObject({ units, nA: 13, nB: 10, rows: 2, cols: 3, correction: 'bh' });
    const m = f.takeMatrices()!;
    expect(m[0].rows).toBe(n);
    expect(Array.from(m[0].data)).toEqual(Array.from(rows));
  });
});

describe('correction in log10 space', () => {
  it('equals log10 of p.adjust where p does not underflow, and stays finite where it does', () => {
    const rng = new Rng(3);
    const p = Float64Array.from({ length: 200 }, () => rng.nextFloat() ** 6);
    p[3] = NaN;
    for (const m of ['bh', 'by', 'holm', 'bonferroni', 'none'] as const) {
      const q = adjustP(p, m);
      const lq = adjustLog10P(Float64Array.from(p, Math.log10), m);
      for (let i = 0; i < p.length; i++) {
        if (Number.isNaN(p[i])) expect(lq[i]).toBeNaN();
        else expect(lq[i]).toBeCloseTo(Math.log10(q[i]), 9);
      }
    }
    const tiny = Float64Array.from([-400, -350, -2, -0.1]);
    const lq = adjustLog10P(tiny, 'bh');
    expect(lq[0]).toBeCloseTo(-400 + Math.log10(4), 9);
    expect(lq.every(Number.isFinite)).toBe(true);
  });

  it('across layers corrects one family: the same as correcting the concatenation', () => {
    const a = { p: Float64Array.from([0.001, 0.02, 0.5]), log10p: Float64Array.from([0.001, 0.02, 0.5], Math.log10) };
    const b = { p: Float64Array.from([0.03, 0.0001]), log10p: Float64Array.from([0.03, 0.0001], Math.log10) };
    const [qa, qb] = correct([a, b], 'bh', 'all');
    const all = adjustP(Float64Array.from([0.001, 0.02, 0.5, 0.03, 0.0001]), 'bh');
    expect([...qa.q, ...qb.q]).toEqual(Array.from(all));
  });
});
