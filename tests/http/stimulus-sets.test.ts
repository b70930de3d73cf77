/** Stimulus sets: uploads, server paths, content addressing, immutability, and their errors. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/store/files.ts';
import { imageFiles, multipart, startApp, textLines, type TestApp } from '../support/env.ts';

describe('stimulus sets', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => t?.close());

  it('stores image items by content hash and serves them back byte for byte', async () => {
    const files = imageFiles('places').slice(0, 5);
    const u = multipart([{ name: 'name', data: 'places5' }, ...files.map((f) => ({ name: 'files', filename: path.basename(f), data: fs.readFileSync(f) }))]);
    const r = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: u.payload, headers: u.headers });
    expect(r.statusCode, r.body).toBe(201);
    const set = r.json();
    expect(set).toMatchObject({ name: 'places5', modality: 'image', nItems: 5 });
    const items = (await t.app.inject({ method: 'GET', url: `/v1/stimulus-sets/${set.id}/items` })).json().items as { sha256: string; label: string }[];
    expect(items.map((i) => i.label)).toEqual(files.map((f) => path.basename(f)));
    expect(items[2].sha256).toBe(sha256(fs.readFileSync(files[2])));
    const raw = await t.app.inject({ method: 'GET', url: `/v1/stimulus-sets/${set.id}/items/2` });
    expect(raw.headers['content-type']).toBe('image/png');
    expect(Buffer.compare(raw.rawPayload, fs.readFileSync(files[2]))).toBe(0);
    // The same upload again is the same set (200), not a copy.
    const again = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: u.payload, headers: u.headers });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(set.id);
  });

  it('text sets from JSON, from a JSON-array upload and from a server-side .txt', async () => {
    const texts = textLines('sentences').slice(0, 10);
    const a = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 's10', texts } });
    expect(a.statusCode).toBe(201);
    const up = multipart([{ name: 'name', data: 's10' }, { name: 'texts', filename: 't.json', data: JSON.stringify(texts) }]);
    const b = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: up.payload, headers: up.headers });
    expect(b.statusCode).toBe(200);
    expect(b.json().id).toBe(a.json().id);
    const c = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: 'text/nonwords.txt' } });
    expect(c.statusCode, c.body).toBe(201);
    expect(c.json()).toMatchObject({ name: 'nonwords', modality: 'text', nItems: textLines('nonwords').length });
    const items = (await t.app.inject({ method: 'GET', url: `/v1/stimulus-sets/${a.json().id}/items?limit=3&offset=1` })).json();
    expect(items.total).toBe(10);
    expect(items.items.map((i: { text: string }) => i.text)).toEqual(texts.slice(1, 4));
  });

  it('rejects empty sets, bad images, unknown fields and paths outside the root', async () => {
    const e1 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'x', texts: [] } });
    expect(e1.statusCode).toBe(400);
    const e2 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'x', texts: ['ok', '   '] } });
    expect(e2.statusCode).toBe(400);
    expect(e2.json().field).toBe('texts[1]');
    const bad = multipart([{ name: 'name', data: 'bad' }, { name: 'files', filename: 'x.png', data: Buffer.from('not an image') }]);
    const e3 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: bad.payload, headers: bad.headers });
    expect(e3.statusCode).toBe(400);
    expect(e3.json().message).toMatch(/x\.png/);
    const none = multipart([{ name: 'name', data: 'none' }]);
    const e4 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: none.payload, headers: none.headers });
    expect(e4.statusCode).toBe(400);
    const e5 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: '../../../etc/passwd' } });
    expect(e5.statusCode).toBe(400);
    expect(e5.json().field).toBe('path');
    const e6 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'bad name!', texts: ['a'] } });
    expect(e6.statusCode).toBe(400);
    expect(e6.json().field).toBe('name');
    const e7 = await t.app.inject({ method: 'GET', url: '/v1/stimulus-sets/nope' });
    expect(e7.statusCode).toBe(404);
    const sets = (await t.app.inject({ method: 'GET', url: '/v1/stimulus-sets' })).json();
    expect(sets.total).toBe(3);
  });

  it('is immutable: no route changes a set, and delete is refused while a contrast uses it', async () => {
    const put = await t.app.inject({ method: 'PUT', url: '/v1/stimulus-sets/s10', payload: { texts: ['x'] } });
    expect(put.statusCode).toBe(404);
    const del = await t.app.inject({ method: 'DELETE', url: '/v1/stimulus-sets/nonwords' });
    expect(del.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/v1/stimulus-sets/nonwords' })).statusCode).toBe(404);
  });
});
