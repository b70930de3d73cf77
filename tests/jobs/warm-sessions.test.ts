/**
 * Consecutive jobs on one model share the sessions the first one started (TOPOSCOPE_SESSION_IDLE_SECONDS):
 * the second reports it, its numbers equal the first's, and stopping the service ends the kept sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, waitForContrast, type TestApp } from '../support/env.ts';

async function contrast(t: TestApp, payload: Record<string, unknown>): Promise<{ body: Record<string, unknown>; t: number[] }> {
  const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload });
  expect(r.statusCode, r.body).toBe(202);
  const body = await waitForContrast(t.app, r.json().id);
  expect(body.state, String(body.error)).toBe('succeeded');
  const layer = await t.app.inject({ method: 'GET', url: `/v1/contrasts/${r.json().id}/layers/conv4` });
  return { body, t: layer.json().t as number[] };
}

async function setUp(t: TestApp): Promise<void> {
  expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-cnn' } })).statusCode).toBe(201);
  for (const d of ['faces', 'objects']) expect((await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: `images/${d}` } })).statusCode).toBe(201);
}

const reused = (b: Record<string, unknown>) => (b.timings as Record<string, number>).sessionReused;

describe('sessions kept between jobs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ sessionIdleSeconds: 60 });
    await setUp(t);
  });
  afterAll(async () => t?.close());

  it('the second contrast on the same model runs on the first one’s sessions, with the same numbers', async () => {
    const first = await contrast(t, { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'] });
    expect(reused(first.body)).toBe(0);
    expect(t.service.jobs.pools.waiting).toBe(1);
    const second = await contrast(t, { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'] });
    expect(reused(second.body)).toBe(1);
    expect(second.t).toEqual(first.t);
    // The other direction on the same sessions: t changes sign, exactly.
    const flipped = await contrast(t, { model: 'topo-cnn', a: 'objects', b: 'faces', layers: ['conv4'] });
    expect(reused(flipped.body)).toBe(1);
    expect(flipped.t).toEqual(first.t.map((v) => (v === null || v === 0 ? v : -v)));
    expect(t.service.jobs.pools.stats).toMatchObject({ reused: 2, started: 1 });
  });

  it('stopping the service closes the kept sessions', async () => {
    expect(t.service.jobs.pools.waiting).toBe(1);
    await t.service.jobs.stop();
    expect(t.service.jobs.pools.waiting).toBe(0);
    expect(t.service.jobs.pools.stats.closed).toBe(1);
  });
});

describe('sessions closed after each job (TOPOSCOPE_SESSION_IDLE_SECONDS=0)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ sessionIdleSeconds: 0 });
    await setUp(t);
  });
  afterAll(async () => t?.close());

  it('starts new sessions for every job', async () => {
    const a = await contrast(t, { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'] });
    const b = await contrast(t, { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'] });
    expect([reused(a.body), reused(b.body)]).toEqual([0, 0]);
    expect(b.t).toEqual(a.t);
    expect(t.service.jobs.pools.waiting).toBe(0);
  });
});
