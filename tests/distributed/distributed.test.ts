/**
 * Distributed mode with real processes: redis-server, a coordinator (dist/main.js serve with
 * TOPOSCOPE_REDIS_URL and an API key) and two `toposcope worker` processes. A contrast (text, kept
 * activations), a battery (images) and a lesion evaluation (mean mode: reference and evaluation passes)
 * give the embedded server's results bit for bit; a worker killed with SIGKILL mid-shard, Redis
 * restarted mid-job and the coordinator killed mid-job still give them; cancel empties the queue; the
 * worker routes need the key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARD_QUEUE } from '../../src/pipeline/shards.ts';
import { startApp, tempDir, textLines, waitForContrast, type TestApp } from '../support/env.ts';
import { startCoordinator, startRedis, startWorker, stopAll, type Proc } from '../support/cluster.ts';

const KEY = 'distributed-test-key';
// Same batches and shards on both sides (one batch of 8 per shard: many shards), one ORT thread each.
const SAME = { TOPOSCOPE_SHARD_BATCHES: '1', TOPOSCOPE_BATCH_SIZE: '8', TOPOSCOPE_WORKERS: '1', TOPOSCOPE_ORT_THREADS: '1' };
const WORKER_ENV = { TOPOSCOPE_STALLED_MS: '2000' };
const COORD_ENV = { ...SAME, TOPOSCOPE_API_KEY: KEY };

type Json = Record<string, any>;

describe('distributed mode (BullMQ on a real redis-server, two worker processes)', () => {
  let redis: { proc: Proc; port: number; url: string };
  let coord: { proc: Proc; url: string };
  const workers: Proc[] = [];
  let emb: TestApp;
  let queue: Queue;
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDir('toposcope-dist-');
    dirs.push(d);
    return d;
  };
  let dataDir = '';
  let coordPort = 0;

  const http = async (method: string, url: string, body?: unknown, key: string | null = KEY): Promise<{ status: number; json: Json; bytes: Buffer }> => {
    const r = await fetch(coord.url + url, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const bytes = Buffer.from(await r.arrayBuffer());
    let json: Json = {};
    try {
      json = JSON.parse(bytes.toString('utf8')) as Json;
    } catch {
      // binary
    }
    return { status: r.status, json, bytes };
  };
  const embPost = async (url: string, payload: object) => emb.app.inject({ method: 'POST', url, payload });
  const embGet = async (url: string) => emb.app.inject({ method: 'GET', url });

  async function waitDist(url: string, timeoutMs = 150_000): Promise<Json> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const j = (await http('GET', url)).json;
      if (j.state !== 'queued' && j.state !== 'running') return j;
      if (Date.now() > until) throw new Error(`${url} still ${j.state}: ${coord.proc.output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async function waitEmb(url: string): Promise<Json> {
    for (;;) {
      const j = (await embGet(url)).json();
      if (j.state !== 'queued' && j.state !== 'running') return j;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** A long contrast on both servers; resolves once the distributed one has merged a shard. */
  async function startedOnBoth(layers: string[]): Promise<{ d: string; e: string }> {
    const payload = { model: 'topo-gpt', a: 'toxic-many', b: 'neutral-many', layers };
    const d = (await http('POST', '/v1/contrasts', payload)).json.id as string;
    const e = (await embPost('/v1/contrasts', payload)).json().id as string;
    while (!((await http('GET', `/v1/contrasts/${d}`)).json.progress.done > 0)) await new Promise((r) => setTimeout(r, 20));
    return { d, e };
  }

  /** Both runs finish, the distributed one as the embedded one. */
  async function finishSame(ids: { d: string; e: string }, layers?: string[]): Promise<Json> {
    const dj = await waitDist(`/v1/contrasts/${ids.d}`);
    const ej = await waitForContrast(emb.app, ids.e);
    expect(dj.state, String(dj.error)).toBe('succeeded');
    expect(ej.state).toBe('succeeded');
    await compareLayers(ids.d, ids.e, layers ?? dj.params.layers);
    return dj;
  }

  /** Waits until no shard waits or runs (a worker answers BullMQ just after its partial is stored). */
  async function queueDrained(): Promise<void> {
    for (let i = 0; ; i++) {
      const n = await queue.getJobCounts('waiting', 'active', 'prioritized', 'delayed');
      if (n.waiting + n.active + n.prioritized + n.delayed === 0) return;
      if (i > 600) throw new Error(`shards still in the queue: ${JSON.stringify(n)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const workerCaches: string[] = [];
  const addWorker = async () => {
    const cache = dir();
    workerCaches.push(cache);
    workers.push(await startWorker({ redis: redis.url, api: coord.url, cache, key: KEY, env: WORKER_ENV }));
  };
  const pooledCopies = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? pooledCopies(path.join(d, e.name)) : e.name.includes('.pool-') && e.name.endsWith('.onnx') ? [e.name] : []));

  /** The same request on both servers; the layers of the two results, compared bit for bit. */
  async function sameContrast(payload: Json, extra: (d: string, e: string, layer: string) => Promise<void> = async () => undefined): Promise<Json> {
    const d = await http('POST', '/v1/contrasts', payload);
    expect(d.status, JSON.stringify(d.json)).toBe(202);
    const ids = { d: d.json.id as string, e: (await embPost('/v1/contrasts', payload)).json().id as string };
    const dj = await finishSame(ids);
    for (const l of dj.params.layers) await extra(ids.d, ids.e, l);
    return dj;
  }

  async function compareLayers(d: string, e: string, layers: string[]): Promise<void> {
    for (const l of layers) {
      const a = (await http('GET', `/v1/contrasts/${d}/layers/${l}`)).json;
      const b = (await embGet(`/v1/contrasts/${e}/layers/${l}`)).json();
      for (const k of ['t', 'df', 'p', 'log10p', 'q', 'd', 'meanA', 'meanB', 'varA', 'varB']) expect(a[k], `${l}.${k}`).toEqual(b[k]);
      expect(a.nA).toBe(b.nA);
    }
  }

  beforeAll(async () => {
    redis = await startRedis();
    dataDir = dir();
    coord = await startCoordinator({ dataDir, redis: redis.url, env: COORD_ENV });
    coordPort = Number(new URL(coord.url).port);
    await addWorker();
    await addWorker();
    emb = await startApp({ batchSize: 8, shardBatches: 1, workers: 1, intraOpThreads: 1 });
    queue = new Queue(SHARD_QUEUE, { connection: { host: '127.0.0.1', port: redis.port } });
    const texts = { toxic: textLines('toxic'), neutral: textLines('neutral') };
    for (const m of ['topo-gpt', 'topo-cnn']) {
      expect((await http('POST', '/v1/models', { path: m })).status).toBe(201);
      expect((await embPost('/v1/models', { path: m })).statusCode).toBe(201);
    }
    const sets: Json[] = [
      { name: 'toxic-48', texts: texts.toxic.slice(0, 48) },
      { name: 'neutral-48', texts: texts.neutral.slice(0, 48) },
      { name: 'toxic-many', texts: Array.from({ length: 200 }, (_, i) => `${texts.toxic[i % texts.toxic.length]} ${i}`) },
      { name: 'neutral-many', texts: Array.from({ length: 200 }, (_, i) => `${texts.neutral[i % texts.neutral.length]} ${i}`) },
      { path: 'images/faces' },
      { path: 'images/bodies' },
      { path: 'images/objects' },
    ];
    for (const s of sets) {
      expect((await http('POST', '/v1/stimulus-sets', s)).status).toBe(201);
      expect((await embPost('/v1/stimulus-sets', s)).statusCode).toBe(201);
    }
  }, 240_000);

  afterAll(async () => {
    await queue?.close();
    await stopAll();
    await emb?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }, 60_000);

  it('a text contrast gives the embedded t bit for bit, and the same kept activations; /health shows the queue', async () => {
    const h = await http('GET', '/health', undefined, null);
    expect(h.json.queue).toMatchObject({ mode: 'distributed', redis: 'ok', workers: 2 });
    const dj = await sameContrast({ model: 'topo-gpt', a: 'toxic-48', b: 'neutral-48', keepActivations: true }, async (d, e, l) => {
      for (const f of ['activations.npy', 'activations.rows.npy']) {
        const a = (await http('GET', `/v1/contrasts/${d}/layers/${l}/${f}`)).bytes;
        const b = (await embGet(`/v1/contrasts/${e}/layers/${l}/${f}`)).rawPayload;
        expect(a.equals(b), `${l}/${f}`).toBe(true);
      }
    });
    expect(dj.timings.shards).toBe(12);
    expect(dj.progress).toMatchObject({ done: 96, total: 96 });
    // The workers ran the pooled copy the embedded server ran, each built beside its cached model.
    expect(workerCaches.flatMap(pooledCopies).length).toBeGreaterThanOrEqual(1);
    // Finished: no pass or partial is left behind, and no shard waits in the queue.
    expect(fs.existsSync(path.join(dataDir, 'shards', dj.id))).toBe(false);
    await queueDrained();
  }, 180_000);

  it('a battery (images, one pass for three contrasts) gives the embedded results bit for bit', async () => {
    const payload = { model: 'topo-cnn', categories: ['faces', 'bodies', 'objects'] };
    const d = await http('POST', '/v1/batteries', payload);
    expect(d.status, JSON.stringify(d.json)).toBe(202);
    const e = (await embPost('/v1/batteries', payload)).json();
    for (let i = 0; i < 3; i++) {
      const dj = await waitDist(`/v1/contrasts/${d.json.contrasts[i].id}`);
      const ej = await waitEmb(`/v1/contrasts/${e.contrasts[i].id}`);
      expect(dj.state, String(dj.error)).toBe('succeeded');
      expect(ej.state).toBe('succeeded');
      expect(dj.timings.contrastsInPass).toBe(3);
      await compareLayers(dj.id, ej.id, dj.params.layers);
    }
  }, 180_000);

  it('a lesion evaluation (mean mode: a reference pass, then the evaluation) gives the embedded result bit for bit', async () => {
    const payload = { from: 'explicit', model: 'topo-gpt', units: { mlp2: [0, 1, 2, 3, 40, 41] }, sets: ['toxic-48', 'neutral-48'], mode: 'mean', reference: 'neutral-48', controls: { random: 2, spatial: 2, seed: 3 } };
    const d = await http('POST', '/v1/lesions', payload);
    expect(d.status, JSON.stringify(d.json)).toBe(202);
    const e = (await embPost('/v1/lesions', payload)).json();
    const dj = await waitDist(`/v1/lesions/${d.json.id}`);
    const ej = await waitEmb(`/v1/lesions/${e.id}`);
    expect(dj.state, String(dj.error)).toBe('succeeded');
    expect(dj.results).toEqual(ej.results);
    for (const measure of ['ceSum', 'tokens']) {
      const a = (await http('GET', `/v1/lesions/${dj.id}/values.npy?measure=${measure}`)).bytes;
      const b = (await embGet(`/v1/lesions/${ej.id}/values.npy?measure=${measure}`)).rawPayload;
      expect(a.equals(b), measure).toBe(true);
    }
  }, 180_000);

  it('top stimuli (heaps per shard, then the per-token re-run) and profiles (split-half rows, independent region means) give the embedded results', async () => {
    const region = { kind: 'units', layer: 'mlp0', units: [1, 2, 3, 40] };
    const jobs: [string, Json][] = [
      ['/v1/top-stimuli', { model: 'topo-gpt', region, sets: ['toxic-48', 'neutral-48'], k: 5, bottomK: 3, quantiles: 3, perQuantile: 2, perUnit: true }],
      ['/v1/profiles', { model: 'topo-gpt', localizer: { a: 'toxic-48', b: 'neutral-48', layers: ['mlp0'], percent: 2 }, measure: ['toxic-48', 'neutral-48'], splits: 2, resamples: 200, seed: 3 }],
      ['/v1/profiles', { model: 'topo-gpt', region, measure: ['toxic-48', 'neutral-48'], resamples: 200 }],
    ];
    for (const [url, payload] of jobs) {
      const d = await http('POST', url, payload);
      expect(d.status, JSON.stringify(d.json)).toBe(202);
      const e = (await embPost(url, payload)).json();
      const dj = await waitDist(`${url}/${d.json.id}`);
      const ej = await waitEmb(`${url}/${e.id}`);
      expect(dj.state, String(dj.error)).toBe('succeeded');
      expect(dj.result, url).toEqual(ej.result);
    }
  }, 180_000);

  it('a worker killed with SIGKILL mid-shard: the stalled shard goes to the other worker and the result is identical', async () => {
    const payload = { model: 'topo-gpt', a: 'toxic-many', b: 'neutral-many', layers: ['mlp0', 'mlp3'] };
    const ids = { d: (await http('POST', '/v1/contrasts', payload)).json.id as string, e: (await embPost('/v1/contrasts', payload)).json().id as string };
    // A shard that a worker holds right now (BullMQ records which worker took it).
    const victim = await (async () => {
      for (;;) {
        for (const j of await queue.getActive()) {
          const w = workers.find((p) => j.processedBy?.endsWith(`:${p.pid}`));
          if (w) return w;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await victim.kill('SIGKILL');
    workers.splice(workers.indexOf(victim), 1);
    const dj = await finishSame(ids, ['mlp0', 'mlp3']);
    expect(dj.progress).toMatchObject({ done: 400, total: 400 });
    await addWorker();
  }, 240_000);

  it('Redis restarted mid-job (no persistence: the queue is lost) — the coordinator enqueues the missing shards again; identical result', async () => {
    const ids = await startedOnBoth(['mlp1']);
    await redis.proc.kill('SIGKILL');
    redis = await startRedis(redis.port);
    await finishSame(ids, ['mlp1']);
    expect(coord.proc.output).toMatch(/shards are gone from Redis/);
  }, 240_000);

  it('the coordinator killed mid-job: at restart the job resumes with the partials it had stored; identical result', async () => {
    const ids = await startedOnBoth(['mlp2']);
    await coord.proc.kill('SIGKILL');
    coord = await startCoordinator({ dataDir, redis: redis.url, port: coordPort, env: COORD_ENV });
    const m = await coord.proc.waitFor(/resuming with (\d+) of (\d+) shards already received/);
    expect(Number(m[1])).toBeGreaterThan(0);
    expect(Number(m[1])).toBeLessThan(Number(m[2]));
    await finishSame(ids, ['mlp2']);
  }, 240_000);

  it('cancel removes the waiting shards and stops the running ones; the workers take the next job', async () => {
    const d = (await http('POST', '/v1/contrasts', { model: 'topo-gpt', a: 'toxic-many', b: 'neutral-many' })).json.id as string;
    while (!((await http('GET', `/v1/contrasts/${d}`)).json.progress.done > 0)) await new Promise((r) => setTimeout(r, 20));
    const c = await http('DELETE', `/v1/contrasts/${d}`);
    expect(c.status).toBe(200);
    expect(c.json.state).toBe('cancelled');
    await queueDrained();
    expect(fs.existsSync(path.join(dataDir, 'shards', d))).toBe(false);
    const after = (await http('GET', `/v1/contrasts/${d}`)).json;
    expect(after.state).toBe('cancelled');
    expect(after.layers).toEqual([]);
    await sameContrast({ model: 'topo-gpt', a: 'toxic-48', b: 'neutral-48', layers: ['mlp2'] });
  }, 180_000);

  it('a shard that fails on every attempt (weights no worker can load) fails the job with the worker\'s reason', async () => {
    // Cut the pruned copy's external weights: the coordinator serves them as they are, the sessions fail.
    const model = (await http('GET', '/v1/models/topo-cnn')).json;
    fs.truncateSync(path.join(dataDir, 'models', model.hash, 'exposed.onnx.data'), 16);
    const d = await http('POST', '/v1/contrasts', { model: 'topo-cnn', a: 'faces', b: 'objects' });
    const dj = await waitDist(`/v1/contrasts/${d.json.id}`);
    expect(dj.state).toBe('failed');
    expect(dj.error).toMatch(/distributed pass 'main': shard \d+ failed on every attempt: .+/);
    await queueDrained();
  }, 120_000);

  it('the worker routes need the API key, reads included', async () => {
    const hash = 'a'.repeat(64);
    for (const [m, u] of [
      ['GET', '/v1/passes/x.main'],
      ['GET', '/v1/passes/x.main/shards/0'],
      ['GET', `/v1/blobs/${hash}`],
      ['PUT', '/v1/shards/x.main/0'],
    ] as const) {
      expect((await http(m, u, undefined, null)).status, `${m} ${u}`).toBe(401);
      expect((await http(m, u, undefined, 'wrong')).status, `${m} ${u}`).toBe(401);
    }
    expect((await http('GET', '/v1/passes/x.main')).status).toBe(404);
    expect((await http('GET', `/v1/blobs/${hash}`)).status).toBe(404);
    const put = await fetch(`${coord.url}/v1/shards/x.main/0`, { method: 'PUT', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream', 'x-toposcope-plan': 'b'.repeat(64) }, body: new Uint8Array(16) });
    expect(put.status).toBe(409);
  }, 60_000);
});
