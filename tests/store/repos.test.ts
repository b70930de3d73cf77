/** The repositories below the use cases: a real SQLite file, migrations, round trips at stored precision. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from '../../src/domain/defaults.ts';
import type { LayerOutcome, ModelRecord, StimulusSet } from '../../src/domain/records.ts';
import { UNIT_STATS } from '../../src/domain/stats.ts';
import { resolveLayout } from '../../src/sheet/layout.ts';
import { migrate, openDatabase } from '../../src/store/db.ts';
import { getJob, insertJobs, markRunning, queueCounts } from '../../src/store/jobs-repo.ts';
import { getMask, insertMask, listMasks } from '../../src/store/masks-repo.ts';
import { deleteModelAndJobs, findModel, getSheet, insertModel, putSheets } from '../../src/store/models-repo.ts';
import { getLayerResult, layerSummaries, storeSuccess } from '../../src/store/results-repo.ts';
import { findSet, insertSet, jobsUsingSet, setItems } from '../../src/store/sets-repo.ts';
import { tempDir } from '../support/env.ts';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = openDatabase(path.join(dir, 'db.sqlite'));

const model: ModelRecord = {
  id: 'm1',
  hash: 'h1',
  name: 'tiny',
  modality: 'text',
  manifest: { name: 'tiny', modality: 'text', input: { text: { tokenizer: { type: 'gpt2' }, maxTokens: 8, idsInput: 'ids' } }, layers: [{ name: 'l', tensor: 't', unitAxis: 2 }] },
  onnxSha256: 'x',
  dir: 'models/h1',
  sizeBytes: 1,
  info: { inputs: [], outputs: [], opsets: [], externalDataFiles: [], dynamicBatch: true, layers: [{ name: 'l', tensor: 't', unitAxis: 2, pooling: 'mean', units: 6, rows: 2, cols: 3, probeShape: [2, 3, 6] }], files: [] },
  source: 'test',
  createdAt: '2026-12-01T00:00:00.000Z',
};
const set = (id: string, name: string): StimulusSet => ({ id, hash: `hash-${id}`, name, modality: 'text', nItems: 2, source: 'test', createdAt: '2026-12-01T00:00:00.000Z' });

describe('store', () => {
  it('migrations are idempotent and numbered', () => {
    expect(migrate(db)).toBe(0);
    expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(3);
  });

  it('models and their stored sheets round-trip; a permuted sheet keeps its mapping', () => {
    insertModel(db, model);
    const sheet = resolveLayout({ type: 'grid', rows: 2, cols: 3, permutation: [5, 4, 3, 2, 1, 0] }, 6);
    putSheets(db, model.id, [{ layer: 'l', sheet }]);
    expect(findModel(db, 'tiny')?.id).toBe('m1');
    const back = getSheet(db, 'm1', 'l')!;
    expect(Array.from(back.cellOfUnit)).toEqual([5, 4, 3, 2, 1, 0]);
    expect(Array.from(back.unitOfCell)).toEqual([5, 4, 3, 2, 1, 0]);
    expect(Array.from(back.x)).toEqual(Array.from(sheet.x));
    expect(getSheet(db, 'm1', 'nope')).toBeNull();
  });

  it('sets share content-addressed items and list them in order', () => {
    const items = (texts: string[]) => texts.map((t) => ({ sha256: `sha-${t}`, label: null, kind: 'text' as const, mediaType: 'text/plain', bytes: t.length, text: t, path: null }));
    insertSet(db, set('s1', 'a'), items(['x y', 'z w']));
    insertSet(db, set('s2', 'b'), items(['z w', 'q r']));
    expect(setItems(db, 's2').map((i) => i.text)).toEqual(['z w', 'q r']);
    expect((db.prepare('SELECT COUNT(*) AS n FROM stimulus_items').get() as { n: number }).n).toBe(3);
    expect(findSet(db, 'b')?.id).toBe('s2');
  });

  it('a job goes queued → running → succeeded with its results, atomically; statistics keep their stored precision', () => {
    const params = { model: 'm1', layers: ['l'], a: ['s1'], b: ['s2'], pooling: null, test: 'welch' as const, correction: 'bh' as const, correctionScope: 'layer' as const, alpha: 0.05, keepActivations: false, label: 'a > b', analysis: DEFAULT_ANALYSIS };
    insertJobs(db, [{ id: 'j1', modelId: 'm1', params, provenance: {}, total: 4 }]);
    expect(jobsUsingSet(db, 's1')).toBe(1);
    expect(queueCounts(db)).toEqual({ queued: 1, running: 0 });
    expect(markRunning(db, 'j1')).toBe(true);
    expect(getJob(db, 'j1')?.progressStage).toBe('starting');
    const sheet = resolveLayout(undefined, 6);
    const stats = Object.fromEntries(UNIT_STATS.map((s, k) => [s.field, Float64Array.from({ length: 6 }, (_, u) => (u + 1) * 1.000000123 + k)])) as Record<string, Float64Array>;
    stats.p[0] = 1e-300;
    const outcome = { name: 'l', units: 6, rows: sheet.rows, cols: sheet.cols, cellOfUnit: sheet.cellOfUnit, sheet, nA: 2, nB: 2, ...stats, summary: { units: 6 } as never, analysis: null, activations: null } as unknown as LayerOutcome;
    expect(storeSuccess(db, 'j1', [outcome], [], [], { totalMs: 1 }, { maxTokens: 8, sets: { s1: 1, s2: 0 } })).toBe(true);
    expect(storeSuccess(db, 'j1', [outcome], [], [], { totalMs: 1 })).toBe(false); // no longer running
    const j = getJob(db, 'j1')!;
    expect(j.state).toBe('succeeded');
    expect(j.truncation).toEqual({ maxTokens: 8, sets: { s1: 1, s2: 0 } });
    const r = getLayerResult(db, 'j1', 'l')!;
    for (const s of UNIT_STATS) {
      const stored = r[s.field];
      expect(stored instanceof (s.dtype === 'f64' ? Float64Array : Float32Array), s.field).toBe(true);
      if (s.dtype === 'f64') expect(Array.from(stored)).toEqual(Array.from(stats[s.field]));
      else expect(Array.from(stored)).toEqual(Array.from(Float32Array.from(stats[s.field])));
    }
    expect(r.p[0]).toBe(1e-300);
    expect(layerSummaries(db, 'j1').map((l) => l.name)).toEqual(['l']);
  });

  it('masks store their units per layer; deleting a model takes its jobs and masks along', () => {
    insertMask(db, { id: 'k1', name: 'm', modelId: 'm1', contrast: 'j1', kind: 'explicit', spec: { kind: 'explicit' }, controlOf: null }, new Map([['l', Int32Array.from([1, 4])]]));
    expect(getMask(db, 'k1')).toMatchObject({ nUnits: 2, layers: [{ layer: 'l', nUnits: 2, units: [1, 4] }] });
    expect(listMasks(db, { model: 'm1', limit: 10, offset: 0 }).total).toBe(1);
    expect(deleteModelAndJobs(db, 'm1')).toEqual(['j1']);
    expect(getJob(db, 'j1')).toBeNull();
    expect(getMask(db, 'k1')).toBeNull();
    expect(getSheet(db, 'm1', 'l')).toBeNull();
  });
});
