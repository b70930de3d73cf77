/**
 * The statistics after inference run on the analysis workers (t-test, correction, summary, analysis):
 * they equal the two-sample test of the stimuli's own rows, the correction within each layer or across
 * all of them, and each contrast of a battery gets its own sets' moments.
 */
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contrastEnv } from '../../src/jobs/queue.ts';
import { analysisWorkersWaiting } from '../../src/pipeline/analysis-worker.ts';
import { runContrast, runContrasts, type ContrastOptions } from '../../src/pipeline/contrast.ts';
import { planStimuli, type Stimulus } from '../../src/pipeline/plan.ts';
import { decodeNpy } from '../../src/render/npy.ts';
import { adjustP } from '../../src/stats/correction.ts';
import { Moments } from '../../src/stats/moments.ts';
import { tTest } from '../../src/stats/ttest.ts';
import { closeContext, createContext, type Context } from '../../src/store/context.ts';
import type { ModelRecord } from '../../src/domain/records.ts';
import { registerModelFromFolder } from '../../src/usecases/models.ts';
import { createTextSet, setItems } from '../../src/usecases/stimulus-sets.ts';
import { MODELS, STIMULI, tempDir, testConfig } from '../support/env.ts';

let ctx: Context;
let model: ModelRecord;
let stimuli: Stimulus[];
const work = tempDir('toposcope-stats-workers-');

beforeAll(async () => {
  ctx = createContext(testConfig({ batchSize: 8 }));
  model = (await registerModelFromFolder(ctx, path.join(MODELS, 'topo-gpt'), { trusted: true })).model;
  const lines = (f: string) => fs.readFileSync(path.join(STIMULI, 'text', f), 'utf8').split('\n').filter(Boolean).slice(0, 24);
  const sa = createTextSet(ctx, 'sentences', lines('sentences.txt')).set;
  const sb = createTextSet(ctx, 'nonwords', lines('nonwords.txt')).set;
  stimuli = planStimuli([sa.id], [sb.id], (id) => setItems(ctx, id));
});

afterAll(() => {
  closeContext(ctx);
  fs.rmSync(ctx.config.dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

const base: ContrastOptions = { layers: [], pooling: null, test: 'welch', correction: 'bh', correctionScope: 'layer', alpha: 0.05, keepActivations: false, batchSize: 8 };

function maxRel(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

describe('statistics on the analysis workers', () => {
  it('t is the two-sample test of the kept rows; q is corrected within each layer or across all layers', async () => {
    const env = contrastEnv(ctx, model);
    const byLayer = await runContrast(env, stimuli, { ...base, keepActivations: true }, { activationsDir: work });
    const across = await runContrast(env, stimuli, { ...base, correctionScope: 'all' });
    expect(byLayer.layers.map((l) => l.name)).toEqual(['mlp0', 'mlp1', 'mlp2', 'mlp3']);
    for (const l of byLayer.layers) {
      const rows = decodeNpy(fs.readFileSync(l.activations!.path)).data as Float32Array;
      const a = new Moments(l.units);
      const b = new Moments(l.units);
      for (let i = 0; i < stimuli.length; i++) (stimuli[i].condition === 'a' ? a : b).pushRows(rows.subarray(i * l.units, (i + 1) * l.units), 1);
      const ref = tTest(a, b, 'welch');
      expect(maxRel(l.t, ref.t)).toBeLessThan(1e-9);
      expect(maxRel(l.meanA, a.mean)).toBeLessThan(1e-9);
      expect([l.nA, l.nB]).toEqual([a.n, b.n]);
      expect(Array.from(l.q)).toEqual(Array.from(adjustP(l.p, 'bh')));
      let sig = 0;
      for (const q of l.q) if (q <= 0.05) sig++;
      expect(l.summary.significant).toBe(sig);
      expect(l.analysis?.clusterLabels.length).toBe(l.units);
    }
    const all = adjustP(Float64Array.from(across.layers.flatMap((l) => Array.from(l.p))), 'bh');
    let o = 0;
    for (const [li, l] of across.layers.entries()) {
      expect(Array.from(l.t)).toEqual(Array.from(byLayer.layers[li].t));
      expect(Array.from(l.q)).toEqual(Array.from(all.subarray(o, o + l.units)));
      o += l.units;
    }
  });

  it('each contrast of a battery is tested on its own sets', async () => {
    const env = contrastEnv(ctx, model);
    const r = await runContrasts(env, stimuli, [{ a: [0], b: [1] }, { a: [1], b: [0] }], { ...base, layers: ['mlp1', 'mlp3'] });
    const [ab, ba] = r.contrasts;
    for (let li = 0; li < ab.length; li++) {
      expect(ab[li].name).toBe(ba[li].name);
      expect(Array.from(ba[li].t)).toEqual(Array.from(ab[li].t, (t) => (t === 0 ? 0 : -t)));
      expect([ba[li].nA, ba[li].nB]).toEqual([ab[li].nB, ab[li].nA]);
      expect(Array.from(ba[li].meanA)).toEqual(Array.from(ab[li].meanB));
    }
  });

  it("a job's signal holds no listener of a finished analysis (one per layer and contrast would pile up)", async () => {
    const env = contrastEnv(ctx, model);
    const ac = new AbortController();
    const r = await runContrasts(env, stimuli, [{ a: [0], b: [1] }, { a: [1], b: [0] }, { a: [0], b: [1] }], base, { signal: ac.signal });
    expect(r.contrasts.flat()).toHaveLength(12);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});

describe('analysis workers between contrasts', () => {
  it('a finished contrast hands its analysis worker to the next one, which gets the same numbers', async () => {
    const env = contrastEnv(ctx, model);
    const first = await runContrast(env, stimuli, base);
    expect(analysisWorkersWaiting()).toBeGreaterThanOrEqual(1);
    const waiting = analysisWorkersWaiting();
    // While the next contrast runs, its pool holds the worker that was waiting.
    const during: number[] = [];
    const second = await runContrast(env, stimuli, base, { onProgress: () => during.push(analysisWorkersWaiting()) });
    expect(during.length).toBeGreaterThan(0);
    expect(Math.max(...during)).toBe(waiting - 1);
    expect(analysisWorkersWaiting()).toBe(waiting);
    for (let li = 0; li < first.layers.length; li++) {
      expect(Array.from(second.layers[li].t)).toEqual(Array.from(first.layers[li].t));
      expect(second.layers[li].summary).toEqual(first.layers[li].summary);
    }
  });
});
