/**
 * Maps served cheaply: the byte-bounded LRU with single-flight renders, the render worker pool (same
 * bytes as rendering on the main thread), and through HTTP: a cached map is the map, any parameter
 * change is another map, a succeeded contrast's default maps are rendered ahead, a deleted contrast's
 * maps are gone, and the heavy-GET limit answers 503 beyond its line while /health never waits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMapPng, renderMapSvg } from '../../src/render/index.ts';
import { MapCache, MapRenderer, mapService } from '../../src/usecases/map-cache.ts';
import { prerenderMaps } from '../../src/usecases/contrasts.ts';
import { startApp, waitForContrast, type TestApp } from '../support/env.ts';

const rows = 12;
const cols = 16;
const opts = (k: number) => ({
  values: Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i / 5 + k) * 4),
  rows,
  cols,
  title: `map ${k}`,
  statLabel: 't',
  symmetric: true,
  threshold: 2,
});

describe('MapCache', () => {
  it('keeps the most recently used entries within its byte bound', async () => {
    const c = new MapCache(100);
    c.sync('a', () => Buffer.alloc(40));
    c.sync('b', () => Buffer.alloc(40));
    c.sync('a', () => Buffer.alloc(1)); // a hit refreshes a
    c.sync('c', () => Buffer.alloc(40)); // b is the least recent: out
    expect(c.totalBytes).toBe(80);
    expect(c.peek('b')).toBeUndefined();
    expect(c.peek('a')?.length).toBe(40);
    expect(c.peek('c')?.length).toBe(40);
    c.sync('big', () => Buffer.alloc(101)); // larger than the bound: served, not kept
    expect(c.peek('big')).toBeUndefined();
    expect(c.hits).toBe(1);
  });

  it('renders once for concurrent requests of one key; a failure is not cached', async () => {
    const c = new MapCache(1 << 20);
    let made = 0;
    const make = async () => {
      made++;
      await new Promise((r) => setTimeout(r, 20));
      return Buffer.from('png');
    };
    const got = await Promise.all(Array.from({ length: 50 }, () => c.through('k', make)));
    expect(made).toBe(1);
    expect(got.every((g) => g.toString() === 'png')).toBe(true);
    let fails = 0;
    const bad = async (): Promise<Buffer> => {
      fails++;
      throw new Error('no such stat');
    };
    await expect(c.through('x', bad)).rejects.toThrow('no such stat');
    await expect(c.through('x', bad)).rejects.toThrow('no such stat');
    expect(fails).toBe(2);
  });
});

describe('MapRenderer', () => {
  it('renders on worker threads the bytes the main thread renders, several at once', async () => {
    const r = new MapRenderer(2);
    try {
      const pngs = await Promise.all([0, 1, 2, 3].map((k) => r.render('png', opts(k))));
      for (let k = 0; k < 4; k++) expect(pngs[k].equals(await renderMapPng(opts(k))), `map ${k}`).toBe(true);
      expect(await r.render('svg', opts(5))).toBe(renderMapSvg(opts(5)));
      await expect(r.render('png', { ...opts(0), rows: -1 })).rejects.toThrow();
      // The pool still works after a failed render.
      expect((await r.render('png', opts(1))).equals(pngs[1])).toBe(true);
    } finally {
      await r.close();
    }
  });
});

describe('maps over HTTP', () => {
  let t: TestApp;
  let id = '';
  const layer = 'conv4';
  beforeAll(async () => {
    t = await startApp({ heavyGetConcurrency: 1, heavyGetQueue: 3 });
    prerenderMaps(t.ctx, t.service.jobs); // as the server does
    expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-cnn' } })).statusCode).toBe(201);
    for (const p of ['images/faces', 'images/objects']) expect((await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: p } })).statusCode).toBe(201);
    const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-cnn', a: 'faces', b: 'objects' } });
    id = r.json().id;
    expect((await waitForContrast(t.app, id)).state).toBe('succeeded');
  }, 120_000);
  afterAll(async () => t?.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url });

  it("a succeeded contrast's default layer maps are rendered ahead: the first requests are cache hits", async () => {
    const { cache } = mapService(t.ctx);
    const layers = (await get(`/v1/contrasts/${id}`)).json().layers.map((l: { name: string }) => l.name) as string[];
    expect(layers.length).toBeGreaterThan(1);
    for (let k = 0; k < 600 && cache.size < layers.length; k++) await new Promise((r) => setTimeout(r, 100));
    expect(cache.size).toBe(layers.length);
    const misses = cache.misses;
    for (const l of layers) {
      const r = await get(`/v1/contrasts/${id}/layers/${l}/map.png`);
      expect(r.statusCode).toBe(200);
      expect(r.rawPayload.subarray(1, 4).toString()).toBe('PNG');
    }
    expect(cache.misses).toBe(misses);
  });

  it('a repeated map comes from the cache with the same bytes; each parameter is its own map', async () => {
    const { cache } = mapService(t.ctx);
    const base = `/v1/contrasts/${id}/layers/${layer}`;
    const first = await get(`${base}/map.png`);
    expect(first.statusCode).toBe(200);
    const misses = cache.misses;
    const again = await get(`${base}/map.png`);
    expect(again.rawPayload.equals(first.rawPayload)).toBe(true);
    expect(cache.misses).toBe(misses);
    const variants = ['?stat=d', '?threshold=3', '?vmax=9', '?outline=clusters', '?stat=log10p&threshold=3'];
    const bodies = new Set([first.rawPayload.toString('base64')]);
    for (const v of variants) {
      const r = await get(`${base}/map.png${v}`);
      expect(r.statusCode, v).toBe(200);
      bodies.add(r.rawPayload.toString('base64'));
    }
    expect(bodies.size).toBe(variants.length + 1);
    expect(cache.misses).toBe(misses + variants.length);
    const svg1 = await get(`${base}/map.svg`);
    const svg2 = await get(`${base}/map.svg`);
    expect(svg1.statusCode).toBe(200);
    expect(svg2.body).toBe(svg1.body);
    expect(svg1.body.startsWith('<svg') || svg1.body.startsWith('<?xml')).toBe(true);
    const npy1 = await get(`${base}/map.npy?stat=d`);
    const npy2 = await get(`${base}/map.npy?stat=d`);
    expect(npy2.rawPayload.equals(npy1.rawPayload)).toBe(true);
    expect(npy1.headers['content-disposition']).toContain(`${id}-${layer}-d.npy`);
    expect((await get(`${base}/map.npy?stat=t`)).rawPayload.equals(npy1.rawPayload)).toBe(false);
    expect((await get(`/v1/contrasts/${id}/layers/nope/map.png`)).statusCode).toBe(404);
  });

  it('bounds concurrent heavy GETs (1 served, 3 waiting, the rest 503) while /health answers', async () => {
    const base = `/v1/contrasts/${id}/layers/${layer}`;
    const reqs = Array.from({ length: 8 }, (_, k) => get(`${base}/map.png?vmax=${20 + k}`));
    const health = await get('/health');
    expect(health.statusCode).toBe(200);
    const res = await Promise.all(reqs);
    const codes = res.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 200).length).toBe(4);
    expect(codes.filter((c) => c === 503).length).toBe(4);
    const busy = res.find((r) => r.statusCode === 503)!;
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json()).toMatchObject({ statusCode: 503, code: 'OVERLOADED' });
    // Afterwards the line is empty again.
    expect((await get(`${base}/map.png?vmax=30`)).statusCode).toBe(200);
  });

  it("a deleted contrast's maps are gone", async () => {
    const base = `/v1/contrasts/${id}/layers/${layer}`;
    expect((await get(`${base}/map.png`)).statusCode).toBe(200);
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/contrasts/${id}?purge=true` });
    expect(del.statusCode, del.body).toBeLessThan(300);
    expect((await get(`${base}/map.png`)).statusCode).toBe(404);
    expect((await get(`${base}/map.npy`)).statusCode).toBe(404);
  });
});
