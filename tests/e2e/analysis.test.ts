/**
 * Beyond the t-map, over HTTP: clusters, topography, permutation FWE, reliability, batteries (one
 * pass through the model), masks with random controls, and map comparisons.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findClusters } from '../../src/stats/clusters.ts';
import { moranI } from '../../src/stats/moran.ts';
import { startApp, waitForContrast, type TestApp } from '../support/env.ts';

interface Layer {
  units: number;
  rows: number;
  cols: number;
  cellOfUnit: number[];
  t: number[];
  p: number[];
  q: number[];
  pFWE: number[] | null;
  clusterLabel: number[] | null;
  analysis: {
    moran: { I: number; p: number; expected: number; contiguity: string; smoothed: boolean; permutations: number };
    smoothness: { binCenters: number[]; meanAbsDiff: (number | null)[]; chanceMean: (number | null)[] };
    reliability?: { meanR: number; meanSpearmanBrown: number; r: number[]; dice: (number | null)[]; splits: number };
    permutation?: { nPerm: number; seed: number; maxAbsTNull: { q95: number } };
    clusterParams: { threshold: number; scale: string; connectivity: number };
  };
  clusters: { id: number; sign: number; size: number; mass: number; peakT: number; peakUnit: number; pMass: number | null }[];
}

describe('analysis beyond the t-map', () => {
  let t: TestApp;
  const model = 'topo-cnn';
  let layer = '';
  let contrast = '';
  const get = async (url: string) => {
    const r = await t.app.inject({ method: 'GET', url });
    expect(r.statusCode, `${url}: ${r.body.slice(0, 300)}`).toBe(200);
    return r;
  };

  beforeAll(async () => {
    t = await startApp({ batchSize: 32 });
    expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: model } })).statusCode).toBe(201);
    for (const d of ['faces', 'bodies', 'places', 'characters', 'objects']) {
      expect((await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: `images/${d}` } })).statusCode).toBe(201);
    }
    const m = (await t.app.inject({ method: 'GET', url: `/v1/models/${model}` })).json();
    layer = m.layers[m.layers.length - 1].name;
  });
  afterAll(async () => t?.close());

  it('stores clusters (one stated scale), Moran\'s I with its permutation p, the smoothness curve, FWE p and reliability', async () => {
    const c = await t.app.inject({
      method: 'POST',
      url: '/v1/contrasts',
      payload: {
        model,
        a: 'faces',
        b: 'objects',
        layers: [layer],
        analysis: { seed: 5, clusters: { scale: 'abs-t', threshold: 2.5, connectivity: 8 }, topography: { permutations: 199 }, permutations: { n: 199 }, reliability: { splits: 5, threshold: 2 } },
      },
    });
    expect(c.statusCode, c.body).toBe(202);
    contrast = c.json().id;
    const done = await waitForContrast(t.app, contrast);
    expect(done.state, String(done.error)).toBe('succeeded');
    expect((done.provenance as { seed: number }).seed).toBe(5);
    const l = (await get(`/v1/contrasts/${contrast}/layers/${layer}`)).json() as Layer;

    // Clusters agree with components recomputed here from the stored t-map.
    const sheet = new Float64Array(l.rows * l.cols).fill(NaN);
    l.cellOfUnit.forEach((cell, u) => (sheet[cell] = l.t[u]));
    const again = findClusters(sheet, l.rows, l.cols, { threshold: 2.5, scale: 'abs-t', connectivity: 8 });
    expect(l.clusters.length).toBe(again.clusters.length);
    expect(l.clusters.map((k) => k.size)).toEqual(again.clusters.map((k) => k.size));
    for (const k of l.clusters) {
      expect(Math.abs(l.t[k.peakUnit])).toBeCloseTo(Math.abs(k.peakT), 4);
      expect(Math.sign(l.t[k.peakUnit])).toBe(k.sign);
      expect(l.clusterLabel!.filter((x) => x === k.id).length).toBe(k.size);
      expect(k.pMass).not.toBeNull();
      expect(k.pMass!).toBeGreaterThan(0);
      expect(k.pMass!).toBeLessThanOrEqual(1);
    }
    const table = (await get(`/v1/contrasts/${contrast}/layers/${layer}/clusters`)).json();
    expect(table.params).toMatchObject({ scale: 'abs-t', threshold: 2.5, connectivity: 8 });
    expect(table.clusters.length).toBe(l.clusters.length);

    // Moran's I: the unsmoothed queen-contiguity statistic of the stored t-map.
    expect(l.analysis.moran).toMatchObject({ contiguity: 'queen', smoothed: false, permutations: 199 });
    expect(l.analysis.moran.I).toBeCloseTo(moranI(sheet, l.rows, l.cols, { contiguity: 'queen' }), 5); // stored t is float32
    expect(l.analysis.moran.p).toBeGreaterThanOrEqual(1 / 200);
    expect(l.analysis.smoothness.binCenters.length).toBe(20);
    const topo = (await get(`/v1/contrasts/${contrast}/layers/${layer}/topography`)).json();
    expect(topo.moran.I).toBe(l.analysis.moran.I);
    expect(topo.reliability.splits).toBe(5);

    // Permutation FWE: p in [1/(n+1), 1], never below the uncorrected p's ordering constraint at the peak.
    expect(l.pFWE).not.toBeNull();
    for (const p of l.pFWE!) {
      expect(p).toBeGreaterThanOrEqual(1 / 200);
      expect(p).toBeLessThanOrEqual(1);
    }
    let peak = 0;
    for (let u = 1; u < l.units; u++) if (Math.abs(l.t[u]) > Math.abs(l.t[peak])) peak = u;
    expect(Math.min(...l.pFWE!)).toBe(l.pFWE![peak]);
    expect(l.analysis.permutation).toMatchObject({ nPerm: 199, seed: 5 });

    // Reliability: split-half r per split and its Spearman–Brown correction.
    const rel = l.analysis.reliability!;
    expect(rel.r.length).toBe(5);
    expect(rel.meanSpearmanBrown).toBeCloseTo(rel.r.map((r) => (2 * r) / (1 + r)).reduce((a, b) => a + b, 0) / 5, 9);

    // The PNGs.
    for (const url of [
      `/v1/contrasts/${contrast}/layers/${layer}/smoothness.png`,
      `/v1/contrasts/${contrast}/layers/${layer}/map.png?outline=clusters`,
      `/v1/contrasts/${contrast}/layers/${layer}/map.png?stat=pfwe&threshold=1.3`,
    ]) {
      const png = (await get(url)).rawPayload;
      const meta = await sharp(png).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width!).toBeGreaterThan(200);
    }
    const noTfce = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrast}/layers/${layer}/map.png?stat=tfce` });
    expect(noTfce.statusCode).toBe(409);
  });

  it('the same seed gives identical permutation and topography results', async () => {
    const c = await t.app.inject({
      method: 'POST',
      url: '/v1/contrasts',
      payload: { model, a: 'faces', b: 'objects', layers: [layer], analysis: { seed: 5, clusters: { scale: 'abs-t', threshold: 2.5, connectivity: 8 }, topography: { permutations: 199 }, permutations: { n: 199 }, reliability: { splits: 5, threshold: 2 } } },
    });
    const id = c.json().id;
    expect((await waitForContrast(t.app, id)).state).toBe('succeeded');
    const a = (await get(`/v1/contrasts/${contrast}/layers/${layer}`)).json() as Layer;
    const b = (await get(`/v1/contrasts/${id}/layers/${layer}`)).json() as Layer;
    expect(b.pFWE).toEqual(a.pFWE);
    expect(b.analysis.moran).toEqual(a.analysis.moran);
    expect(b.analysis.reliability).toEqual(a.analysis.reliability);
    expect(b.clusters).toEqual(a.clusters);
  });

  it('rejects a cluster threshold on the wrong scale', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'faces', b: 'objects', analysis: { clusters: { scale: 'p', threshold: 3 } } } });
    expect(r.statusCode).toBe(400);
    expect(r.json().field).toBe('analysis.clusters.threshold');
  });

  it('a battery runs every category vs the rest in one pass, with the numbers of separate contrasts', async () => {
    const cats = ['faces', 'bodies', 'places', 'characters', 'objects'];
    const r = await t.app.inject({ method: 'POST', url: '/v1/batteries', payload: { model, categories: cats, layers: [layer] } });
    expect(r.statusCode, r.body).toBe(202);
    const battery = r.json();
    expect(battery.contrasts).toHaveLength(5);
    const ids = battery.contrasts.map((c: { id: string }) => c.id) as string[];
    const done = [];
    for (const id of ids) done.push(await waitForContrast(t.app, id));
    const total = done[0].progress as { total: number };
    for (const d of done) {
      expect(d.state).toBe('succeeded');
      expect(d.battery).toBe(battery.id);
      expect((d.timings as { contrastsInPass: number }).contrastsInPass).toBe(5);
    }
    // One pass: the shared progress total is the union of the five sets, not five times it.
    const sizes = await Promise.all(cats.map(async (c) => (await get(`/v1/stimulus-sets/${c}`)).json().nItems as number));
    expect(total.total).toBe(sizes.reduce((a, b) => a + b, 0));
    // faces vs rest from the battery equals the same contrast run alone.
    const alone = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'faces', b: ['bodies', 'places', 'characters', 'objects'], layers: [layer] } });
    expect((await waitForContrast(t.app, alone.json().id)).state).toBe('succeeded');
    const x = (await get(`/v1/contrasts/${ids[0]}/layers/${layer}`)).json() as Layer;
    const y = (await get(`/v1/contrasts/${alone.json().id}/layers/${layer}`)).json() as Layer;
    for (let u = 0; u < x.units; u++) expect(x.t[u]).toBeCloseTo(y.t[u], 4);
    const b = (await get(`/v1/batteries/${battery.id}`)).json();
    expect(b.contrasts.map((c: { label: string }) => c.label)).toEqual(cats.map((c) => `${c} > rest`));
  });

  it('masks: top-k%, significant, cluster, explicit; matched random controls', async () => {
    const top = await t.app.inject({ method: 'POST', url: '/v1/masks', payload: { name: 'top5', kind: 'top-percent', contrast, percent: 5, control: { seed: 3 } } });
    expect(top.statusCode, top.body).toBe(201);
    const { mask, control } = top.json();
    const l = (await get(`/v1/contrasts/${contrast}/layers/${layer}`)).json() as Layer;
    const k = Math.max(1, Math.round((l.units * 5) / 100));
    expect(mask.nUnits).toBe(k);
    const order = l.t.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    expect(mask.layers[0].units).toEqual(order.slice(0, k).map((x) => x[1]).sort((a, b) => a - b));
    expect(control.kind).toBe('random-control');
    expect(control.controlOf).toBe(mask.id);
    expect(control.layers[0].nUnits).toBe(k);
    expect(control.layers[0].units.filter((u: number) => mask.layers[0].units.includes(u))).toEqual([]);
    const again = await t.app.inject({ method: 'POST', url: `/v1/masks/${mask.id}/control`, payload: { seed: 3 } });
    expect(again.json().layers[0].units).toEqual(control.layers[0].units); // seeded
    const other = await t.app.inject({ method: 'POST', url: `/v1/masks/${mask.id}/control`, payload: { seed: 4 } });
    expect(other.json().layers[0].units).not.toEqual(control.layers[0].units);

    const sig = await t.app.inject({ method: 'POST', url: '/v1/masks', payload: { name: 'sig', kind: 'significant', contrast, correction: 'bonferroni', alpha: 0.05 } });
    const expected = l.p.map((p, u) => [Math.min(1, p * l.units), u] as const).filter(([q, u]) => q <= 0.05 && l.t[u] > 0).map(([, u]) => u);
    if (expected.length) {
      expect(sig.statusCode, sig.body).toBe(201);
      expect(sig.json().mask.layers[0].units).toEqual(expected);
    } else expect(sig.statusCode).toBe(422);

    if (l.clusters.length) {
      const cl = await t.app.inject({ method: 'POST', url: '/v1/masks', payload: { name: 'c1', kind: 'cluster', contrast, layer, cluster: 1 } });
      expect(cl.statusCode, cl.body).toBe(201);
      expect(cl.json().mask.nUnits).toBe(l.clusters[0].size);
    }
    const ex = await t.app.inject({ method: 'POST', url: '/v1/masks', payload: { name: 'ex', kind: 'explicit', model, units: { [layer]: [3, 1, 2, 2] } } });
    expect(ex.statusCode, ex.body).toBe(201);
    expect(ex.json().mask.layers[0].units).toEqual([1, 2, 3]);
    const bad = await t.app.inject({ method: 'POST', url: '/v1/masks', payload: { name: 'bad', kind: 'explicit', model, units: { [layer]: [l.units] } } });
    expect(bad.statusCode).toBe(422);
    const png = await get(`/v1/masks/${mask.id}/layers/${layer}/map.png`);
    expect((await sharp(png.rawPayload).metadata()).format).toBe('png');
    expect((await get(`/v1/masks/${ex.json().mask.id}/layers/${layer}/map.png`)).headers['content-type']).toBe('image/png');
    const list = (await get(`/v1/masks?model=${model}`)).json();
    expect(list.total).toBeGreaterThanOrEqual(5);
  });

  it('comparisons: r and SSIM matrices, 1 on the diagonal, stored and fetched back', async () => {
    const c2 = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'bodies', b: 'objects', layers: [layer] } });
    expect((await waitForContrast(t.app, c2.json().id)).state).toBe('succeeded');
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/comparisons',
      payload: { maps: [{ contrast, layer }, { contrast: c2.json().id, layer }, { contrast, layer, stat: 'd' }] },
    });
    expect(r.statusCode, r.body).toBe(201);
    const cmp = r.json();
    for (let i = 0; i < 3; i++) {
      expect(cmp.pearson[i][i]).toBeCloseTo(1, 9);
      expect(cmp.ssim[i][i]).toBeCloseTo(1, 9);
      for (let j = 0; j < 3; j++) expect(cmp.pearson[i][j]).toBeCloseTo(cmp.pearson[j][i], 12);
    }
    // t and d of one contrast are nearly proportional for equal-ish groups: r close to 1.
    expect(cmp.pearson[0][2]).toBeGreaterThan(0.95);
    expect((await get(`/v1/comparisons/${cmp.id}`)).json().pearson).toEqual(cmp.pearson);
  });
});
