/**
 * What a region encodes, over HTTP with the real models: top stimuli against a brute-force sort of kept
 * activations, per-token activations of text examples, cross-validated profiles whose stored splits never
 * use a stimulus for both definition and measurement, seeded (reproducible) CIs, and selectivity across a
 * battery against the battery's own stored moments.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/render/npy.ts';
import { dPrime } from '../../src/stats/selectivity.ts';
import { startApp, textLines, waitForContrast, type TestApp } from '../support/env.ts';

interface Example {
  idx: number;
  set: string;
  setName: string;
  position: number;
  sha256: string;
  text: string | null;
  label: string | null;
  value: number;
  tokens?: { tokens: string[]; values: number[] };
}

let t: TestApp;
const ids: Record<string, string> = {};

async function post(url: string, payload: object, status = 202) {
  const r = await t.app.inject({ method: 'POST', url, payload });
  expect(r.statusCode, `${url}: ${r.body.slice(0, 400)}`).toBe(status);
  return r.json();
}
async function get(url: string) {
  const r = await t.app.inject({ method: 'GET', url });
  expect(r.statusCode, `${url}: ${r.body.slice(0, 400)}`).toBe(200);
  return r;
}
async function waitJob(url: string, timeoutMs = 170_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const body = (await get(url)).json();
    if (body.state !== 'queued' && body.state !== 'running') {
      expect(body.state, String(body.error)).toBe('succeeded');
      return body;
    }
    if (Date.now() > until) throw new Error(`${url} still ${body.state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
async function contrast(payload: object) {
  const c = await post('/v1/contrasts', payload);
  const done = await waitForContrast(t.app, c.id);
  expect(done.state, String(done.error)).toBe('succeeded');
  return c.id as string;
}

beforeAll(async () => {
  t = await startApp({ batchSize: 32 });
  for (const m of ['topo-cnn', 'topo-gpt']) expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: m } })).statusCode).toBe(201);
  for (const d of ['faces', 'bodies', 'places', 'characters', 'objects']) ids[d] = (await post('/v1/stimulus-sets', { path: `images/${d}` }, 201)).id;
  for (const s of ['toxic', 'neutral', 'sentences', 'nonwords', 'toxic-written', 'neutral-written-match', 'toxic-corpus', 'neutral-corpus-match']) ids[s] = (await post('/v1/stimulus-sets', { path: `text/${s}.txt` }, 201)).id;
});
afterAll(async () => t?.close());

describe('top stimuli', () => {
  it('equal a brute-force sort of the kept activations of the same sets (region mean and every unit)', async () => {
    const c = await contrast({ model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'], keepActivations: true, analysis: { topography: { permutations: 19 } } });
    const mask = (await post('/v1/masks', { name: 'faces 5%', kind: 'top-percent', contrast: c, percent: 5 }, 201)).mask;
    const units: number[] = mask.layers[0].units;
    const job = await post('/v1/top-stimuli', { region: { kind: 'mask', mask: mask.id }, sets: ['faces', 'objects'], k: 8, bottomK: 6, perUnit: true, quantiles: 4, perQuantile: 2 });
    expect(job.kind).toBe('top-stimuli');
    const done = await waitJob(`/v1/top-stimuli/${job.id}`);
    const r = done.result;

    const act = decodeNpy((await get(`/v1/contrasts/${c}/layers/conv4/activations.npy`)).rawPayload);
    const [rows, U] = act.shape;
    const data = act.data as Float32Array;
    const region = Array.from({ length: rows }, (_, i) => {
      let s = 0;
      for (const u of units) s += data[i * U + u];
      return s / units.length;
    });
    const order = (vals: number[], dir: 1 | -1) => vals.map((_, i) => i).sort((a, b) => dir * (vals[b] - vals[a]) || a - b);
    expect(r.n).toBe(rows);
    expect(r.top.map((e: Example) => e.idx)).toEqual(order(region, 1).slice(0, 8));
    expect(r.top.map((e: Example) => e.value)).toEqual(order(region, 1).slice(0, 8).map((i) => region[i]));
    expect(r.bottom.map((e: Example) => e.idx)).toEqual(order(region, -1).slice(0, 6));
    expect(r.mean).toBeCloseTo(region.reduce((s, v) => s + v, 0) / rows, 10);
    expect(r.histogram.counts.reduce((s: number, v: number) => s + v, 0)).toBe(rows);
    expect(r.histogram.min).toBe(Math.min(...region));
    expect(r.histogram.max).toBe(Math.max(...region));
    // Each example names its stimulus: the contrast's order is faces then objects, as here.
    const stim = (await get(`/v1/contrasts/${c}/stimuli`)).json().items;
    for (const e of r.top as Example[]) {
      expect(e.sha256).toBe(stim[e.idx].sha256);
      expect(e.label).toBe(stim[e.idx].label);
    }
    // Quantile examples fall inside their group's range; groups cover every stimulus.
    expect(r.quantiles.reduce((s: number, q: { count: number }) => s + q.count, 0)).toBe(rows);
    for (const q of r.quantiles) for (const e of q.examples) expect(e.value >= q.lo && e.value <= q.hi).toBe(true);

    // Per unit: the unit's own column, sorted.
    for (const u of units.slice(0, 4)) {
      const col = Array.from({ length: rows }, (_, i) => data[i * U + u]);
      const pu = (await get(`/v1/top-stimuli/${job.id}/units/conv4/${u}`)).json();
      expect(pu.top.map((e: Example) => e.idx)).toEqual(order(col, 1).slice(0, 8));
      expect(pu.bottom.map((e: Example) => e.idx)).toEqual(order(col, -1).slice(0, 6));
      expect(pu.top[0].value).toBeCloseTo(Math.max(...col), 6);
    }
    const outside = [...Array(256).keys()].find((u) => !units.includes(u))!;
    expect((await t.app.inject({ method: 'GET', url: `/v1/top-stimuli/${job.id}/units/conv4/${outside}` })).statusCode).toBe(404);

    expect((await t.app.inject({ method: 'GET', url: `/v1/top-stimuli/${job.id}/tokens.png` })).statusCode).toBe(409);
    const png = (await get(`/v1/top-stimuli/${job.id}/histogram.png`)).rawPayload;
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(640);
    // The job is listed under its own kind, not among contrasts.
    expect((await get('/v1/top-stimuli')).json().items.some((j: { id: string }) => j.id === job.id)).toBe(true);
    expect((await get('/v1/contrasts')).json().items.some((j: { id: string }) => j.id === job.id)).toBe(false);
    expect((await t.app.inject({ method: 'GET', url: `/v1/contrasts/${job.id}` })).statusCode).toBe(404);
  });

  it('give text examples with per-token activations whose mean is the pooled response', async () => {
    const c = await contrast({ model: 'topo-gpt', a: 'toxic', b: 'neutral', layers: ['mlp0', 'mlp1'], analysis: { topography: { permutations: 19 } } });
    const mask = (await post('/v1/masks', { name: 'toxic 2%', kind: 'top-percent', contrast: c, percent: 2 }, 201)).mask;
    ids.toxicMask = mask.id;
    ids.toxicContrast = c;
    const job = await post('/v1/top-stimuli', { region: { kind: 'mask', mask: mask.id }, sets: 'sentences', k: 5, quantiles: 3, perQuantile: 2 });
    const r = (await waitJob(`/v1/top-stimuli/${job.id}`)).result;
    const lines = textLines('sentences');
    expect(r.n).toBe(lines.length);
    expect(r.region.nUnits).toBe(mask.nUnits);
    const all = [...r.top, ...r.bottom, ...r.quantiles.flatMap((q: { examples: Example[] }) => q.examples)] as Example[];
    for (const e of all) {
      expect(e.text).toBe(lines[e.idx]);
      expect(e.tokens!.tokens.length).toBe(e.tokens!.values.length);
      expect(e.tokens!.tokens.length).toBeGreaterThan(0);
      const m = e.tokens!.values.reduce((s, v) => s + v, 0) / e.tokens!.values.length;
      expect(Math.abs(m - e.value)).toBeLessThan(1e-4);
    }
    expect(r.tokenCheck.examples).toBe(new Set(all.map((e) => e.idx)).size > 0 ? all.length : 0);
    expect(r.tokenCheck.maxAbsDiff).toBeLessThan(1e-4);
    for (let j = 1; j < r.top.length; j++) expect(r.top[j - 1].value).toBeGreaterThanOrEqual(r.top[j].value);
    const svg = (await get(`/v1/top-stimuli/${job.id}/tokens.svg?n=3`)).body;
    expect(svg).toContain('<svg');
    expect((svg.match(/<rect [^>]*rx=/g) ?? []).length).toBe(r.top.slice(0, 3).reduce((s: number, e: Example) => s + e.tokens!.tokens.length, 0));
    expect((await sharp((await get(`/v1/top-stimuli/${job.id}/tokens.png?which=bottom`)).rawPayload).metadata()).format).toBe('png');
  });

  it('refuse what they cannot run', async () => {
    const bad = async (payload: object, status: number, field?: string) => {
      const res = await t.app.inject({ method: 'POST', url: '/v1/top-stimuli', payload });
      expect(res.statusCode, res.body).toBe(status);
      if (field) expect(res.json().field).toBe(field);
    };
    await bad({ model: 'topo-cnn', region: { kind: 'unit', layer: 'nope', unit: 0 }, sets: 'faces' }, 422, 'region.layer');
    await bad({ model: 'topo-cnn', region: { kind: 'unit', layer: 'conv4', unit: 256 }, sets: 'faces' }, 422, 'region.unit');
    await bad({ model: 'topo-cnn', region: { kind: 'unit', layer: 'conv4' }, sets: 'faces' }, 400, 'region.unit');
    await bad({ region: { kind: 'layer', layer: 'conv4' }, sets: 'faces' }, 400, 'model');
    await bad({ model: 'topo-cnn', region: { kind: 'layer', layer: 'conv4' }, sets: 'toxic' }, 422, 'sets');
    await bad({ model: 'topo-gpt', region: { kind: 'unit', layer: 'mlp0', unit: 1 }, sets: 'toxic', pooling: 'tokens' }, 400, 'pooling');
    await bad({ model: 'topo-cnn', region: { kind: 'mask', mask: ids.toxicMask }, sets: 'faces' }, 422, 'model');
  });
});

describe('cross-validated profiles', () => {
  let first: { result: unknown; id: string };
  const payload = { model: 'topo-gpt', localizer: { a: 'toxic', b: 'neutral', layers: ['mlp0'], percent: 2 }, measure: ['toxic', 'neutral', 'sentences', 'nonwords'], splits: 4, resamples: 500, seed: 3 };

  it('split-half: the stored splits never use a stimulus (or its item) for both definition and measurement', async () => {
    const job = await post('/v1/profiles', payload);
    const done = await waitJob(`/v1/profiles/${job.id}`);
    first = { result: done.result, id: job.id };
    const s = (await get(`/v1/profiles/${job.id}/splits`)).json();
    expect(s.splits.length).toBe(4);
    const sha = (i: number) => s.stimuli[i].sha256;
    const setOf = (i: number) => s.stimuli[i].set;
    const measuredIn = new Map<number, number>();
    for (const sp of s.splits) {
      const defIdx = new Set<number>(sp.definition);
      const defSha = new Set<string>(sp.definition.map(sha));
      expect(sp.definition.length).toBeGreaterThan(0);
      for (const i of sp.measurement) {
        expect(defIdx.has(i)).toBe(false);
        expect(defSha.has(sha(i))).toBe(false);
        measuredIn.set(i, (measuredIn.get(i) ?? 0) + 1);
      }
      // The definition is half of each localizer set.
      for (const i of sp.definition) expect([ids.toxic, ids.neutral]).toContain(setOf(i));
      expect(sp.definition.filter((i: number) => setOf(i) === ids.toxic).length).toBe(60);
      expect(sp.roi[0].layer).toBe('mlp0');
      expect(sp.roi[0].units.length).toBe(10); // 2 % of 512
      expect(sp.control[0].units.length).toBe(10);
      expect(sp.control[0].units.some((u: number) => sp.roi[0].units.includes(u))).toBe(false);
    }
    const r = done.result;
    expect(r.mode).toBe('split-half');
    expect(r.categories.map((c: { name: string }) => c.name)).toEqual(['toxic', 'neutral', 'sentences', 'nonwords']);
    for (const c of r.categories) {
      expect(c.roi.lo).toBeLessThanOrEqual(c.roi.mean);
      expect(c.roi.hi).toBeGreaterThanOrEqual(c.roi.mean);
      expect(c.control.n).toBe(c.roi.n);
      expect(c.measured + c.excluded).toBe(c.items);
    }
    // Sets outside the localizer are measured in every split (unless an item is shared with a definition half).
    const sentences = r.categories[2];
    const allSplits = [...measuredIn.entries()].filter(([i, n]) => setOf(i) === ids.sentences && n === 4).length;
    expect(allSplits).toBeLessThanOrEqual(sentences.measured);
    const png = await sharp((await get(`/v1/profiles/${job.id}/profile.png`)).rawPayload).metadata();
    expect(png.width).toBe(720);
    expect((await get(`/v1/profiles/${job.id}/profile.svg`)).body).toContain('<svg');
  });

  it('are reproducible: the same request gives the same splits and CIs', async () => {
    const job = await post('/v1/profiles', payload);
    const done = await waitJob(`/v1/profiles/${job.id}`);
    expect(done.result).toEqual(first.result);
    const a = (await get(`/v1/profiles/${first.id}/splits`)).json().splits;
    const b = (await get(`/v1/profiles/${job.id}/splits`)).json().splits;
    expect(b).toEqual(a);
  });

  it('independent localizer: defined on the written sentences, measured on the corpus ones, never on its own items', async () => {
    const c = await contrast({ model: 'topo-gpt', a: 'toxic-written', b: 'neutral-written-match', layers: ['mlp0'], analysis: { topography: { permutations: 19 } } });
    const mask = (await post('/v1/masks', { name: 'written toxic', kind: 'top-percent', contrast: c, percent: 2 }, 201)).mask;
    const job = await post('/v1/profiles', { mask: mask.id, measure: ['toxic-corpus', 'neutral-corpus-match', 'toxic-written'], effect: { a: 'toxic-corpus', b: 'neutral-corpus-match' }, resamples: 500 });
    const done = await waitJob(`/v1/profiles/${job.id}`);
    const r = done.result;
    const s = (await get(`/v1/profiles/${job.id}/splits`)).json();
    expect(s.splits.length).toBe(1);
    const sp = s.splits[0];
    expect(sp.definition).toEqual([]);
    const defItems = new Set<string>(sp.definitionItems);
    expect(defItems.size).toBeGreaterThan(100);
    for (const i of sp.measurement) expect(defItems.has(s.stimuli[i].sha256)).toBe(false);
    // toxic-written was the definition set: nothing of it is measured.
    const written = r.categories[2];
    expect(written.measured).toBe(0);
    expect(written.excluded).toBe(written.items);
    expect(r.categories[0].measured).toBeGreaterThan(0);
    expect(r.effect.a).toBe('toxic-corpus');
    expect(r.effect.roi.nA).toBe(r.categories[0].measured);
    expect(Number.isFinite(r.effect.t)).toBe(true);
    expect(sp.roi).toEqual(mask.layers.map((l: { layer: string; units: number[] }) => ({ layer: l.layer, units: l.units })));
    // Its control is the stored matched control of the same seed.
    const ctl = await post(`/v1/masks/${mask.id}/control`, { seed: 1 }, 201);
    expect(sp.control[0].units).toEqual(ctl.layers[0].units);
  });

  it("of units chosen on a contrast's map never measure that contrast's items", async () => {
    const job = await post('/v1/profiles', { region: { kind: 'units', layer: 'mlp0', units: [3, 1, 2, 2], contrast: ids.toxicContrast }, measure: ['toxic', 'sentences'], resamples: 200 });
    const done = await waitJob(`/v1/profiles/${job.id}`);
    expect(done.params.define.region.layers).toEqual([{ layer: 'mlp0', units: [1, 2, 3] }]);
    const [tox, sent] = done.result.categories;
    expect(tox.measured).toBe(0);
    expect(tox.excluded).toBe(120);
    const s = (await get(`/v1/profiles/${job.id}/splits`)).json();
    const defItems = new Set<string>(s.splits[0].definitionItems);
    const neutralAndToxic = new Set([...textLines('toxic'), ...textLines('neutral')]);
    const sentences = textLines('sentences');
    expect(sent.measured).toBe(sentences.filter((x) => !neutralAndToxic.has(x)).length);
    for (const i of s.splits[0].measurement) expect(defItems.has(s.stimuli[i].sha256)).toBe(false);
  });

  it('refuse bad requests', async () => {
    const bad = async (payload: object, status: number, field?: string) => {
      const res = await t.app.inject({ method: 'POST', url: '/v1/profiles', payload });
      expect(res.statusCode, res.body).toBe(status);
      if (field) expect(res.json().field).toBe(field);
    };
    await bad({ model: 'topo-gpt', measure: ['toxic'] }, 400, 'localizer');
    await bad({ model: 'topo-gpt', mask: ids.toxicMask, localizer: { a: 'toxic', b: 'neutral' }, measure: ['toxic'] }, 400, 'mask');
    await bad({ model: 'topo-gpt', localizer: { a: 'toxic', b: 'toxic' }, measure: ['toxic'] }, 422, 'localizer.b');
    await bad({ model: 'topo-gpt', localizer: { a: 'toxic', b: 'neutral' }, measure: ['faces'] }, 422, 'measure[0]');
    await bad({ model: 'topo-gpt', localizer: { a: 'toxic', b: 'neutral' }, measure: ['toxic'], effect: { a: 'toxic', b: 'neutral' } }, 422, 'effect.b');
    await bad({ mask: ids.toxicMask, region: { kind: 'unit', layer: 'mlp0', unit: 1 }, measure: ['toxic'] }, 400, 'region');
    await bad({ model: 'topo-gpt', region: { kind: 'units', layer: 'mlp0', units: [600] }, measure: ['toxic'] }, 422, 'region.units');
  });
});

describe('selectivity across a battery', () => {
  it("gives d′, preference, SI and sparseness per unit from the battery's stored moments, maps and layer summaries", async () => {
    const cats = ['faces', 'bodies', 'places', 'characters', 'objects'];
    const b = await post('/v1/batteries', { model: 'topo-cnn', categories: cats, layers: ['conv4'], analysis: { topography: { permutations: 19 } } });
    for (const c of b.contrasts) expect((await waitForContrast(t.app, c.id)).state).toBe('succeeded');
    const sel = await post('/v1/selectivity', { battery: b.id, threshold: 0.5 }, 201);
    expect(sel.categories.map((c: { name: string }) => c.name)).toEqual(cats);
    const l = (await get(`/v1/selectivity/${sel.id}/layers/conv4`)).json();
    // Against each contrast's own stored category and rest moments.
    for (let c = 0; c < cats.length; c++) {
      const lr = (await get(`/v1/contrasts/${b.contrasts[c].id}/layers/conv4`)).json();
      for (const u of [0, 17, 100, 255]) {
        expect(l.mean[c][u]).toBeCloseTo(lr.meanA[u], 5);
        const expected = dPrime(lr.meanA[u], lr.varA[u], lr.meanB[u], lr.varB[u]);
        if (Number.isFinite(expected)) expect(l.dprime[c][u]).toBeCloseTo(expected, 3);
      }
    }
    for (let u = 0; u < l.preferred.length; u++) {
      const m = l.mean.map((row: number[]) => row[u]);
      const best = m.indexOf(Math.max(...m));
      if (new Set(m).size > 1) expect(l.preferred[u]).toBe(best);
      if (l.si[u] !== null) expect(l.si[u]).toBeGreaterThanOrEqual(0);
      if (l.sparseness[u] !== null) expect(l.sparseness[u]).toBeLessThanOrEqual(1);
      expect(l.nAbove[u]).toBe(l.dprime.filter((row: (number | null)[]) => row[u] !== null && row[u]! >= 0.5).length);
    }
    const s = sel.layers[0];
    expect(s.preferredCounts.reduce((a: number, v: number) => a + v, 0) + s.noPreference).toBe(256);
    expect(s.nAboveFractions.reduce((a: number, v: number) => a + v, 0)).toBeCloseTo(1, 10);
    for (const stat of ['preferred', 'si', 'sparseness', 'n-above', 'max-dprime']) {
      const png = await sharp((await get(`/v1/selectivity/${sel.id}/layers/conv4/map.png?stat=${stat}`)).rawPayload).metadata();
      expect(png.format).toBe('png');
    }
    expect((await get(`/v1/selectivity/${sel.id}/layers/conv4/map.svg?stat=dprime&category=faces`)).body).toContain('faces');
    expect((await t.app.inject({ method: 'GET', url: `/v1/selectivity/${sel.id}/layers/conv4/map.png?stat=dprime` })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: `/v1/selectivity/${sel.id}/layers/conv4/map.png?stat=dprime&category=cars` })).statusCode).toBe(422);
    const cmp = await sharp((await get(`/v1/selectivity/compare.png?ids=${sel.id}&metric=agreement`)).rawPayload).metadata();
    expect(cmp.width).toBe(720);
    // A battery of explicit pairs is not a battery of categories.
    const pairs = await post('/v1/batteries', { model: 'topo-cnn', contrasts: [{ a: 'faces', b: 'objects' }], layers: ['conv4'], analysis: { topography: { permutations: 19 } } });
    await waitForContrast(t.app, pairs.contrasts[0].id);
    expect((await t.app.inject({ method: 'POST', url: '/v1/selectivity', payload: { battery: pairs.id } })).statusCode).toBe(422);
  });
});
