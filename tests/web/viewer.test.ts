/**
 * The map viewer in a real headless Chromium against the real server on the bundled fixtures.
 * Screenshots go to tests/web/__screenshots__/ (git-ignored); with TOPOSCOPE_DOCS_SCREENSHOTS=1 the
 * ones the README shows are also written to docs/viewer/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { BrowserContext, Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/config.ts';
import { colorFor } from '../../src/render/colormap.ts';
import { ensureViewerBuilt, launchBrowser, SCREENSHOTS, type Server, serverApi, startServer } from './server.ts';

interface Layer {
  units: number;
  rows: number;
  cols: number;
  cellOfUnit: number[];
  t: number[];
  p: number[];
  q: number[];
  d: number[];
  meanA: number[];
  meanB: number[];
  clusters: { id: number; size: number }[];
  clusterLabel: number[];
  summary: { peak: { unit: number; row: number; col: number; t: number } };
  analysis: { clusterParams: { connectivity: 4 | 8 } };
}

const DOCS = path.join(PROJECT_ROOT, 'docs', 'viewer');

let server: Server;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let context: BrowserContext;
let page: Page;
let contrastId: string;
let conv4: Layer;
const foreign: string[] = [];

const api = <T>(method: string, url: string, body?: unknown) => serverApi<T>(server, method, url, body);

async function waitForContrast(id: string): Promise<{ state: string }> {
  for (const until = Date.now() + 120_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    const c = await api<{ state: string; error: string | null }>('GET', `/v1/contrasts/${id}`);
    if (c.state !== 'queued' && c.state !== 'running') return c;
  }
  throw new Error(`contrast ${id} did not finish`);
}

async function shot(name: string, target: Page = page, docs = false): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await target.evaluate('window.scrollTo(0, 0)');
  const buf = await target.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  if (docs && process.env.TOPOSCOPE_DOCS_SCREENSHOTS === '1') {
    fs.mkdirSync(DOCS, { recursive: true });
    fs.writeFileSync(path.join(DOCS, `${name}.png`), buf);
  }
}

/** The RGB of the canvas pixel at the centre of a sheet cell, as Chromium composited it. */
async function cellPixel(target: Page, testid: string, row: number, col: number): Promise<[number, number, number]> {
  const canvas = target.getByTestId(testid);
  const cellPx = Number(await canvas.getAttribute('data-cell-px'));
  const png = await canvas.screenshot();
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const x = Math.floor((col + 0.5) * cellPx);
  const y = Math.floor((row + 0.5) * cellPx);
  const i = (y * info.width + x) * info.channels;
  return [data[i], data[i + 1], data[i + 2]];
}

/** Supra-threshold regions of |t| ≥ thr, positive and negative apart (an independent flood fill). */
function countRegions(l: Layer, thr: number): number {
  const n = l.rows * l.cols;
  const sign = new Int8Array(n);
  for (let u = 0; u < l.units; u++) if (Math.abs(l.t[u]) >= thr) sign[l.cellOfUnit[u]] = l.t[u] > 0 ? 1 : -1;
  const seen = new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!sign[i] || seen[i]) continue;
    count++;
    const todo = [i];
    seen[i] = 1;
    while (todo.length) {
      const c = todo.pop()!;
      const r = Math.floor(c / l.cols);
      const k = c % l.cols;
      for (const [dr, dc] of [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]]) {
        const rr = r + dr;
        const cc = k + dc;
        const j = rr * l.cols + cc;
        if (rr >= 0 && rr < l.rows && cc >= 0 && cc < l.cols && !seen[j] && sign[j] === sign[i]) {
          seen[j] = 1;
          todo.push(j);
        }
      }
    }
  }
  return count;
}

const num = (s: string | null) => Number((s ?? '').replace('−', '-'));

async function openView(query: string): Promise<void> {
  await page.goto(`${server.url}/contrasts/${contrastId}?${query}`);
  await page.locator('[data-testid=sheet][data-outline-segments]').waitFor();
}

