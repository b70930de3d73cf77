/**
 * End to end over HTTP: register a fixture model and two sets, run a contrast, and check t, p and q
 * against values computed here from activations taken straight from onnxruntime-node.
 */
import path from 'node:path';
import fs from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/config.ts';
import { decodeNpy } from '../../src/render/npy.ts';
import { defaultCellPx, mapFigure } from '../../src/render/index.ts';
import { MODELS, imageFiles, multipart, startApp, textLines, waitForContrast, type TestApp } from '../support/env.ts';
import { directImageActivations, directTextActivations, readManifest } from '../support/ort-direct.ts';
import { close, referenceContrast, type RefStats } from '../support/reference.ts';

interface LayerJson {
  units: number;
  rows: number;
  cols: number;
  nA: number;
  nB: number;
  cellOfUnit: number[];
  t: number[];
  df: number[];
  p: number[];
  log10p: number[];
  q: number[];
  d: number[];
  meanA: number[];
  meanB: number[];
  varA: number[];
  varB: number[];
  summary: { significant: number; peak: { unit: number; row: number; col: number; t: number } | null };
}

function compareToReference(got: LayerJson, ref: RefStats): void {
  expect(got.units).toBe(ref.t.length);
  let checkedP = 0;
  for (let u = 0; u < got.units; u++) {
    expect(close(got.meanA[u], ref.meanA[u], 1e-4, 1e-5), `meanA[${u}] ${got.meanA[u]} vs ${ref.meanA[u]}`).toBe(true);
    expect(close(got.meanB[u], ref.meanB[u], 1e-4, 1e-5), `meanB[${u}]`).toBe(true);
    if (ref.varA[u] + ref.varB[u] < 1e-12) continue; // dead unit: t = 0, p = 1 by convention (checked elsewhere)
    expect(close(got.t[u], ref.t[u], 2e-3, 2e-3), `t[${u}] ${got.t[u]} vs ${ref.t[u]}`).toBe(true);
    expect(close(got.df[u], ref.df[u], 2e-3, 1e-3), `df[${u}] ${got.df[u]} vs ${ref.df[u]}`).toBe(true);
    if (ref.p[u] > 1e-300) {
      // p follows t; relative agreement in log space keeps tiny p comparable.
      expect(Math.abs(Math.log10(got.p[u]) - Math.log10(ref.p[u])), `p[${u}] ${got.p[u]} vs ${ref.p[u]}`).toBeLessThan(2e-2 + 2e-3 * Math.abs(Math.log10(ref.p[u])));
      expect(Math.abs(got.log10p[u] - Math.log10(ref.p[u]))).toBeLessThan(2e-2 + 2e-3 * Math.abs(Math.log10(ref.p[u])));
      checkedP++;
    }
  }
  expect(checkedP).toBeGreaterThan(got.units / 2);
  // q: BH across the layer, recomputed from the reference p.
  for (let u = 0; u < got.units; u++) {
    if (ref.varA[u] + ref.varB[u] < 1e-12) continue;
    if (ref.q[u] > 1e-300) expect(Math.abs(Math.log10(got.q[u]) - Math.log10(ref.q[u])), `q[${u}] ${got.q[u]} vs ${ref.q[u]}`).toBeLessThan(3e-2 + 2e-3 * Math.abs(Math.log10(ref.q[u])));
  }
}

