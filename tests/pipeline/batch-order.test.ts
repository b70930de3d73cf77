/**
 * Text batches formed by token length: fewer padded positions, the same statistics as batches in
 * stimulus order (to float rounding), and kept activations still in stimulus order.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contrastEnv } from '../../src/jobs/queue.ts';
import { runContrast, type ContrastOptions } from '../../src/pipeline/contrast.ts';
import { paddedPositions, planBatches, planBatchesByLength, planStimuli, stimulusOf, tokenTable, type Stimulus } from '../../src/pipeline/plan.ts';
import { decodeNpy } from '../../src/render/npy.ts';
import { closeContext, createContext, type Context } from '../../src/store/context.ts';
import type { ModelRecord } from '../../src/domain/records.ts';
import { registerModelFromFolder } from '../../src/usecases/models.ts';
import { createTextSet, setItems } from '../../src/usecases/stimulus-sets.ts';
import { MODELS, STIMULI, tempDir, testConfig } from '../support/env.ts';

let ctx: Context;
let model: ModelRecord;
let stimuli: Stimulus[];
const work = tempDir('toposcope-batch-order-');

beforeAll(async () => {
  ctx = createContext(testConfig({ batchSize: 8 }));
  model = (await registerModelFromFolder(ctx, path.join(MODELS, 'topo-gpt'), { trusted: true })).model;
  // Texts of very different lengths, interleaved: corpus lines (long and short) against nonwords.
  const corpus = fs.readFileSync(path.join(STIMULI, 'text', 'corpus.txt'), 'utf8').split('\n').filter(Boolean);
  const a = corpus.filter((_, i) => i % 97 === 0).slice(0, 40);
  const b = fs.readFileSync(path.join(STIMULI, 'text', 'nonwords.txt'), 'utf8').split('\n').filter(Boolean).slice(0, 36);
  const sa = createTextSet(ctx, 'lengths-a', a).set;
  const sb = createTextSet(ctx, 'lengths-b', b).set;
  stimuli = planStimuli([sa.id], [sb.id], (id) => setItems(ctx, id));
});

afterAll(() => {
  closeContext(ctx);
  fs.rmSync(ctx.config.dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

const base: ContrastOptions = {
  layers: [],
  pooling: null,
  test: 'welch',
  correction: 'bh',
  correctionScope: 'layer',
  alpha: 0.05,
  keepActivations: false,
  batchSize: 8,
};

function maxRel(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

describe('batches by token length', () => {
  it('plans every stimulus exactly once, sorted by length, with less padding than stimulus order', () => {
    const lengths = [5, 1, 9, 3, 3, 7, 2, 9, 1, 4, 6];
    const t = tokenTable(lengths.length, (i) => Array.from({ length: lengths[i] }, (_, k) => k + 1));
    const sorted = planBatchesByLength(t, 4);
    const seen: number[] = [];
    for (const b of sorted) for (let k = 0; k < b.end - b.start; k++) seen.push(stimulusOf(b, k));
    expect([...seen].sort((x, y) => x - y)).toEqual(lengths.map((_, i) => i));
    expect(seen.map((i) => lengths[i])).toEqual([...lengths].sort((x, y) => x - y));
    // Ties keep stimulus order.
    expect(seen.filter((i) => lengths[i] === 9)).toEqual([2, 7]);
    const plain = planBatches(lengths.length, 4);
    expect(paddedPositions(t, sorted)).toBeLessThan(paddedPositions(t, plain));
    expect(paddedPositions(t, sorted)).toBe(4 * 3 + 4 * 6 + 3 * 9); // [1,1,2,3] [3,4,5,6] [7,9,9]
  });

  it('gives the statistics of batches in stimulus order (t to 1e-9 relative), with fewer padded tokens', async () => {
    const env = contrastEnv(ctx, model);
    const sorted = await runContrast(env, stimuli, { ...base, batchOrder: 'length' });
    const plain = await runContrast(env, stimuli, { ...base, batchOrder: 'stimulus' });
    expect(sorted.timings.realTokens).toBe(plain.timings.realTokens);
    expect(sorted.timings.paddedTokens!).toBeLessThan(0.8 * plain.timings.paddedTokens!);
    let worst = 0;
    for (let li = 0; li < plain.layers.length; li++) {
      const s = sorted.layers[li];
      const p = plain.layers[li];
      expect(s.name).toBe(p.name);
      expect([s.nA, s.nB]).toEqual([p.nA, p.nB]);
      worst = Math.max(worst, maxRel(s.t, p.t), maxRel(s.meanA, p.meanA), maxRel(s.meanB, p.meanB));
      expect(s.summary.significant).toBe(p.summary.significant);
    }
    console.log(`batch order: max relative |Δ| of t and the means over ${plain.layers.length} layers = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-9);
  });

  it("keeps activations in stimulus order ('mean' and 'tokens' pooling): same row index, same values", async () => {
    const env = contrastEnv(ctx, model);
    const out: Record<string, { data: Float32Array; rows: Int32Array }[]> = {};
    for (const order of ['length', 'stimulus'] as const) {
      for (const pooling of ['mean', 'tokens'] as const) {
        const dir = path.join(work, `${order}-${pooling}`);
        const r = await runContrast(env, stimuli, { ...base, pooling, keepActivations: true, batchOrder: order, layers: ['mlp0', 'mlp3'] }, { activationsDir: dir });
        out[`${order}-${pooling}`] = r.layers.map((l) => ({
          data: decodeNpy(fs.readFileSync(l.activations!.path)).data as Float32Array,
          rows: decodeNpy(fs.readFileSync(l.activations!.rowIndexPath)).data as Int32Array,
        }));
      }
    }
    for (const pooling of ['mean', 'tokens'] as const) {
      const s = out[`length-${pooling}`];
      const p = out[`stimulus-${pooling}`];
      for (let li = 0; li < p.length; li++) {
        expect(Array.from(s[li].rows)).toEqual(Array.from(p[li].rows));
        // Rows are in stimulus order, then token order.
        const r = p[li].rows;
        for (let k = 1; k < r.length / 2; k++) expect(r[2 * k] > r[2 * k - 2] || (r[2 * k] === r[2 * k - 2] && r[2 * k + 1] === r[2 * k - 1] + 1)).toBe(true);
        expect(r[0]).toBe(0);
        expect(r[r.length - 2]).toBe(stimuli.length - 1);
        let m = 0;
        for (let i = 0; i < p[li].data.length; i++) m = Math.max(m, Math.abs(s[li].data[i] - p[li].data[i]));
        expect(m).toBeLessThan(1e-5);
      }
    }
  });
});
