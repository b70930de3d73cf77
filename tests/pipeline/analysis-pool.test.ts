/**
 * When the analysis workers start: a contrast boots them once its sessions are ready (not alongside
 * the session process's start-up), so a pool made with `boot: false` starts no thread until `boot()`
 * or its first request, and a pool closed before then never starts one.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AnalysisPool, analysisWorkersWaiting } from '../../src/pipeline/analysis-worker.ts';
import { DEFAULT_ANALYSIS } from '../../src/domain/defaults.ts';
import { resolveLayout } from '../../src/sheet/layout.ts';

/** This process' threads (a worker thread is one more). */
const threads = () => fs.readdirSync('/proc/self/task').length;

function layerJob(units: number) {
  const group = (shift: number) => ({
    n: 8,
    mean: Float64Array.from({ length: units }, (_, u) => (u % 5 === 0 ? shift : 0) + u / units),
    m2: new Float64Array(units).fill(7),
  });
  return {
    layer: { name: 'l', units, pooling: 'mean', moments: { a: group(1), b: group(0) } },
    sheet: resolveLayout(undefined, units),
    test: { test: 'welch' as const, correction: 'bh' as const, correctionScope: 'layer' as const, alpha: 0.05 },
    correctHere: true,
    opts: DEFAULT_ANALYSIS,
    matrix: null,
    engine: { kind: 'js' as const },
  };
}

describe.runIf(process.platform === 'linux')('analysis pool start-up', () => {
  it('a pool closed before it booted never starts a worker', async () => {
    expect(analysisWorkersWaiting()).toBe(0); // fresh workers only
    const pool = new AnalysisPool(2, { boot: false });
    await pool.close();
    const before = threads();
    pool.boot();
    expect(threads()).toBe(before);
  });

  it('boot: false starts no worker until boot(); boot() starts one thread per worker', async () => {
    expect(analysisWorkersWaiting()).toBe(0);
    const before = threads();
    const pool = new AnalysisPool(2, { boot: false });
    expect(threads()).toBe(before);
    pool.boot();
    expect(threads()).toBe(before + 2);
    pool.boot(); // running workers are not started twice
    expect(threads()).toBe(before + 2);
    const done = await pool.run(layerJob(64));
    expect(done.tested.t.length).toBe(64);
    await pool.close();
    expect(analysisWorkersWaiting()).toBe(2); // parked for the next pool
  });

  it('without boot(), a request starts the worker it goes to (else it would never be answered); waiting workers are taken as they run', async () => {
    const pool = new AnalysisPool(3, { boot: false }); // the 2 waiting workers and a new one
    expect(analysisWorkersWaiting()).toBe(0);
    const done = await Promise.all([layerJob(100), layerJob(100), layerJob(100)].map((j) => pool.run(j)));
    expect(done.map((d) => d.analysis.summary.moran.n)).toEqual([100, 100, 100]);
    await pool.close();
  });
});
