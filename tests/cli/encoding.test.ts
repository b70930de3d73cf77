/**
 * The encoding commands as a user runs them (a real child process on a real data folder): top-stimuli,
 * profile and selectivity print the numbers the API computes for the same request on the same data,
 * write their files, and fail with a message naming the flag on bad input.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { closeService, openService } from '../../src/usecases/service.ts';
import { cliRunner } from '../support/cli.ts';
import { tempDir, testConfig } from '../support/env.ts';

const data = tempDir();
const out = tempDir();
afterAll(() => {
  fs.rmSync(data, { recursive: true, force: true });
  fs.rmSync(out, { recursive: true, force: true });
});

/** Same workers, threads and batch size as the app below (testConfig), so both run identical batches. */
const cli = cliRunner(data, { TOPOSCOPE_BATCH_SIZE: '16' });

/** The real app on the same data folder (one process owns it at a time: never while a CLI runs). */
async function withApp<T>(fn: (app: FastifyInstance) => Promise<T>): Promise<T> {
  const service = openService(testConfig({ dataDir: data }));
  const app = await buildApp(service);
  try {
    await app.ready();
    return await fn(app);
  } finally {
    await app.close();
    await closeService(service);
  }
}

async function api(app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: object) {
  const r = await app.inject({ method, url, payload });
  expect(r.statusCode, `${method} ${url}: ${r.body.slice(0, 400)}`).toBeLessThan(300);
  return r.json();
}
async function wait(app: FastifyInstance, url: string) {
  for (;;) {
    const b = await api(app, 'GET', url);
    if (b.state !== 'queued' && b.state !== 'running') {
      expect(b.state, String(b.error)).toBe('succeeded');
      return b;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
async function job(app: FastifyInstance, url: string, payload: object) {
  const { id } = await api(app, 'POST', url, payload);
  return wait(app, `${url}/${id}`);
}

/** The id a command announces on stderr / stdout, e.g. "top-stimuli ts_…: label". */
const idOf = (text: string, word: string) => new RegExp(`${word} (\\S+?):? `).exec(text)?.[1];
const f4 = (v: number) => v.toFixed(4);

beforeAll(async () => {
  await withApp(async (app) => {
    for (const m of ['topo-gpt', 'topo-cnn']) await api(app, 'POST', '/v1/models', { path: m });
    for (const s of ['toxic', 'neutral']) await api(app, 'POST', '/v1/stimulus-sets', { path: `text/${s}.txt` });
    for (const s of ['faces', 'objects', 'places']) await api(app, 'POST', '/v1/stimulus-sets', { path: `images/${s}` });
  });
});

describe('toposcope top-stimuli / profile / selectivity', () => {
  it('top-stimuli prints and writes what the API computes for the same region and sets', async () => {
    const dir = path.join(out, 'top');
    const r = cli('top-stimuli', '--model', 'topo-gpt', '--unit', 'mlp0:17', '--sets', 'toxic,neutral', '--k', '5', '--bottom-k', '3', '--quantiles', '4', '--per-quantile', '1', '--out', dir);
    expect(r.code, r.stderr).toBe(0);
    const id = idOf(r.stderr, 'top-stimuli')!;
    expect(r.stderr).toMatch(/stimuli \(100%\)/);
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    expect(written.id).toBe(id);
    for (const f of ['histogram.png', 'histogram.svg']) expect(fs.statSync(path.join(dir, f)).size, f).toBeGreaterThan(0);
    const mine = await withApp(async (app) => {
      const stored = await api(app, 'GET', `/v1/top-stimuli/${id}`);
      expect(stored.result).toEqual(written.result);
      return (await job(app, '/v1/top-stimuli', { model: 'topo-gpt', region: { kind: 'unit', layer: 'mlp0', unit: 17 }, sets: ['toxic', 'neutral'], k: 5, bottomK: 3, quantiles: 4, perQuantile: 1 })).result;
    });
    expect(mine.n).toBe(240);
    expect(written.result.n).toBe(mine.n);
    const rows = (list: { value: number; text: string; position: number; setName: string }[]) => list.map((e) => [e.setName, e.position, e.value]);
    expect(rows(written.result.top)).toEqual(rows(mine.top));
    expect(rows(written.result.bottom)).toEqual(rows(mine.bottom));
    expect(written.result.histogram.counts).toEqual(mine.histogram.counts);
    // The printed table: every top and bottom value, and the header's count and mean.
    expect(r.stdout).toContain(`240 stimuli, mean ${f4(mine.mean)}`);
    for (const e of [...mine.top, ...mine.bottom]) expect(r.stdout).toMatch(new RegExp(`\\s${f4(e.value).replace('.', '\\.')}\\s+${e.setName}\\s`));
  });

  it('profile prints the held-out means, CIs and effect the API gives for the same seed', async () => {
    const dir = path.join(out, 'profile');
    const args = ['--model', 'topo-gpt', '--localizer-a', 'toxic', '--localizer-b', 'neutral', '--layers', 'mlp0', '--percent', '2', '--measure', 'toxic,neutral', '--effect', 'toxic,neutral', '--splits', '2', '--resamples', '200', '--seed', '3'];
    const r = cli('profile', ...args, '--out', dir);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    for (const f of ['profile.png', 'profile.svg']) expect(fs.statSync(path.join(dir, f)).size, f).toBeGreaterThan(0);
    const mine = await withApp(async (app) =>
      (await job(app, '/v1/profiles', { model: 'topo-gpt', localizer: { a: 'toxic', b: 'neutral', layers: ['mlp0'], percent: 2 }, measure: ['toxic', 'neutral'], effect: { a: 'toxic', b: 'neutral' }, splits: 2, resamples: 200, seed: 3 })).result,
    );
    expect(written.result).toEqual(mine);
    expect(r.stdout).toMatch(/split-half, 2 split\(s\)/);
    for (const c of mine.categories) {
      expect(r.stdout).toContain(`${f4(c.roi.mean)} [${f4(c.roi.lo)}, ${f4(c.roi.hi)}]`);
      expect(r.stdout).toContain(`${f4(c.control.mean)} [${f4(c.control.lo)}, ${f4(c.control.hi)}]`);
    }
    expect(r.stdout).toContain(`toxic vs neutral: fROI d = ${mine.effect.roi.d.toFixed(3)} [${mine.effect.roi.lo.toFixed(3)}, ${mine.effect.roi.hi.toFixed(3)}]`);
  });

  it("selectivity runs a battery and prints the per-layer summary the API computes from its own battery", async () => {
    const dir = path.join(out, 'selectivity');
    const r = cli('selectivity', '--model', 'topo-cnn', '--categories', 'faces,objects,places', '--layers', 'conv4', '--threshold', '0.4', '--out', dir);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'selectivity.json'), 'utf8'));
    for (const stat of ['preferred', 'si', 'sparseness', 'n-above']) expect(fs.statSync(path.join(dir, `conv4.${stat}.png`)).size, stat).toBeGreaterThan(0);
    const mine = await withApp(async (app) => {
      const b = await api(app, 'POST', '/v1/batteries', { model: 'topo-cnn', categories: ['faces', 'objects', 'places'], layers: ['conv4'] });
      for (const c of b.contrasts) await wait(app, `/v1/contrasts/${c.id}`);
      return api(app, 'POST', '/v1/selectivity', { battery: b.id, threshold: 0.4 });
    });
    expect(mine.battery).not.toBe(written.battery);
    expect(written.categories.map((c: { name: string; n: number }) => [c.name, c.n])).toEqual([['faces', 64], ['objects', 64], ['places', 56]]);
    expect(written.layers).toEqual(mine.layers);
    const l = mine.layers[0];
    expect(l.preferredCounts.reduce((a: number, b: number) => a + b, 0) + l.noPreference).toBe(256);
    const line = r.stdout.split('\n').find((x) => x.startsWith('conv4'))!;
    expect(line).toBeDefined();
    for (const v of [l.meanSI, l.medianSI, l.meanSparseness, l.medianSparseness, l.selectiveFraction, l.neighbourAgreement, l.neighbourChance]) expect(line).toContain(v.toFixed(3));
    expect(line).toContain([...l.preferredCounts, l.noPreference].join('/'));
  });

  it('fails with a non-zero exit code and a message naming the flag on bad input', () => {
    const noRegion = cli('top-stimuli', '--model', 'topo-gpt', '--sets', 'toxic');
    expect(noRegion.code).toBe(1);
    expect(noRegion.stderr).toMatch(/give exactly one of --mask ID, --unit LAYER:UNIT/);
    const badUnit = cli('top-stimuli', '--model', 'topo-gpt', '--unit', 'mlp0', '--sets', 'toxic');
    expect(badUnit.code).toBe(1);
    expect(badUnit.stderr).toMatch(/--unit 'mlp0' is not LAYER:UNIT/);
    const noSet = cli('top-stimuli', '--model', 'topo-gpt', '--unit', 'mlp0:1', '--sets', 'no-such-set');
    expect(noSet.code).toBe(1);
    expect(noSet.stderr).toMatch(/stimulus set 'no-such-set' does not exist/);
    const halfLocalizer = cli('profile', '--model', 'topo-gpt', '--localizer-a', 'toxic', '--measure', 'toxic');
    expect(halfLocalizer.code).toBe(1);
    expect(halfLocalizer.stderr).toMatch(/give both --localizer-a and --localizer-b/);
    const noBattery = cli('selectivity', '--model', 'topo-cnn');
    expect(noBattery.code).toBe(1);
    expect(noBattery.stderr).toMatch(/give --battery ID, or --model and --categories/);
    const notInt = cli('top-stimuli', '--unit', 'mlp0:1', '--sets', 'toxic', '--k', 'ten');
    expect(notInt.code).not.toBe(0);
    expect(notInt.stderr).toMatch(/option '--k <n>' argument 'ten' is invalid\. 'ten' is not a number/);
  });
});