describe('map viewer in Chromium', () => {
  beforeAll(async () => {
    // The server reads dist/web on each request, so the build may finish while the server starts.
    const started = await Promise.allSettled([ensureViewerBuilt(), startServer(), launchBrowser()]);
    if (started[1].status === 'fulfilled') server = started[1].value;
    if (started[2].status === 'fulfilled') browser = started[2].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    context = browser.context;
    context.on('request', (r) => {
      if (!r.url().startsWith(server.url + '/') && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    page = context.pages()[0] ?? (await context.newPage());
    const c = await api<{ id: string }>('POST', '/v1/contrasts', { model: 'topo-cnn', a: 'faces', b: 'objects', keepActivations: true });
    contrastId = c.id;
    expect((await waitForContrast(contrastId)).state).toBe('succeeded');
    conv4 = await api<Layer>('GET', `/v1/contrasts/${contrastId}/layers/conv4`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('serves the viewer at / and deep paths, and leaves /v1, /docs and /health to the API', async () => {
    const html = { accept: 'text/html' };
    for (const p of ['/', '/contrasts/x', '/models/topo-cnn']) {
      const r = await fetch(server.url + p, { headers: html });
      expect(r.status, p).toBe(200);
      expect(await r.text()).toContain('<div id="app">');
    }
    for (const p of ['/v1/nothing', '/docs/nothing', '/health/x', '/assets/missing.js']) {
      const r = await fetch(server.url + p, { headers: html });
      expect(r.status, p).toBe(404);
      expect((await r.json()).code).toBe('NOT_FOUND');
    }
    expect((await (await fetch(server.url + '/health', { headers: html })).json()).status).toBe('ok');
    // Nothing outside dist/web is reachable.
    for (const p of ['/..%2Fpackage.json', '/%2e%2e/%2e%2e/package.json']) {
      const r = await fetch(server.url + p, { headers: html });
      expect(await r.text(), p).not.toContain('"name": "toposcope"');
    }
  });

  it('browses models with their sheets and stimulus sets with thumbnails', async () => {
    await page.goto(server.url + '/models');
    const card = page.getByTestId('model-topo-cnn');
    await expect.poll(() => card.textContent()).toContain('conv4');
    expect(await card.textContent()).toContain('16 × 16');
    await page.getByTestId('nav-sets').click();
    const faces = page.getByTestId('set-faces');
    // Thumbnails load lazily: bring the card into view first.
    await faces.scrollIntoViewIfNeeded();
    await faces.locator('img').first().waitFor();
    // Every thumbnail decoded (the item bytes endpoint serves real PNGs).
    await expect
      .poll(() => faces.locator('img').evaluateAll((imgs) => imgs.every((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0)), { timeout: 30_000 })
      .toBe(true);
    // Each set's items load on their own: wait for the text set's too.
    await expect.poll(() => page.getByTestId('set-toxic').locator('li').count()).toBeGreaterThan(0);
    await shot('sets', page, true);
  });

  it('says an API key is needed, then runs a contrast from the form and follows it to the map', async () => {
    await page.goto(`${server.url}/contrasts/new?model=topo-cnn`);
    await page.getByTestId('form-a-faces').check();
    await page.getByTestId('form-b-objects').check();
    await page.getByTestId('form-layer-conv3').uncheck();
    await page.getByTestId('form-submit').click();
    await expect.poll(() => page.getByTestId('auth-banner').textContent()).toContain('needs an API key');
    expect(await page.getByTestId('form-error').textContent()).toContain('401');

    await page.getByTestId('api-key-input').fill(server.apiKey);
    await page.getByTestId('api-key-save').click();
    expect(await page.getByTestId('auth-banner').count()).toBe(0);
    expect(await page.getByTestId('api-key-button').textContent()).toContain('set');
    await page.getByTestId('form-submit').click();

    await page.waitForURL(/\/contrasts\/c_/);
    const progress = page.getByTestId('progress');
    await progress.waitFor();
    await expect.poll(() => progress.getAttribute('aria-valuenow'), { timeout: 120_000 }).toBe('100');
    expect(await page.getByTestId('contrast-state').textContent()).toBe('succeeded');
    await page.locator('[data-testid=sheet][data-outline-segments]').waitFor();
    const id = /\/contrasts\/(c_[0-9a-f]+)/.exec(page.url())![1];
    const c = await api<{ params: { layers: string[]; keepActivations: boolean } }>('GET', `/v1/contrasts/${id}`);
    expect(c.params.layers).toEqual(['conv4']);
    expect(c.params.keepActivations).toBe(true);
  });

  it("paints the peak unit's cell in the server colormap's colour for its t", async () => {
    await openView('layer=conv4&stat=t&thr=3');
    const vmax = Math.max(...conv4.t.map(Math.abs));
    expect(Number(await page.getByTestId('sheet').getAttribute('data-vmax'))).toBeCloseTo(vmax, 9);
    const { peak } = conv4.summary;
    const minUnit = conv4.t.indexOf(Math.min(...conv4.t));
    for (const u of [peak.unit, minUnit]) {
      const cell = conv4.cellOfUnit[u];
      const got = await cellPixel(page, 'sheet', Math.floor(cell / conv4.cols), cell % conv4.cols);
      const want = colorFor(conv4.t[u], vmax);
      for (let ch = 0; ch < 3; ch++) expect(Math.abs(got[ch] - want[ch]), `unit ${u} channel ${ch}: ${got} vs ${want}`).toBeLessThanOrEqual(2);
    }
  });

  it('hovering the peak shows its unit, row, col, layer, t, p, q, d and both means', async () => {
    await openView('layer=conv4&stat=t&thr=3');
    const { peak } = conv4.summary;
    const cellPx = Number(await page.getByTestId('sheet').getAttribute('data-cell-px'));
    await page.getByTestId('sheet').hover({ position: { x: (peak.col + 0.5) * cellPx, y: (peak.row + 0.5) * cellPx } });
    const tip = page.getByTestId('tooltip');
    await tip.waitFor();
    expect(await tip.getByTestId('tt-unit').textContent()).toBe(String(peak.unit));
    expect(await tip.getByTestId('tt-row').textContent()).toBe(String(peak.row));
    expect(await tip.getByTestId('tt-col').textContent()).toBe(String(peak.col));
    expect(await tip.textContent()).toContain('conv4');
    expect(Math.abs(num(await tip.getByTestId('tt-t').textContent()) - conv4.t[peak.unit])).toBeLessThanOrEqual(0.0005);
    expect(Math.abs(num(await tip.getByTestId('tt-d').textContent()) - conv4.d[peak.unit])).toBeLessThanOrEqual(0.0005);
    expect(Math.abs(num(await tip.getByTestId('tt-mean-a').textContent()) - conv4.meanA[peak.unit])).toBeLessThanOrEqual(0.00005);
    expect(Math.abs(num(await tip.getByTestId('tt-mean-b').textContent()) - conv4.meanB[peak.unit])).toBeLessThanOrEqual(0.00005);
    expect(num(await tip.getByTestId('tt-p').textContent()) / conv4.p[peak.unit]).toBeCloseTo(1, 1);
    expect(num(await tip.getByTestId('tt-q').textContent()) / conv4.q[peak.unit]).toBeCloseTo(1, 1);
  });

  it('moving the threshold changes the outlines and the region count; the cluster table and the map select each other', async () => {
    await openView('layer=conv4&stat=t&thr=3');
    const count = page.getByTestId('region-count');
    const sheet = page.getByTestId('sheet');
    expect(Number(await count.getAttribute('data-regions'))).toBe(countRegions(conv4, 3));
    const segments3 = Number(await sheet.getAttribute('data-outline-segments'));
    await page.getByTestId('threshold').fill('10');
    await expect.poll(async () => Number(await count.getAttribute('data-regions'))).toBe(countRegions(conv4, 10));
    expect(countRegions(conv4, 10)).not.toBe(countRegions(conv4, 3));
    await expect.poll(async () => Number(await sheet.getAttribute('data-outline-segments'))).toBeLessThan(segments3);
    expect(Number(await sheet.getAttribute('data-outline-segments'))).toBeGreaterThan(0);
    await page.waitForURL(/thr=10(&|$)/);

    // The stored cluster table: a row selects its cluster; a click on the map selects the cluster under it.
    expect(await page.locator('[data-testid^=cluster-row-]').count()).toBe(conv4.clusters.length);
    const big = conv4.clusters[0];
    await page.getByTestId(`cluster-row-${big.id}`).click();
    await expect.poll(() => page.getByTestId('selection-title').textContent()).toBe(`Cluster ${big.id} · ${big.size} units`);
    const { peak } = conv4.summary;
    const k = conv4.clusterLabel[peak.unit];
    const cellPx = Number(await sheet.getAttribute('data-cell-px'));
    await sheet.click({ position: { x: (peak.col + 0.5) * cellPx, y: (peak.row + 0.5) * cellPx } });
    await expect.poll(() => page.getByTestId(`cluster-row-${k}`).getAttribute('aria-selected')).toBe('true');
    expect(await page.getByTestId(`cluster-row-${big.id}`).getAttribute('aria-selected')).toBe('false');
    await page.waitForURL(new RegExp(`sel=c${k}(&|$)`));
  });

  it('a unit shows its response distribution from the kept activations; a cluster becomes a mask', async () => {
    const { peak } = conv4.summary;
    await openView(`layer=conv4&stat=t&thr=3&sel=u${peak.unit}`);
    expect(await page.getByTestId('selection-title').textContent()).toContain(`Unit ${peak.unit}`);
    expect(Math.abs(num(await page.getByTestId('unit-t').textContent()) - peak.t)).toBeLessThanOrEqual(0.0005);
    const dist = page.getByTestId('distribution');
    await dist.locator('canvas').first().waitFor();
    // Means per condition from the parsed activations.npy agree with the server's per-unit means.
    const text = (await dist.textContent()) ?? '';
    const means = [...text.matchAll(/: (−?[\d.]+) ±/g)].map((m) => num(m[1]));
    expect(means).toHaveLength(2);
    expect(Math.abs(means[0] - conv4.meanA[peak.unit])).toBeLessThanOrEqual(0.0005);
    expect(Math.abs(means[1] - conv4.meanB[peak.unit])).toBeLessThanOrEqual(0.0005);

    const k = conv4.clusterLabel[peak.unit];
    await page.getByTestId(`cluster-row-${k}`).click();
    await expect.poll(() => page.getByTestId('selection-title').textContent()).toContain(`Cluster ${k}`);
    await page.getByTestId('distribution').locator('canvas').first().waitFor();
    await page.getByTestId('make-mask').click();
    const result = page.getByTestId('mask-result');
    await result.waitFor();
    const maskId = /m_[0-9a-f]+/.exec((await result.textContent()) ?? '')![0];
    const mask = await api<{ kind: string; layers: { layer: string; units: number[] }[] }>('GET', `/v1/masks/${maskId}`);
    const expected = conv4.clusterLabel.flatMap((c, u) => (c === k ? [u] : []));
    expect(mask.kind).toBe('explicit');
    expect(mask.layers).toEqual([expect.objectContaining({ layer: 'conv4', units: expected })]);
    await shot('map', page, true);
  });

  it('a deep link opens the same view', async () => {
    await openView('layer=conv4');
    await page.getByTestId('stat-d').click();
    await page.getByTestId('threshold-value').fill('1.5');
    await page.getByTestId('zoom-in').click();
    await page.getByTestId('cluster-row-2').click();
    await page.waitForURL((u) => ['stat=d', 'thr=1.5', 'sel=c2', 'zoom=1.5', 'layer=conv4', 'model=topo-cnn'].every((s) => u.search.includes(s)));
    const link = page.url();
    const before = {
      regions: await page.getByTestId('region-count').textContent(),
      title: await page.getByTestId('selection-title').textContent(),
      canvas: await page.getByTestId('sheet').screenshot(),
    };

    const other = await context.newPage();
    try {
      await other.goto(link);
      await other.locator('[data-testid=sheet][data-outline-segments]').waitFor();
      await other.getByTestId('selection-title').waitFor();
      expect(await other.getByTestId('stat-select').getAttribute('data-value')).toBe('d');
      expect(await other.getByTestId('threshold-value').inputValue()).toBe('1.5');
      expect(await other.getByTestId('region-count').textContent()).toBe(before.regions);
      expect(await other.getByTestId('selection-title').textContent()).toBe(before.title);
      expect(await other.getByTestId('cluster-row-2').getAttribute('aria-selected')).toBe('true');
      const after = await other.getByTestId('sheet').screenshot();
      const [a, b] = await Promise.all([sharp(before.canvas).raw().toBuffer(), sharp(after).raw().toBuffer()]);
      expect(a.length).toBeGreaterThan(0);
      expect(Buffer.compare(a, b)).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('compares topo-cnn with its flat-cnn twin side by side on a linked scale, with r and SSIM', async () => {
    await openView('layer=conv4&stat=t&thr=3');
    await page.getByTestId('run-twin').click();
    await page.waitForURL(/cmp=c_[0-9a-f]+:conv4/, { timeout: 30_000 });
    const r = page.getByTestId('compare-r');
    await r.waitFor({ timeout: 120_000 });
    const twinId = /cmp=(c_[0-9a-f]+):conv4/.exec(page.url())![1];
    const twin = await api<{ model: string; state: string }>('GET', `/v1/contrasts/${twinId}`);
    const flat = await api<{ id: string }>('GET', '/v1/models/flat-cnn');
    expect(twin).toMatchObject({ model: flat.id, state: 'succeeded' });

    const flat4 = await api<Layer>('GET', `/v1/contrasts/${twinId}/layers/conv4`);
    const vmax = Math.max(...conv4.t.map(Math.abs), ...flat4.t.map(Math.abs));
    for (const id of ['sheet', 'sheet-compare']) expect(Number(await page.getByTestId(id).getAttribute('data-vmax')), id).toBeCloseTo(vmax, 9);
    // The flat map's peak is painted on the shared scale.
    const fu = flat4.summary.peak.unit;
    const cell = flat4.cellOfUnit[fu];
    const got = await cellPixel(page, 'sheet-compare', Math.floor(cell / flat4.cols), cell % flat4.cols);
    const want = colorFor(flat4.t[fu], vmax);
    for (let ch = 0; ch < 3; ch++) expect(Math.abs(got[ch] - want[ch])).toBeLessThanOrEqual(2);

    const cmp = await api<{ pearson: number[][]; ssim: number[][] }>('POST', '/v1/comparisons', {
      maps: [
        { contrast: contrastId, layer: 'conv4', stat: 't' },
        { contrast: twinId, layer: 'conv4', stat: 't' },
      ],
    });
    expect(Math.abs(num(await r.textContent()) - cmp.pearson[0][1])).toBeLessThanOrEqual(0.0005);
    expect(Math.abs(num(await page.getByTestId('compare-ssim').textContent()) - cmp.ssim[0][1])).toBeLessThanOrEqual(0.0005);
    expect(Number(await page.getByTestId('region-count-compare').getAttribute('data-regions'))).toBe(countRegions(flat4, 3));
    await shot('compare', page, true);
  });

  it('loaded nothing from anywhere but the server (no CDN, no web fonts)', () => {
    expect(foreign).toEqual([]);
  });
});
