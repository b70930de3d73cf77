/**
 * Lesions end to end over HTTP on the fixture GPT: the intact cross-entropy against one computed here
 * from logits taken straight from onnxruntime-node; controls disjoint from the lesion, spatial ones
 * contiguous; same seed → same result; scale 1 changes nothing; a lesioned model re-localized (nothing
 * upstream of the lesion changes); figures, per-stimulus downloads, dose-response, mean mode, cancel.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { TextEncoder as TextIds } from '../../src/inference/encode-text.ts';
import { decodeNpy } from '../../src/render/npy.ts';
import { getModel, getSheet } from '../../src/store/models-repo.ts';
import { MODELS, startApp, textLines, waitForContrast, type TestApp } from '../support/env.ts';
import { readManifest } from '../support/ort-direct.ts';

async function waitForLesion(app: FastifyInstance, id: string, timeoutMs = 170_000): Promise<Record<string, any>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const body = (await app.inject({ method: 'GET', url: `/v1/lesions/${id}` })).json();
    if (body.state !== 'queued' && body.state !== 'running') return body;
    if (Date.now() > until) throw new Error(`lesion ${id} still ${String(body.state)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Mean next-token cross-entropy of each text, run alone through the unedited model.onnx (no padding), Float64. */
async function directCrossEntropy(modelDir: string, texts: string[]): Promise<{ sum: number; tokens: number }[]> {
  const m = readManifest(modelDir);
  const enc = new TextIds(m.input.text!, modelDir);
  const s = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), { intraOpNumThreads: 1 });
  const out: { sum: number; tokens: number }[] = [];
  try {
    for (const text of texts) {
      const ids = enc.ids(text).ids;
      const r = await s.run({ [m.input.text!.idsInput]: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) }, ['logits']);
      const logits = r.logits.data as Float32Array;
      const V = r.logits.dims[2];
      let sum = 0;
      for (let t = 0; t + 1 < ids.length; t++) {
        let mx = -Infinity;
        for (let k = 0; k < V; k++) mx = Math.max(mx, logits[t * V + k]);
        let z = 0;
        for (let k = 0; k < V; k++) z += Math.exp(logits[t * V + k] - mx);
        sum += mx + Math.log(z) - logits[t * V + ids[t + 1]];
      }
      out.push({ sum, tokens: ids.length - 1 });
    }
  } finally {
    await s.release();
  }
  return out;
}

