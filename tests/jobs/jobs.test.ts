/**
 * The job queue under stress: cancellation, ordering, the event loop staying free during inference,
 * and a process killed mid-job (SIGKILL) then restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';
import { MODELS, STIMULI, startApp, tempDir, textLines, waitForContrast, type TestApp } from '../support/env.ts';

/** Many distinct texts (real sentences with a counter) so a job takes a while. */
function manyTexts(n: number, base: string[], tag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${base[i % base.length]} ${tag} ${i}`);
  return out;
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('cancellation, ordering and a free event loop', () => {
  let t: TestApp;
  let url = '';
  beforeAll(async () => {
    t = await startApp({ batchSize: 1, jobConcurrency: 1 });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = t.app.server.address();
    url = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : '';
    expect((await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-gpt' } })).statusCode).toBe(201);
    const neutral = textLines('neutral');
    const toxic = textLines('toxic');
    for (const [name, texts] of [
      ['big-a', manyTexts(3000, neutral, 'alpha')],
      ['big-b', manyTexts(3000, toxic, 'beta')],
      ['small-a', neutral.slice(0, 20)],
      ['small-b', toxic.slice(0, 20)],
    ] as const) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { name, texts } });
      expect(r.statusCode, r.body).toBe(201);
    }
  });
  afterAll(async () => t?.close());

  it('answers /health over a real socket while a job is running (inference is off the main thread)', async () => {
    const c = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-gpt', a: 'big-a', b: 'big-b' } });
    const id = c.json().id as string;
    await until(async () => {
      const j = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}` })).json();
      return j.state === 'running' && j.progress.done > 0 ? j : undefined;
    }, 'the job to start');
    let answered = 0;
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${url}/health`);
      expect(r.status).toBe(200);
      const h = (await r.json()) as { jobs: { running: number } };
      expect(h.jobs.running).toBe(1);
      answered++;
    }
    // All 25 answers came back while the job was still running: the loop was never blocked for a whole job.
    const j = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}` })).json();
    expect(j.state).toBe('running');
    expect(j.progress.done).toBeLessThan(j.progress.total);
    expect(answered).toBe(25);

    // Cancel it: state becomes cancelled at once and stays so; no results are stored.
    const d = await t.app.inject({ method: 'DELETE', url: `/v1/contrasts/${id}` });
    expect(d.statusCode).toBe(200);
    expect(d.json().state).toBe('cancelled');
    await t.app.jobs.idle();
    const after = (await t.app.inject({ method: 'GET', url: `/v1/contrasts/${id}` })).json();
    expect(after.state).toBe('cancelled');
    expect(after.layers).toEqual([]);
    const n = t.ctx.db.prepare('SELECT COUNT(*) AS n FROM layer_results WHERE job_id = ?').get(id) as { n: number };
    expect(n.n).toBe(0);
    const again = await t.app.inject({ method: 'DELETE', url: `/v1/contrasts/${id}` });
    expect(again.statusCode).toBe(409);
  });

  it('runs queued jobs one after another in submission order, and cancels a queued one', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-gpt', a: 'small-a', b: 'small-b', label: `run ${i}` } });
      expect(r.statusCode).toBe(202);
      ids.push(r.json().id);
    }
    const queued = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: 'topo-gpt', a: 'small-a', b: 'small-b', label: 'to cancel' } });
    const cancel = await t.app.inject({ method: 'DELETE', url: `/v1/contrasts/${queued.json().id}` });
    expect(cancel.json().state).toBe('cancelled');
    const jobs = [];
    for (const id of ids) jobs.push(await waitForContrast(t.app, id));
    for (const j of jobs) expect(j.state).toBe('succeeded');
    for (let i = 1; i < jobs.length; i++) {
      expect(Date.parse(String(jobs[i].startedAt))).toBeGreaterThanOrEqual(Date.parse(String(jobs[i - 1].finishedAt)));
    }
    const list = (await t.app.inject({ method: 'GET', url: '/v1/contrasts?state=cancelled' })).json();
    expect(list.total).toBe(2);
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

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) } });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

function kill(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.removeAllListeners('exit');
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

describe('a server killed mid-job', () => {
  const dataDir = tempDir();
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function startLongJob(url: string, tag: string): Promise<string> {
    const neutral = textLines('neutral');
    const toxic = textLines('toxic');
    expect((await json(`${url}/v1/models`, { method: 'POST', body: JSON.stringify({ path: 'topo-gpt' }) })).status).toBeLessThan(300);
    for (const [name, base] of [
      [`${tag}-a`, neutral],
      [`${tag}-b`, toxic],
    ] as const) {
      const r = await json(`${url}/v1/stimulus-sets`, { method: 'POST', body: JSON.stringify({ name, texts: manyTexts(1500, base, tag) }) });
      expect(r.status).toBe(201);
    }
    const c = await json(`${url}/v1/contrasts`, { method: 'POST', body: JSON.stringify({ model: 'topo-gpt', a: `${tag}-a`, b: `${tag}-b` }) });
    expect(c.status).toBe(202);
    const id = String(c.body.id);
    await until(async () => {
      const j = (await json(`${url}/v1/contrasts/${id}`)).body as { state: string; progress: { done: number; total: number } };
      if (j.state !== 'running' && j.state !== 'queued') throw new Error(`job ended before the kill: ${j.state}`);
      return j.state === 'running' && j.progress.done > 0 ? j : undefined;
    }, 'the job to run');
    return id;
  }

  it('is resumed after a restart and completes with every stimulus', async () => {
    const s1 = await startServer(dataDir);
    const id = await startLongJob(s1.url, 'resume');
    await kill(s1.proc);
    // The database says running: nobody has cleaned up yet.
    const s2 = await startServer(dataDir);
    try {
      const j = await until(async () => {
        const b = (await json(`${s2.url}/v1/contrasts/${id}`)).body as { state: string };
        return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
      }, 'the resumed job', 170_000);
      expect(j).toMatchObject({ state: 'succeeded', attempts: 2, error: null });
      const layers = (j as unknown as { layers: { nA: number; nB: number }[] }).layers;
      expect(layers[0]).toMatchObject({ nA: 1500, nB: 1500 });
    } finally {
      await kill(s2.proc);
    }
  });

  it('is marked failed with the reason when recovery is "fail"', async () => {
    const s1 = await startServer(dataDir);
    const id = await startLongJob(s1.url, 'fail');
    await kill(s1.proc);
    const s2 = await startServer(dataDir, { TOPOSCOPE_RECOVERY: 'fail' });
    try {
      const j = (await json(`${s2.url}/v1/contrasts/${id}`)).body;
      expect(j.state).toBe('failed');
      expect(String(j.error)).toMatch(/interrupted: the server stopped while this job was running/);
      const h = (await json(`${s2.url}/health`)).body as { jobs: { running: number } };
      expect(h.jobs.running).toBe(0);
    } finally {
      await kill(s2.proc);
    }
  });
});
