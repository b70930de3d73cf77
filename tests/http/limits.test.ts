/** Keys on reads, the rate limit of CPU-heavy GETs, maxTokens checked at registration, truncation reported. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, startApp, tempDir, waitForContrast, type TestApp } from '../support/env.ts';

const KEY = { authorization: 'bearer s3cret' };

describe('API key on reads, and heavy GETs per client', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ apiKey: 's3cret', apiKeyReads: true, heavyGetsPerMinute: 3 });
  });
  afterAll(async () => t?.close());

  it('with TOPOSCOPE_API_KEY_READS every /v1 read needs the key (scheme in any case); /health does not', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/v1/models', headers: KEY })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'BEARER s3cret' } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('tensor listings beyond the per-minute limit get 429 in the error shape, naming the setting', async () => {
    const reg = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-cnn' }, headers: KEY });
    expect(reg.statusCode).toBe(201);
    const url = `/v1/models/${reg.json().id}/tensors`;
    const codes: number[] = [];
    let last: Record<string, unknown> = {};
    for (let i = 0; i < 4; i++) {
      const r = await t.app.inject({ method: 'GET', url, headers: KEY });
      codes.push(r.statusCode);
      last = r.json();
    }
    expect(codes).toEqual([200, 200, 200, 429]);
    expect(last).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(String(last.message)).toMatch(/TOPOSCOPE_HEAVY_GETS_PER_MINUTE/);
    // Other reads are not limited.
    expect((await t.app.inject({ method: 'GET', url: '/v1/models', headers: KEY })).statusCode).toBe(200);
  });
});

describe('text length: registration and contrasts', () => {
  let t: TestApp;
  const dir = tempDir();
  beforeAll(async () => {
    t = await startApp({ modelsRoots: [MODELS, dir], maxTextChars: 400 });
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a maxTokens the model cannot take is a 400 naming manifest.input.text.maxTokens at registration', async () => {
    const copy = path.join(dir, 'long-gpt');
    fs.cpSync(path.join(MODELS, 'topo-gpt'), copy, { recursive: true });
    const m = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
    m.name = 'long-gpt';
    m.input.text.maxTokens = 512; // the model has 128 learned positions
    fs.writeFileSync(path.join(copy, 'manifest.json'), JSON.stringify(m));
    const r = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: copy } });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().field).toBe('manifest.input.text.maxTokens');
    expect(r.json().message).toMatch(/512 tokens/);
  });

  it('a text over TOPOSCOPE_MAX_TEXT_CHARS is refused naming the item; texts over maxTokens are counted per set', async () => {
    const long = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'too-long', texts: ['ok text', 'word '.repeat(100)] } });
    expect(long.statusCode).toBe(413);
    expect(long.json().field).toBe('texts[1]');
    expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-gpt' } })).statusCode).toBe(201);
    // 150 words (300 characters) are more than the 128 tokens the model takes; 61 are not.
    const a = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'longish', texts: ['a '.repeat(149) + 'end', 'a short one', 'the '.repeat(60) + 'end'] } });
    const b = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name: 'short', texts: ['one two', 'three four', 'five six'] } });
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    const c = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-gpt', a: 'longish', b: 'short', layers: ['mlp0'] } });
    expect(c.statusCode, c.body).toBe(202);
    const done = await waitForContrast(t.app, c.json().id);
    expect(done.state).toBe('succeeded');
    expect(done.truncation).toEqual({ maxTokens: 128, sets: { [a.json().id]: 1, [b.json().id]: 0 } });
  });
});
