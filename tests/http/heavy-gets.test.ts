/**
 * Which GETs count as heavy (every figure route of the API), and heavy GETs taking turns on a real
 * listening server: a burst of cached map requests that arrive together is let in one per turn of the
 * event loop, so a /health sent after all of them is answered before them, not behind the whole
 * burst; and every one of the burst is still answered.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';
import { HEAVY_GET } from '../../src/http/plugins/heavy-gets.ts';
import { mapService } from '../../src/usecases/map-cache.ts';
import { startApp, waitForContrast, type TestApp } from '../support/env.ts';

const BURST = 100;

describe('which GETs are heavy', () => {
  it('every figure (PNG, SVG) and map route of the API is bounded; streamed stored files and small JSON are not', () => {
    const doc = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'openapi', 'openapi.json'), 'utf8')) as { paths: Record<string, { get?: unknown }> };
    const routes = Object.keys(doc.paths)
      .filter((p) => doc.paths[p].get)
      .map((p) => p.replace(/^\/v1/, '').replace(/\{(\w+)\}/g, ':$1'));
    const heavy = (r: string) => HEAVY_GET.some((re) => re.test(r));
    const figures = routes.filter((r) => /\.(png|svg)$/.test(r));
    expect(figures.length).toBeGreaterThanOrEqual(17);
    for (const r of figures) expect(heavy(r), r).toBe(true);
    for (const r of ['/contrasts/:id/layers/:layer/map.npy', '/contrasts/:id/layers/:layer', '/models/:id/tensors']) expect(heavy(r), r).toBe(true);
    for (const r of ['/contrasts/:id/layers/:layer/activations.npy', '/contrasts/:id', '/contrasts', '/stimulus-sets/:id/items']) expect(heavy(r), r).toBe(false);
  });
});

/** Sockets connected to port, all at once. */
async function connect(port: number, n: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
}

/** Resolves with the bytes of one response (Connection: close) when the server ends it. */
function response(s: net.Socket, onDone: () => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve) =>
    s.once('end', () => {
      onDone();
      resolve(Buffer.concat(chunks));
    }),
  );
}

describe('heavy GETs on a listening server', () => {
  let t: TestApp;
  let port = 0;
  let maps: string[] = [];
  beforeAll(async () => {
    t = await startApp({});
    expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-cnn' } })).statusCode).toBe(201);
    for (const p of ['images/faces', 'images/objects']) expect((await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: p } })).statusCode).toBe(201);
    const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-cnn', a: 'faces', b: 'objects' } });
    const id = r.json().id as string;
    expect((await waitForContrast(t.app, id)).state).toBe('succeeded');
    const layers = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}` })).json().layers.map((l: { name: string }) => l.name) as string[];
    maps = layers.map((l) => `/v1/contrasts/${id}/layers/${l}/map.png`);
    for (const u of maps) expect((await t.app.inject({ method: 'GET', url: u })).statusCode).toBe(200); // now cached
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as net.AddressInfo).port;
  }, 120_000);
  afterAll(async () => t?.close());

  it(`a /health sent after ${BURST} cached map requests that arrive together is answered before most of them`, async () => {
    const hits = mapService(t.ctx).cache.hits;
    const sockets = await connect(port, BURST + 1);
    const health = sockets.pop()!;
    // The server accepts a pending connection per turn: wait until it holds all of them, so that the
    // requests below are read together (as on the keep-alive connections of a viewer or a notebook).
    const held = () => new Promise<number>((r) => t.app.server.getConnections((_e, n) => r(n)));
    while ((await held()) < BURST + 1) await new Promise((r) => setTimeout(r, 5));
    let done = 0;
    let doneBeforeHealth = -1;
    const heavy = sockets.map((s) => response(s, () => done++));
    const healthBody = response(health, () => (doneBeforeHealth = done));
    // Every request is written in this one turn: the server reads them all in its next poll phase.
    sockets.forEach((s, k) => s.write(`GET ${maps[k % maps.length]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    health.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [h, ...rest] = await Promise.all([healthBody, ...heavy]);
    expect(h.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [\s\S]*"status":"ok"/);
    for (const b of rest) {
      expect(b.subarray(0, 15).toString('latin1')).toBe('HTTP/1.1 200 OK');
      expect(b.includes(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBe(true);
    }
    expect(mapService(t.ctx).cache.hits - hits).toBe(BURST);
    // Handed to the app as they were read, all 100 would be answered before /health was even parsed.
    expect(doneBeforeHealth).toBeGreaterThanOrEqual(0);
    expect(doneBeforeHealth).toBeLessThan(BURST / 2);
  });
});
