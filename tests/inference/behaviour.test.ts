/**
 * Behaviour measures computed in the session worker on the lesion copy of tiny hand-made models, against
 * the same quantities computed by hand here (Float64 forward passes written out in tiny-models.ts): the
 * per-stimulus values, the set measures and the lesion's effect Δ.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lmValues, logSumExp, nextTokenTargets, nllValues } from '../../src/inference/behaviour.ts';
import { SessionPool } from '../../src/inference/pool.ts';
import type { BehaviourFetch } from '../../src/inference/worker-protocol.ts';
import { addLesionSites } from '../../src/onnx/lesion.ts';
import { damages, emptyPartial, foldValues, measuresOf } from '../../src/stats/lesion.ts';
import { tempDir } from '../support/env.ts';
import { clsLogits, lmLogits, logSoftmax, tinyClassifier, tinyLm } from '../support/tiny-models.ts';

const dir = tempDir('toposcope-behaviour-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('kernels', () => {
  it('logSumExp is max-shifted (no overflow) and equals the naive value where that is finite', () => {
    const a = Float32Array.from([1, 2, 3, -1]);
    expect(logSumExp(a, 0, 4)).toBeCloseTo(Math.log(Math.E + Math.E ** 2 + Math.E ** 3 + Math.E ** -1), 12);
    expect(logSumExp(Float32Array.from([1000, 1000]), 0, 2)).toBeCloseTo(1000 + Math.log(2), 10);
  });

  it('lmValues skips padding and the last real token (it predicts nothing)', () => {
    // B = 2, T = 3, V = 2; stimulus 1 has one real token: no targets.
    const logits = Float32Array.from([0, 1, 2, 0, 5, 5, 0, 0, 9, 9, 9, 9]);
    const targets = Int32Array.from([0, 1, 0, 1, 0, 0]);
    const r = lmValues(logits, [2, 3, 2], targets, Int32Array.from([3, 1]));
    const nll = (row: number[], k: number) => -logSoftmax(row)[k];
    expect(r.tokens).toEqual(Float64Array.from([2, 0]));
    expect(r.ceSum[0]).toBeCloseTo(nll([0, 1], 1) + nll([2, 0], 0), 6);
    expect(r.ceSum[1]).toBe(0);
  });

  it('nextTokenTargets shifts each text by one, leaves the last real token and padding at 0, and refuses ids outside the vocabulary', () => {
    const ids = Int32Array.from([4, 2, 5, 1, 3, 0]);
    const t = nextTokenTargets(ids, Int32Array.from([3, 2]), 6);
    expect(t.dims).toEqual([2, 3, 1]);
    expect(Array.from(t.data as BigInt64Array, Number)).toEqual([2, 5, 0, 3, 0, 0]);
    expect(() => nextTokenTargets(ids, Int32Array.from([3, 2]), 5)).toThrow(/token id 5 is outside the vocabulary of 5/);
    expect(() => nextTokenTargets(ids, Int32Array.from([4, 2]), 6)).toThrow(/4 real tokens/);
  });

  it('nllValues sums the len − 1 scored positions of each text in Float64', () => {
    const nll = Float32Array.from([0.5, 0.25, 9, 1.5, 7, 7]);
    const r = nllValues(nll, [2, 3, 1], Int32Array.from([3, 2]));
    expect(Array.from(r.ceSum)).toEqual([0.75, 1.5]);
    expect(Array.from(r.tokens)).toEqual([2, 1]);
  });
});

// The same expectations for an lm scored from its logits (lesion copies built before in-graph scoring)
// and scored in the graph (LogSoftmax − GatherElements), at opsets 17 and 18; below opset 11 (no
// GatherElements) the edit leaves scoring to the logits path.
describe.each([
  { how: 'from the logits', opset: 17, ask: false, inGraph: false },
  { how: 'in the graph, opset 17', opset: 17, ask: true, inGraph: true },
  { how: 'in the graph, opset 18', opset: 18, ask: true, inGraph: true },
  { how: 'from the logits at opset 10', opset: 10, ask: true, inGraph: false },
])('the worker on a tiny language model, scored $how', ({ opset, ask, inGraph }) => {
  let pool: SessionPool;
  let site: ReturnType<typeof addLesionSites>['sites'][number];
  let output: BehaviourFetch;
  beforeAll(async () => {
    const { bytes, sites, scores } = addLesionSites(tinyLm(opset), [{ layer: 'h', tensor: 'h', unitAxis: 2, rank: 3, units: 4 }], ask ? ['logits'] : []);
    site = sites[0];
    const score = scores.get('logits');
    expect(score !== undefined).toBe(inGraph);
    output = { tensor: 'logits', kind: 'lm', ...(score ? { score: { ...score, vocab: 6 } } : {}) };
    const file = path.join(dir, `tiny-lm-${opset}-${ask}.onnx`);
    fs.writeFileSync(file, bytes);
    pool = await SessionPool.create(file, { workers: 1, intraOpThreads: 1, lesion: { sites, config: null } });
  });
  afterAll(async () => pool?.close());

  // Two texts, right-padded with id 0: [0 3 5 2] and [1 4 4 _].
  const texts = [
    [0, 3, 5, 2],
    [1, 4, 4],
  ];
  const feeds = () => {
    const ids = BigInt64Array.from([0n, 3n, 5n, 2n, 1n, 4n, 4n, 0n]);
    return { input_ids: { type: 'int64' as const, dims: [2, 4], data: ids.buffer as ArrayBuffer } };
  };
  const extra = () => ({ lengths: Int32Array.from([4, 3]), targets: Int32Array.from([0, 3, 5, 2, 1, 4, 4, 0]) });
  const handCe = (text: number[], m: number[], o: number[]) => {
    let s = 0;
    for (let t = 0; t + 1 < text.length; t++) s -= logSoftmax(lmLogits(text[t], m, o))[text[t + 1]];
    return s;
  };

  it('returns per-text cross-entropy sums equal to a hand computation, intact and lesioned', async () => {
    const zero13 = { layers: [{ layer: 'h', units: [1, 3], scale: [0, 0], offset: [0, 0] }] };
    const r = await pool.behaviour(feeds(), output, extra(), [zero13]);
    expect(r.results).toHaveLength(2);
    for (const [ci, m] of [
      [0, [1, 1, 1, 1]],
      [1, [1, 0, 1, 0]],
    ] as const) {
      expect(Array.from(r.results[ci].tokens)).toEqual([3, 2]);
      texts.forEach((text, b) => expect(r.results[ci].ceSum[b]).toBeCloseTo(handCe(text, [...m], [0, 0, 0, 0]), 5));
    }
  });

  it('the measured Δ cross-entropy of a zero lesion equals the hand value', async () => {
    const config = { layers: [{ layer: 'h', units: [0, 2], scale: [0, 0], offset: [0, 0] }] };
    const r = await pool.behaviour(feeds(), output, extra(), [config]);
    const set = [0, 0];
    const pIntact = emptyPartial();
    const pLes = emptyPartial();
    foldValues([pIntact], r.results[0], set, 0, 2);
    foldValues([pLes], r.results[1], set, 0, 2);
    const delta = damages(measuresOf(pIntact, 'lm'), measuresOf(pLes, 'lm'));
    const m = [0, 1, 0, 1];
    const handDelta = (handCe(texts[0], m, [0, 0, 0, 0]) + handCe(texts[1], m, [0, 0, 0, 0])) / 5 - (handCe(texts[0], [1, 1, 1, 1], [0, 0, 0, 0]) + handCe(texts[1], [1, 1, 1, 1], [0, 0, 0, 0])) / 5;
    expect(delta.ce).toBeCloseTo(handDelta, 6);
    expect(Math.abs(handDelta)).toBeGreaterThan(1e-3);
  });

  it('scale 1 gives the intact values exactly, and the site is intact again after every configuration', async () => {
    const scale1 = { layers: [{ layer: 'h', units: [0, 1, 2, 3], scale: [1, 1, 1, 1], offset: [0, 0, 0, 0] }] };
    const mean = { layers: [{ layer: 'h', units: [2], scale: [0], offset: [0.75] }] };
    const r = await pool.behaviour(feeds(), output, extra(), [scale1, mean, scale1]);
    expect(Array.from(r.results[1].ceSum)).toEqual(Array.from(r.results[0].ceSum));
    expect(Array.from(r.results[3].ceSum)).toEqual(Array.from(r.results[0].ceSum));
    texts.forEach((text, b) => expect(r.results[2].ceSum[b]).toBeCloseTo(handCe(text, [1, 1, 0, 1], [0, 0, 0.75, 0]), 5));
    // A pool request after it runs the intact model.
    const p = await pool.pool(feeds(), [{ key: 'h', tensor: site.output, unitAxis: 2, pooling: 'tokens' }], Int32Array.from([4, 3]));
    expect(p.layers[0].rows).toBe(7);
  });
});

describe('the worker on a tiny classifier', () => {
  let pool: SessionPool;
  beforeAll(async () => {
    const { bytes, sites } = addLesionSites(tinyClassifier(), [{ layer: 'h', tensor: 'h', unitAxis: 1, rank: 2, units: 3 }]);
    const file = path.join(dir, 'tiny-classifier.onnx');
    fs.writeFileSync(file, bytes);
    pool = await SessionPool.create(file, { workers: 1, intraOpThreads: 1, lesion: { sites, config: null } });
  });
  afterAll(async () => pool?.close());

  const xs = [
    [1, 2, 3, 4],
    [-1, 0.5, 0, 2],
    [0.3, -0.2, 1.5, -1],
  ];
  const labels = [2, -1, 0];

  it('accuracy, log p of the true (or intact top) class, agreement and KL match a hand computation; so does each Δ', async () => {
    const feeds = { x: { type: 'float32' as const, dims: [3, 1, 2, 2], data: Float32Array.from(xs.flat()).buffer as ArrayBuffer } };
    const m = [0, 1, 1];
    const o = [0.4, 0, 0];
    const r = await pool.behaviour(feeds, { tensor: 'logits', kind: 'classifier' }, { labels: Int32Array.from(labels) }, [{ layers: [{ layer: 'h', units: [0], scale: [0], offset: [0.4] }] }]);
    const argmax = (v: number[]) => v.indexOf(Math.max(...v));
    const hand = xs.map((x) => {
      const li = logSoftmax(clsLogits(x));
      const ll = logSoftmax(clsLogits(x, m, o));
      return { li, ll, pi: argmax(li), pl: argmax(ll) };
    });
    hand.forEach((h, b) => {
      const label = labels[b];
      const truth = label >= 0 ? label : h.pi;
      expect(r.results[0].pred[b]).toBe(h.pi);
      expect(r.results[1].pred[b]).toBe(h.pl);
      expect(r.results[0].logp[b]).toBeCloseTo(h.li[truth], 5);
      expect(r.results[1].logp[b]).toBeCloseTo(h.ll[truth], 5);
      if (label >= 0) expect(r.results[1].correct[b]).toBe(h.pl === label ? 1 : 0);
      else expect(Number.isNaN(r.results[1].correct[b])).toBe(true);
      expect(r.results[1].agree[b]).toBe(h.pl === h.pi ? 1 : 0);
      const kl = h.li.reduce((s, lq, c) => s + Math.exp(lq) * (lq - h.ll[c]), 0);
      expect(r.results[1].kl[b]).toBeCloseTo(kl, 5);
      expect(r.results[0].kl[b]).toBe(0);
    });
    const pI = emptyPartial();
    const pL = emptyPartial();
    foldValues([pI], r.results[0], [0, 0, 0], 0, 3);
    foldValues([pL], r.results[1], [0, 0, 0], 0, 3);
    const d = damages(measuresOf(pI, 'classifier'), measuresOf(pL, 'classifier'));
    const acc = (k: 'pi' | 'pl') => [0, 2].filter((b) => hand[b][k] === labels[b]).length / 2;
    expect(d.accuracy).toBeCloseTo(acc('pi') - acc('pl'), 12);
    const lp = (k: 'li' | 'll') => hand.reduce((s, h, b) => s + h[k][labels[b] >= 0 ? labels[b] : h.pi], 0) / 3;
    expect(d.logp).toBeCloseTo(lp('li') - lp('ll'), 5);
    expect(d.agreement).toBeCloseTo(1 - hand.filter((h) => h.pl === h.pi).length / 3, 12);
    expect(d.kl).toBeCloseTo(hand.reduce((s, h) => s + h.li.reduce((t, lq, c) => t + Math.exp(lq) * (lq - h.ll[c]), 0), 0) / 3, 5);
    expect(Math.abs(d.logp!)).toBeGreaterThan(1e-3); // the lesion does change the model
  });
});
