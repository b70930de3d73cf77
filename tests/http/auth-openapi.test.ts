/** The optional API key, the error shape, Swagger, and the committed OpenAPI document's freshness. */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateManifestSchema, generateOpenApi, MANIFEST_SCHEMA_FILE, OPENAPI_FILE } from '../../src/http/openapi.ts';
import { startApp, type TestApp } from '../support/env.ts';

describe('API key', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ apiKey: 's3cret' });
  });
  afterAll(async () => t?.close());

  it('every write needs Authorization: Bearer <key>; reads do not', async () => {
    const body = { name: 'k', texts: ['a b c'] };
    const none = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: body });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(none.json().message).toMatch(/Bearer/);
    const wrong = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: body, headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    const ok = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: body, headers: { authorization: 'Bearer s3cret' } });
    expect(ok.statusCode).toBe(201);
    for (const [method, url] of [
      ['DELETE', `/v1/stimulus-sets/${ok.json().id}`],
      ['POST', '/v1/models'],
      ['POST', '/v1/contrasts'],
      ['DELETE', '/v1/contrasts/c_x'],
      ['DELETE', '/v1/models/x'],
    ] as const) {
      expect((await t.app.inject({ method, url, payload: method === 'POST' ? {} : undefined })).statusCode, `${method} ${url}`).toBe(401);
    }
    expect((await t.app.inject({ method: 'GET', url: '/v1/stimulus-sets' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});

describe('errors and docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => t?.close());

  it('one error shape for validation, unknown routes and unknown ids', async () => {
    const v = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'm', a: 'x', b: 'y', alpha: 2 } });
    expect(v.statusCode).toBe(400);
    expect(v.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION', field: 'alpha' });
    // A value outside a closed set names the field, every allowed value and what was sent; nullable
    // choices take null, and the same holds for query strings.
    const e = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'm', a: 'x', b: 'y', test: 'welsh' } });
    expect(e.statusCode).toBe(400);
    expect(e.json()).toMatchObject({ code: 'VALIDATION', field: 'test', message: 'body.test must be one of "welch", "student" (found string "welsh")' });
    const p = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'm', a: 'x', b: 'y', pooling: 'median' } });
    expect(p.json()).toMatchObject({ code: 'VALIDATION', field: 'pooling', message: 'body.pooling must be one of "mean", "max", "last", "tokens", null (found string "median")' });
    const n = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'm', a: 'x', b: 'y', pooling: null } });
    expect(n.json().code).not.toBe('VALIDATION');
    const q = await t.app.inject({ method: 'GET', url: '/v1/contrasts?state=done' });
    expect(q.json()).toMatchObject({ code: 'VALIDATION', field: 'state', message: expect.stringContaining('querystring.state must be one of "queued", "running"') });
    const nf = await t.app.inject({ method: 'GET', url: '/v1/nothing' });
    expect(nf.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    const c = await t.app.inject({ method: 'GET', url: '/v1/contrasts/c_0000' });
    expect(c.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND', message: "contrast 'c_0000' does not exist" });
    const badJson = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: '{"model":', headers: { 'content-type': 'application/json' } });
    expect(badJson.statusCode).toBe(400);
    expect(Object.keys(badJson.json()).sort()).toEqual(['code', 'error', 'message', 'statusCode']);
  });

  it('serves Swagger UI at /docs and the document at /docs/json, every route with responses and errors', async () => {
    const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown>; summary?: string; parameters?: unknown; requestBody?: unknown }>>;
      components: { schemas: Record<string, unknown> };
    };
    const ops = Object.entries(doc.paths).flatMap(([p, m]) => Object.entries(m).map(([k, v]) => [`${k.toUpperCase()} ${p}`, v] as const));
    expect(ops.length).toBeGreaterThanOrEqual(30);
    // An example somewhere in the operation: its parameters, its request body or a 2xx response (following $refs).
    const hasExample = (o: unknown, depth = 0): boolean => {
      if (depth > 8 || o === null || typeof o !== 'object') return false;
      if (Array.isArray(o)) return o.some((x) => hasExample(x, depth + 1));
      const rec = o as Record<string, unknown>;
      if ('example' in rec || 'examples' in rec) return true;
      if (typeof rec.$ref === 'string') return hasExample(doc.components.schemas[rec.$ref.split('/').pop()!], depth + 1);
      return Object.values(rec).some((x) => hasExample(x, depth + 1));
    };
    for (const [name, op] of ops) {
      expect(op.summary, name).toMatch(/\w{3,}/);
      expect(Object.keys(op.responses).some((c) => c.startsWith('2')), name).toBe(true);
      expect(Object.keys(op.responses), name).toContain('500');
      expect(Object.keys(op.responses).some((c) => c.startsWith('4')) || name.startsWith('GET /health'), `${name} documents its 4xx`).toBe(true);
      const ok2xx = Object.entries(op.responses).filter(([c]) => c.startsWith('2'));
      expect(hasExample(op.parameters) || hasExample(op.requestBody) || ok2xx.some(([, r]) => hasExample(r)), `${name} has an example`).toBe(true);
    }
  });

  it('openapi/openapi.json and openapi/manifest.schema.json are up to date (npm run openapi)', async () => {
    expect(fs.readFileSync(OPENAPI_FILE, 'utf8'), 'openapi/openapi.json is stale: run npm run openapi').toBe(await generateOpenApi());
    expect(fs.readFileSync(MANIFEST_SCHEMA_FILE, 'utf8'), 'openapi/manifest.schema.json is stale: run npm run openapi').toBe(generateManifestSchema());
  });
});