describe('lesions of topo-gpt over HTTP', () => {
  let t: TestApp;
  let contrast = '';
  let lesion: Record<string, any>;
  const modelDir = path.join(MODELS, 'topo-gpt');
  const toxic = textLines('toxic').slice(0, 24);
  const neutral = textLines('neutral').slice(0, 24);
  const post = (url: string, payload: object) => t.app.inject({ method: 'POST', url, payload });
  const body = { from: 'top', percent: [5], sets: ['toxic-24', 'neutral-24'], controls: { random: 4, spatial: 4, seed: 7 } };

  beforeAll(async () => {
    t = await startApp({ batchSize: 8 });
    expect((await post('/v1/models', { path: 'topo-gpt' })).statusCode).toBe(201);
    for (const [name, texts] of [
      ['toxic-24', toxic],
      ['neutral-24', neutral],
    ] as const)
      expect((await post('/v1/stimulus-sets', { name, texts })).statusCode).toBe(201);
    for (const p of ['text/toxic.txt', 'text/neutral.txt']) expect((await post('/v1/stimulus-sets', { path: p })).statusCode).toBe(201);
    const c = await post('/v1/contrasts', { model: 'topo-gpt', a: 'toxic', b: 'neutral' });
    contrast = c.json().id;
    expect((await waitForContrast(t.app, contrast)).state).toBe('succeeded');
    const l = await post('/v1/lesions', { ...body, contrast });
    expect(l.statusCode, l.body).toBe(202);
    expect(l.headers.location).toBe(`/v1/lesions/${l.json().id}`);
    lesion = await waitForLesion(t.app, l.json().id);
    expect(lesion.state, String(lesion.error)).toBe('succeeded');
  });
  afterAll(async () => t?.close());

  it('lesions the top 5 % of each MLP sheet with 4 random and 4 spatial controls and reports Δ, z, p and the specificity', () => {
    expect(lesion.configurations).toBe(1 + 1 + 4 + 4);
    expect(lesion.doses[0]).toMatchObject({ dose: { percent: 5 }, units: 4 * 26, unitsPerLayer: { mlp0: 26, mlp1: 26, mlp2: 26, mlp3: 26 }, controls: { random: 4, spatial: 4 } });
    const r = lesion.results;
    expect(r.primary).toBe('ce');
    expect(r.sets.map((s: { name: string; items: number }) => [s.name, s.items])).toEqual([
      ['toxic-24', 24],
      ['neutral-24', 24],
    ]);
    const d = r.doses[0];
    for (const s of d.sets) {
      expect(s.delta.ce).toBeCloseTo(s.lesion.ce - s.intact.ce, 12);
      expect(s.intact.ppl).toBeCloseTo(Math.exp(s.intact.ce), 10);
      for (const role of ['random', 'spatial']) {
        const c = s[role].ce;
        expect(c.n).toBe(4);
        const mean = c.values.reduce((a: number, b: number) => a + b, 0) / 4;
        expect(c.mean).toBeCloseTo(mean, 12);
        const sd = Math.sqrt(c.values.reduce((a: number, b: number) => a + (b - mean) ** 2, 0) / 3);
        expect(c.sd).toBeCloseTo(sd, 12);
        expect(c.z).toBeCloseTo((s.delta.ce - mean) / sd, 9);
        expect(c.p).toBe((1 + c.values.filter((v: number) => v >= s.delta.ce).length) / 5);
      }
    }
    expect(d.specificity.delta).toBeCloseTo(d.sets[0].delta.ce - d.sets[1].delta.ce, 12);
    expect(d.specificity.random.values[0]).toBeCloseTo(d.sets[0].random.ce.values[0] - d.sets[1].random.ce.values[0], 12);
    expect(lesion.provenance.model.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the intact cross-entropy equals one computed from logits straight from onnxruntime-node', async () => {
    // The lesion copy scores the logits in the graph (the path every new registration takes).
    expect(getModel(t.ctx.db, lesion.model)!.info.lesion!.outputs[0].score).toEqual({ targets: 'toposcope/score/0/targets', nll: 'toposcope/score/0/nll' });
    const direct = [...(await directCrossEntropy(modelDir, toxic)), ...(await directCrossEntropy(modelDir, neutral))];
    const sets = lesion.results.doses[0].sets;
    const setCe = (rows: { sum: number; tokens: number }[]) => rows.reduce((a, b) => a + b.sum, 0) / rows.reduce((a, b) => a + b.tokens, 0);
    expect(sets[0].intact.ce).toBeCloseTo(setCe(direct.slice(0, 24)), 5);
    expect(sets[1].intact.ce).toBeCloseTo(setCe(direct.slice(24)), 5);
    const doc = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/stimuli?measure=ceSum` })).json();
    expect(doc.stimuli).toHaveLength(48);
    expect(doc.stimuli[0]).toMatchObject({ idx: 0, set: 0, label: toxic[0].slice(0, 200) });
    doc.values[0].forEach((v: number, i: number) => expect(Math.abs(v - direct[i].sum)).toBeLessThan(1e-4 * Math.max(1, direct[i].sum)));
    const tokens = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/stimuli?measure=tokens` })).json().values[0];
    expect(tokens).toEqual(direct.map((d) => d.tokens));
  });

  it('controls never overlap the lesion; random ones match its count per layer; spatial patches are contiguous', async () => {
    const cfg = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/configs` })).json().items as { idx: number; role: string; layers: { layer: string; units: number[] }[] }[];
    expect(cfg.map((c) => c.role)).toEqual(['intact', 'lesion', 'random', 'random', 'random', 'random', 'spatial', 'spatial', 'spatial', 'spatial']);
    const les = new Map(cfg[1].layers.map((l) => [l.layer, new Set(l.units)]));
    const model = (await t.app.inject({ method: 'GET', url: '/v1/models/topo-gpt' })).json();
    for (const c of cfg.slice(2)) {
      for (const l of c.layers) {
        const lu = les.get(l.layer)!;
        expect(l.units.length).toBe(lu.size);
        expect(new Set(l.units).size).toBe(l.units.length);
        for (const u of l.units) expect(lu.has(u), `${c.role} ${c.idx} ${l.layer} unit ${u}`).toBe(false);
        if (c.role !== 'spatial') continue;
        // Every piece of the patch set is 4-connected, and pieces match the lesion's components in size.
        const sheet = getSheet(t.ctx.db, model.id, l.layer)!;
        const inSet = new Set(l.units);
        const seen = new Set<number>();
        const sizes: number[] = [];
        for (const u0 of l.units) {
          if (seen.has(u0)) continue;
          let n = 0;
          const stack = [u0];
          seen.add(u0);
          while (stack.length) {
            const u = stack.pop()!;
            n++;
            const cell = sheet.cellOfUnit[u];
            const [r, col] = [Math.floor(cell / sheet.cols), cell % sheet.cols];
            for (const [dr, dc] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
              const rr = r + dr;
              const cc = col + dc;
              if (rr < 0 || cc < 0 || rr >= sheet.rows || cc >= sheet.cols) continue;
              const v = sheet.unitOfCell[rr * sheet.cols + cc];
              if (v >= 0 && inSet.has(v) && !seen.has(v)) (seen.add(v), stack.push(v));
            }
          }
          sizes.push(n);
        }
        expect(sizes.length).toBeGreaterThanOrEqual(1);
        expect(sizes.length).toBeLessThanOrEqual(lu.size);
      }
    }
  });

  it('the same seed gives the same controls and the same result; another seed other controls', async () => {
    const again = await waitForLesion(t.app, (await post('/v1/lesions', { ...body, contrast })).json().id);
    expect(again.results).toEqual(lesion.results);
    const units = async (id: string) => ((await t.app.inject({ method: 'GET', url: `/v1/lesions/${id}/configs` })).json().items as { layers: unknown }[]).map((c) => c.layers);
    expect(await units(again.id)).toEqual(await units(lesion.id));
    const other = (await post('/v1/lesions', { ...body, contrast, controls: { random: 4, spatial: 4, seed: 8 } })).json();
    const a = await units(other.id);
    const b = await units(lesion.id);
    expect(a[1]).toEqual(b[1]);
    expect(a.slice(2)).not.toEqual(b.slice(2));
    await t.app.inject({ method: 'DELETE', url: `/v1/lesions/${other.id}` });
  });

  it('scale with factor 1 reproduces the intact values exactly', async () => {
    const r = await waitForLesion(t.app, (await post('/v1/lesions', { ...body, contrast, mode: 'scale', factor: 1, controls: { random: 0, spatial: 0 } })).json().id);
    expect(r.state).toBe('succeeded');
    const npy = decodeNpy((await t.app.inject({ method: 'GET', url: `/v1/lesions/${r.id}/values.npy?measure=ceSum` })).rawPayload);
    expect(npy.shape).toEqual([2, 48]);
    const v = npy.data as Float64Array;
    expect(Array.from(v.subarray(48))).toEqual(Array.from(v.subarray(0, 48)));
    for (const s of r.results.doses[0].sets) expect(s.delta).toEqual({ ce: 0, ppl: 0 });
    expect((await t.app.inject({ method: 'GET', url: `/v1/lesions/${r.id}/effects.png` })).statusCode).toBe(409);
  });

  it('per-stimulus effects download as .npy (configs × stimuli) and JSON', async () => {
    const n = decodeNpy((await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/values.npy?measure=ce&effect=true` })).rawPayload);
    expect(n.dtype).toBe('<f8');
    expect(n.shape).toEqual([10, 48]);
    const j = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/stimuli?measure=ce&effect=true` })).json();
    expect(j.values[0].every((x: number) => x === 0)).toBe(true);
    expect(j.values[1][5]).toBeCloseTo((n.data as Float64Array)[48 + 5], 12);
    const bad = await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/values.npy?measure=accuracy` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('measure');
  });

  it('draws the effects against the controls (PNG, SVG) and a dose-response curve with control bands', async () => {
    const png = await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/effects.png` });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.subarray(1, 4).toString()).toBe('PNG');
    const svg = await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/effects.svg` });
    expect(svg.body).toContain('toxic-24 · spatial');
    expect(svg.body).toContain('specificity · random');
    const dr = await waitForLesion(t.app, (await post('/v1/lesions', { ...body, contrast, percent: [2, 10], controls: { random: 2, spatial: 2 } })).json().id);
    expect(dr.state).toBe('succeeded');
    expect(dr.results.doses.map((d: { dose: unknown }) => d.dose)).toEqual([{ percent: 2 }, { percent: 10 }]);
    expect(dr.doses.map((d: { units: number }) => d.units)).toEqual([4 * 10, 4 * 51]);
    const curve = await t.app.inject({ method: 'GET', url: `/v1/lesions/${dr.id}/dose-response.png` });
    expect(curve.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: `/v1/lesions/${dr.id}/dose-response.svg` })).body).toContain('random ± sd');
    expect((await t.app.inject({ method: 'GET', url: `/v1/lesions/${lesion.id}/dose-response.png` })).statusCode).toBe(200);
  });

  it('mean mode replaces units by their means over the reference set; a lesioned model is re-localized with nothing upstream changed', async () => {
    const m = await waitForLesion(t.app, (await post('/v1/lesions', { from: 'explicit', model: 'topo-gpt', units: { mlp2: [0, 1, 2, 3, 40, 41] }, sets: ['toxic-24'], mode: 'mean', reference: 'neutral-24', controls: { random: 1, spatial: 1 } })).json().id);
    expect(m.state, String(m.error)).toBe('succeeded');
    expect(m.params.reference).toHaveLength(1);
    expect(m.results.doses[0].specificity).toBeNull();
    const c = await post('/v1/contrasts', { model: 'topo-gpt', a: 'toxic-24', b: 'neutral-24', lesion: m.id });
    expect(c.statusCode, c.body).toBe(202);
    const intact = await post('/v1/contrasts', { model: 'topo-gpt', a: 'toxic-24', b: 'neutral-24' });
    const [lc, ic] = [await waitForContrast(t.app, c.json().id), await waitForContrast(t.app, intact.json().id)] as Record<string, any>[];
    expect(lc.state, String(lc.error)).toBe('succeeded');
    expect(lc.params).toMatchObject({ lesion: { id: m.id, config: 1 } });
    expect(lc.provenance).toMatchObject({ lesion: { id: m.id, config: 1, role: 'lesion', mode: 'mean', units: [{ layer: 'mlp2', units: [0, 1, 2, 3, 40, 41] }] } });
    const layer = async (id: string, l: string) => (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}/layers/${l}` })).json();
    for (const l of ['mlp0', 'mlp1']) {
      const [a, b] = [await layer(lc.id, l), await layer(ic.id, l)];
      a.meanA.forEach((v: number, u: number) => expect(v).toBeCloseTo(b.meanA[u], 6));
    }
    const [a2, b2] = [await layer(lc.id, 'mlp2'), await layer(ic.id, 'mlp2')];
    // Mean-ablated units of mlp2 are constant (the neutral mean) on every token: no variance left.
    for (const u of [0, 1, 2, 3, 40, 41]) {
      expect(a2.varA[u]).toBeLessThan(1e-9);
      expect(Math.abs(a2.meanA[u] - b2.meanB[u])).toBeLessThan(0.05 + 0.5 * Math.abs(b2.meanB[u]));
    }
    expect(a2.meanA[10]).toBeCloseTo(b2.meanA[10], 6);
    const a3 = await layer(lc.id, 'mlp3');
    const b3 = await layer(ic.id, 'mlp3');
    expect(a3.meanA.some((v: number, u: number) => Math.abs(v - b3.meanA[u]) > 1e-4)).toBe(true);
  });

  it('cancels a queued lesion, purges a finished one, and refuses bad requests with the field named', async () => {
    const big = (await post('/v1/lesions', { ...body, contrast, controls: { random: 200, spatial: 0 } })).json();
    const d = await t.app.inject({ method: 'DELETE', url: `/v1/lesions/${big.id}` });
    expect(d.statusCode).toBe(200);
    expect(d.json().state).toBe('cancelled');
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/lesions/${big.id}` })).statusCode).toBe(409);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/lesions/${big.id}?purge=true` })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `/v1/lesions/${big.id}` })).statusCode).toBe(404);
    const cases: [object, number, string | undefined][] = [
      [{ ...body, contrast, count: [3] }, 400, 'count'],
      [{ ...body }, 400, 'contrast'],
      [{ ...body, contrast: 'c_0000000000000000' }, 404, undefined],
      [{ ...body, contrast, mode: 'scale' }, 400, 'factor'],
      [{ ...body, contrast, factor: 2 }, 400, 'factor'],
      [{ ...body, contrast, sets: ['toxic-24', 'toxic-24'] }, 422, 'sets[1]'],
      [{ ...body, contrast, specificity: ['toxic-24', 'toxic'] }, 422, 'specificity[1]'],
      [{ ...body, contrast, layers: ['mlp9'] }, 422, 'layers[0]'],
      [{ ...body, contrast, percent: [0] }, 400, 'percent[0]'],
    ];
    for (const [payload, status, field] of cases) {
      const r = await post('/v1/lesions', payload);
      expect(r.statusCode, `${JSON.stringify(payload)} → ${r.body}`).toBe(status);
      if (field) expect(r.json().field).toBe(field);
    }
    expect((await t.app.inject({ method: 'GET', url: '/v1/lesions?limit=100' })).json().items.every((x: { kind: string }) => x.kind === 'lesion')).toBe(true);
    expect((await t.app.inject({ method: 'GET', url: '/v1/contrasts?limit=100' })).json().items.some((x: { id: string }) => x.id.startsWith('l_'))).toBe(false);
    expect((await t.app.inject({ method: 'GET', url: `/v1/contrasts/${lesion.id}` })).statusCode).toBe(404);
  });
});
