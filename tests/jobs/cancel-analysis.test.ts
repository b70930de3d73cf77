/** Cancel means stop, in the analysis stage too; progress names the stage. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, waitForContrast, type TestApp } from '../support/env.ts';

describe('cancelling a contrast during its permutations', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
    for (const p of [{ path: 'topo-cnn' }]) expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: p })).statusCode).toBe(201);
    for (const s of ['images/faces', 'images/objects']) expect((await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: s } })).statusCode).toBe(201);
  });
  afterAll(async () => t?.close());

  it('reports the stage, stops the permutation worker on DELETE, and the next job runs', async () => {
    const c = await t.app.inject({
      method: 'POST',
      url: '/v1/contrasts',
      payload: { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'], analysis: { permutations: { n: 100000 } } },
    });
    expect(c.statusCode).toBe(202);
    const id = c.json().id as string;
    const stages = new Set<string>();
    let seen: { done: number; total: number; stage: string | null } | null = null;
    for (const until = Date.now() + 120_000; Date.now() < until; ) {
      const j = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}` })).json();
      if (j.progress.stage) stages.add(j.progress.stage.split(' ')[0]);
      if (j.state === 'running' && /^permutations \d+\/100001/.test(j.progress.stage ?? '')) {
        const k = Number(/^permutations (\d+)/.exec(j.progress.stage)![1]);
        if (k > 0) {
          seen = j.progress;
          break;
        }
      }
      expect(j.state).not.toBe('succeeded');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen, 'the permutations stage was reported with its count').not.toBeNull();
    expect([...stages]).toEqual(expect.arrayContaining(['inference', 'permutations']));
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/contrasts/${id}` });
    expect(del.json().state).toBe('cancelled');
    // The queue is free again well before 100,000 permutations could finish: a second job runs to the end.
    const next = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'] } });
    const done = await waitForContrast(t.app, next.json().id, 60_000);
    expect(done.state).toBe('succeeded');
    const after = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}` })).json();
    expect(after.state).toBe('cancelled');
    expect(after.layers).toEqual([]);
  });
});
