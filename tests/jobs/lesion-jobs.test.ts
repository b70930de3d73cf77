/**
 * Lesion jobs in the queue: progress while running, cancel of a running lesion (the next job runs), and a
 * server killed mid-lesion (SIGKILL): resumed after a restart, or failed with the reason under
 * recovery 'fail'.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';
import { MODELS, STIMULI, startApp, tempDir, textLines, type TestApp } from '../support/env.ts';

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const LESION = { from: 'explicit', model: 'topo-gpt', units: { mlp1: [0, 1, 2, 3, 4, 5, 6, 7] }, sets: ['la', 'lb'], controls: { random: 12, spatial: 0, seed: 3 } };

describe('lesion jobs in the queue', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ batchSize: 1, jobConcurrency: 1 });
    expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-gpt' } })).statusCode).toBe(201);
    for (const [name, texts] of [
      ['la', textLines('toxic').slice(0, 30)],
      ['lb', textLines('neutral').slice(0, 30)],
    ] as const)
      expect((await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name, texts } })).statusCode).toBe(201);
  });
  afterAll(async () => t?.close());

  it('reports progress while running, cancels a running lesion, then runs the next job', async () => {
    const a = (await t.app.inject({ method: 'POST', url: '/v1/lesions', payload: LESION })).json();
    const b = (await t.app.inject({ method: 'POST', url: '/v1/lesions', payload: { ...LESION, controls: { random: 1, spatial: 1 } } })).json();
    expect(a.progress).toEqual({ done: 0, total: 60 * 14, fraction: 0 });
    const running = await until(async () => {
      const j = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${a.id}` })).json();
      return j.state === 'running' && j.progress.done > 0 ? j : undefined;
    }, 'the lesion to run');
    expect(running.progress.done).toBeLessThan(running.progress.total);
    expect((await t.app.inject({ method: 'GET', url: `/v1/lesions/${b.id}` })).json().state).toBe('queued');
    const c = await t.app.inject({ method: 'DELETE', url: `/v1/lesions/${a.id}` });
    expect(c.json().state).toBe('cancelled');
    const done = await until(async () => {
      const j = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${b.id}` })).json();
      return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
    }, 'the next lesion');
    expect(done.state, String(done.error)).toBe('succeeded');
    const after = (await t.app.inject({ method: 'GET', url: `/v1/lesions/${a.id}` })).json();
    expect(after).toMatchObject({ state: 'cancelled', results: null });
  });
});

function startServer(dataDir: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'main.ts'), 'serve', '--port', '0', '--data', dataDir], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        TOPOSCOPE_REGISTER_FIXTURES: '0',
        TOPOSCOPE_MODELS_ROOTS: MODELS,
        TOPOSCOPE_STIMULI_ROOTS: STIMULI,
        TOPOSCOPE_BATCH_SIZE: '1',
        TOPOSCOPE_WORKERS: '1',
        TOPOSCOPE_ORT_THREADS: '1',
        TOPOSCOPE_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving at (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, any> }> {
  const r = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) } });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

function kill(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.removeAllListeners('exit');
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

describe('a server killed mid-lesion', () => {
  const dataDir = tempDir();
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function startLongLesion(url: string, tag: string): Promise<string> {
    expect((await json(`${url}/v1/models`, { method: 'POST', body: JSON.stringify({ path: 'topo-gpt' }) })).status).toBeLessThan(300);
    for (const [name, base] of [
      [`${tag}-a`, textLines('toxic')],
      [`${tag}-b`, textLines('neutral')],
    ] as const) {
      const r = await json(`${url}/v1/stimulus-sets`, { method: 'POST', body: JSON.stringify({ name, texts: base.slice(0, 15).map((x) => `${x} ${tag}`) }) });
      expect(r.status).toBe(201);
    }
    const l = await json(`${url}/v1/lesions`, { method: 'POST', body: JSON.stringify({ ...LESION, sets: [`${tag}-a`, `${tag}-b`], controls: { random: 6, spatial: 0, seed: 3 } }) });
    expect(l.status, JSON.stringify(l.body)).toBe(202);
    const id = String(l.body.id);
    await until(async () => {
      const j = (await json(`${url}/v1/lesions/${id}`)).body;
      if (j.state !== 'running' && j.state !== 'queued') throw new Error(`lesion ended before the kill: ${j.state}`);
      return j.state === 'running' && j.progress.done > 0 ? j : undefined;
    }, 'the lesion to run');
    return id;
  }

  it('is resumed after a restart and completes', async () => {
    const s1 = await startServer(dataDir);
    const id = await startLongLesion(s1.url, 'resume');
    await kill(s1.proc);
    const s2 = await startServer(dataDir);
    try {
      const j = await until(async () => {
        const b = (await json(`${s2.url}/v1/lesions/${id}`)).body;
        return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
      }, 'the resumed lesion', 170_000);
      expect(j).toMatchObject({ state: 'succeeded', attempts: 2, error: null, progress: { done: 30 * 8, total: 30 * 8 } });
      expect(j.results.doses[0].sets.map((s: { name: string }) => s.name)).toEqual(['resume-a', 'resume-b']);
      expect(j.results.doses[0].sets[0].random.ce.n).toBe(6);
    } finally {
      await kill(s2.proc);
    }
  });

  it('is marked failed with the reason when recovery is "fail"', async () => {
    const s1 = await startServer(dataDir);
    const id = await startLongLesion(s1.url, 'fail');
    await kill(s1.proc);
    const s2 = await startServer(dataDir, { TOPOSCOPE_RECOVERY: 'fail' });
    try {
      const j = (await json(`${s2.url}/v1/lesions/${id}`)).body;
      expect(j.state).toBe('failed');
      expect(String(j.error)).toMatch(/interrupted: the server stopped while this job was running/);
    } finally {
      await kill(s2.proc);
    }
  });
});