describe('image contrast end to end (topo-cnn, faces vs objects)', () => {
  let t: TestApp;
  let contrastId = '';
  let modelId = '';
  const model = 'topo-cnn';
  const modelDir = path.join(MODELS, model);
  const manifest = readManifest(modelDir);
  const layer = manifest.layers[manifest.layers.length - 1].name;
  const faces = imageFiles('faces');
  const objects = imageFiles('objects');

  beforeAll(async () => {
    t = await startApp({ batchSize: 7 }); // a batch size that does not divide the set sizes
  });
  afterAll(async () => t?.close());

  it('registers the model and two image sets (one by upload, one by server path)', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: model } });
    expect(r.statusCode, r.body).toBe(201);
    modelId = r.json().id;
    expect(r.headers.location).toBe(`/v1/models/${modelId}`);
    const up = multipart([{ name: 'name', data: 'faces' }, ...faces.map((f) => ({ name: 'files', filename: path.basename(f), contentType: 'image/png', data: fs.readFileSync(f) }))]);
    const s1 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: up.payload, headers: up.headers });
    expect(s1.statusCode, s1.body).toBe(201);
    expect(s1.json().nItems).toBe(faces.length);
    const s2 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: 'images/objects' } });
    expect(s2.statusCode, s2.body).toBe(201);
    expect(s2.json()).toMatchObject({ name: 'objects', modality: 'image', nItems: objects.length });
  });

  it('runs the contrast: 202 with Location, then succeeded with per-layer summaries', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: modelId, a: 'faces', b: 'objects', keepActivations: true } });
    expect(r.statusCode, r.body).toBe(202);
    contrastId = r.json().id;
    expect(r.headers.location).toBe(`/v1/contrasts/${contrastId}`);
    const done = await waitForContrast(t.app, contrastId);
    expect(done.state, String(done.error)).toBe('succeeded');
    expect(done.progress).toEqual({ done: faces.length + objects.length, total: faces.length + objects.length, fraction: 1, stage: null });
    const layers = done.layers as { name: string; nA: number; nB: number }[];
    expect(layers.map((l) => l.name)).toEqual(manifest.layers.map((l) => l.name));
    expect(layers[0]).toMatchObject({ nA: faces.length, nB: objects.length });
    const prov = done.provenance as { model: { hash: string }; sets: { a: { hash: string }[] }; version: string };
    expect(prov.model.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(prov.sets.a[0].hash).toMatch(/^[0-9a-f]{64}$/);
    expect(prov.version).toBe(VERSION);
  });

  it('t, df, p and q agree with an independent computation on activations straight from onnxruntime-node', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}` });
    expect(r.statusCode).toBe(200);
    const got = r.json() as LayerJson;
    const a = await directImageActivations(modelDir, layer, faces);
    const b = await directImageActivations(modelDir, layer, objects);
    compareToReference(got, referenceContrast(a, b, 'welch'));
    // Peak is the unit with the largest |t|, at its sheet position.
    let best = 0;
    for (let u = 1; u < got.units; u++) if (Math.abs(got.t[u]) > Math.abs(got.t[best])) best = u;
    expect(got.summary.peak!.unit).toBe(best);
    expect(got.summary.peak!.row * got.cols + got.summary.peak!.col).toBe(got.cellOfUnit[best]);
  });

  it('serves the kept activations as float32 .npy with the stimulus order', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/activations.npy` });
    expect(r.statusCode).toBe(200);
    const npy = decodeNpy(r.rawPayload);
    const units = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}` })).json().units as number;
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual([faces.length + objects.length, units]);
    const direct = await directImageActivations(modelDir, layer, [faces[0], objects[objects.length - 1]]);
    const data = npy.data as Float32Array;
    for (let u = 0; u < units; u++) {
      expect(data[u]).toBeCloseTo(direct[0][u], 4);
      expect(data[(faces.length + objects.length - 1) * units + u]).toBeCloseTo(direct[1][u], 4);
    }
    const rows = decodeNpy((await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/activations.rows.npy` })).rawPayload);
    expect(rows.shape).toEqual([faces.length + objects.length, 2]);
    expect(Array.from((rows.data as Int32Array).slice(0, 4))).toEqual([0, -1, 1, -1]);
    const stim = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/stimuli` })).json().items as { condition: string; label: string }[];
    expect(stim.length).toBe(faces.length + objects.length);
    expect(stim[0]).toMatchObject({ condition: 'a', label: path.basename(faces[0]) });
    expect(stim[stim.length - 1]).toMatchObject({ condition: 'b', label: path.basename(objects[objects.length - 1]) });
  });

  it('renders the map PNG at the expected size and the .npy map as rows × cols float32', async () => {
    const info = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}` })).json() as LayerJson;
    const png = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/map.png?stat=t&threshold=2` });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    const meta = await sharp(png.rawPayload).metadata();
    
    const cell = defaultCellPx(info.rows, info.cols);
    // The sheet alone is cols × cell wide; title and colorbar come on top of that.
    expect(meta.width!).toBeGreaterThan(info.cols * cell);
    expect(meta.height!).toBeGreaterThan(info.rows * cell);
    // Same layout as the renderer computes for this sheet and title.
    const title = `${model} / ${layer}: faces > objects`;
    const values = new Float64Array(info.rows * info.cols).fill(NaN);
    (info as unknown as { cellOfUnit: number[]; t: number[] }).cellOfUnit.forEach((c, u) => (values[c] = (info as unknown as { t: number[] }).t[u]));
    const fig = mapFigure({ values, rows: info.rows, cols: info.cols, title, subtitle: `t, welch test, n=${info.nA} vs ${info.nB}, outline |t| >= 2`, statLabel: 't', threshold: 2 });
    expect(meta.width).toBe(fig.width);
    expect(Math.abs(meta.height! - fig.height)).toBeLessThanOrEqual(12); // subtitle wrapping may differ by a line
    const svg = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/map.svg?stat=t&threshold=2` });
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(svg.body).toMatch(/^<svg[^>]* width="\d+" height="\d+"/);
    expect(svg.body).toContain(title.replace(/>/g, '&gt;'));
    for (const stat of ['d', 'log10p']) {
      const r = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/map.png?stat=${stat}` });
      expect(r.statusCode).toBe(200);
    }
    const npy = decodeNpy((await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/map.npy?stat=t` })).rawPayload);
    expect(npy.shape).toEqual([info.rows, info.cols]);
    expect(npy.dtype).toBe('<f4');
    const sheet = npy.data as Float32Array;
    for (let u = 0; u < info.units; u++) expect(sheet[info.cellOfUnit[u]]).toBeCloseTo(info.t[u], 4);
    const bad = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/${layer}/map.png?stat=zz` });
    expect(bad.statusCode).toBe(400);
    const unknown = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${contrastId}/layers/nope/map.png` });
    expect(unknown.statusCode).toBe(404);
  });

  it('Student t and Bonferroni give their own numbers', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: modelId, a: 'faces', b: 'objects', test: 'student', correction: 'bonferroni', layers: [layer] } });
    expect(r.statusCode, r.body).toBe(202);
    const done = await waitForContrast(t.app, r.json().id);
    expect(done.state).toBe('succeeded');
    const got = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${r.json().id}/layers/${layer}` })).json() as LayerJson;
    const ref = referenceContrast(await directImageActivations(modelDir, layer, faces), await directImageActivations(modelDir, layer, objects), 'student');
    for (let u = 0; u < got.units; u++) {
      if (ref.varA[u] + ref.varB[u] < 1e-12) continue;
      expect(close(got.t[u], ref.t[u], 2e-3, 2e-3)).toBe(true);
      expect(got.df[u]).toBe(faces.length + objects.length - 2);
      expect(close(got.q[u], Math.min(1, got.p[u] * got.units), 1e-9)).toBe(true);
    }
  });
});

describe('text contrast end to end (topo-gpt, toxic vs neutral)', () => {
  let t: TestApp;
  const model = 'topo-gpt';
  const modelDir = path.join(MODELS, model);
  const manifest = readManifest(modelDir);
  const layer = manifest.layers[manifest.layers.length - 1].name;
  const toxic = textLines('toxic').slice(0, 60);
  const neutral = textLines('neutral').slice(0, 60);

  beforeAll(async () => {
    t = await startApp({ batchSize: 16 });
  });
  afterAll(async () => t?.close());

  it('mean over real tokens of right-padded batches equals each text run alone; t, p, q match', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: model } });
    expect(r.statusCode, r.body).toBe(201);
    const a = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'toxic60', texts: toxic } });
    const lines = multipart([{ name: 'name', data: 'neutral60' }, { name: 'texts', filename: 'neutral.txt', contentType: 'text/plain', data: neutral.join('\n') }]);
    const b = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: lines.payload, headers: lines.headers });
    expect(a.statusCode, a.body).toBe(201);
    expect(b.statusCode, b.body).toBe(201);
    expect(b.json()).toMatchObject({ modality: 'text', nItems: neutral.length });
    const c = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'toxic60', b: 'neutral60', layers: [layer] } });
    expect(c.statusCode, c.body).toBe(202);
    const done = await waitForContrast(t.app, c.json().id);
    expect(done.state, String(done.error)).toBe('succeeded');
    const got = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${c.json().id}/layers/${layer}` })).json() as LayerJson;
    const ref = referenceContrast(await directTextActivations(modelDir, layer, toxic), await directTextActivations(modelDir, layer, neutral), 'welch');
    compareToReference(got, ref);
  });

  it('last-token pooling matches the last real token of each text', async () => {
    const c = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'toxic60', b: 'neutral60', layers: [layer], pooling: 'last' } });
    expect(c.statusCode, c.body).toBe(202);
    const done = await waitForContrast(t.app, c.json().id);
    expect(done.state, String(done.error)).toBe('succeeded');
    const got = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${c.json().id}/layers/${layer}` })).json() as LayerJson;
    const ref = referenceContrast(await directTextActivations(modelDir, layer, toxic, 'last'), await directTextActivations(modelDir, layer, neutral, 'last'), 'welch');
    for (let u = 0; u < got.units; u++) expect(close(got.meanA[u], ref.meanA[u], 1e-4, 1e-5)).toBe(true);
  });

  it('an image set against a text model is refused with 422 naming the field', async () => {
    const imgs = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: 'images/faces' } });
    expect(imgs.statusCode).toBe(201);
    const c = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'faces', b: 'neutral60' } });
    expect(c.statusCode).toBe(422);
    expect(c.json()).toMatchObject({ code: 'UNPROCESSABLE', field: 'a[0]' });
    expect(c.json().message).toMatch(/image stimuli.*text model/);
    const l = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'toxic60', b: 'neutral60', layers: ['no-such-layer'] } });
    expect(l.statusCode).toBe(422);
    expect(l.json().message).toMatch(/no layer 'no-such-layer'/);
    const p = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-gpt', a: 'toxic60', b: 'toxic60' } });
    expect(p.statusCode).toBe(422);
    const u = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'nope', a: 'toxic60', b: 'neutral60' } });
    expect(u.statusCode).toBe(404);
    const s = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model, a: 'toxic60', b: 'no-such-set' } });
    expect(s.statusCode).toBe(404);
    const list = await t.app.inject({ method: 'GET', url: `/v1/contrasts?state=succeeded&limit=1` });
    expect(list.json()).toMatchObject({ total: 2, limit: 1 });
    expect(list.json().items).toHaveLength(1);
  });
});
