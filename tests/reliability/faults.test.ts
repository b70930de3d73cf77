/**
 * Faults with real server processes: a second server on a data directory that one is using (it must
 * refuse before touching the running job), and kill -9 in the middle of an upload (start-up must clear
 * what was left behind, and the database must be intact).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TestServer } from './support/server.ts';
import { API_KEY, makeSmallWorld, serverConfig, type World } from './support/world.ts';

const AUTH = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function world(): Promise<World> {
  const w = await makeSmallWorld();
  cleanup.push(() => fs.rmSync(w.dataDir, { recursive: true, force: true }));
  return w;
}

async function server(w: World): Promise<TestServer> {
  const s = await TestServer.start(serverConfig(w.dataDir));
  cleanup.push(() => s.stop());
  return s;
}

async function json(s: TestServer, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await s.send({ method, path: p, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) }, 30_000);
  if (r.kind !== 'response') throw new Error(`${method} ${p}: ${TestServer.describe(r)}`);
  return JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
}

async function until<T>(what: string, f: () => Promise<T | null>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('one owner per data directory', () => {
  it('a second server on the same directory refuses, naming the directory and the owner pid, and the running job runs once', async () => {
    const w = await world();
    const a = await server(w);
    const c = await json(a, 'POST', '/v1/contrasts', { model: 'topo-cnn', a: 'faces', b: 'objects', analysis: { permutations: { n: 2000 } } });
    const id = c.id as string;
    await until('the job to run', async () => ((await json(a, 'GET', `/v1/contrasts/${id}`)).state === 'running' ? true : null));

    let refusal = '';
    try {
      const b = await TestServer.start(serverConfig(w.dataDir));
      await b.stop();
    } catch (e) {
      refusal = (e as Error).message;
    }
    expect.soft(refusal).toContain(fs.realpathSync(w.dataDir));
    expect.soft(refusal).toContain(`pid ${a.pid}`);

    const done = await until('the job to finish', async () => {
      const j = await json(a, 'GET', `/v1/contrasts/${id}`);
      return j.state === 'queued' || j.state === 'running' ? null : j;
    });
    expect(done).toMatchObject({ state: 'succeeded', attempts: 1 });
  });
});

describe('kill -9 mid-upload', () => {
  it('start-up clears the orphaned upload, *.tmp blobs and unreferenced blobs; the database is intact', async () => {
    const w = await world();
    const a = await server(w);
    const tmp = path.join(w.dataDir, 'tmp');
    const boundary = 'toposcope-fault';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="model.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    // A request that announces 900 KB and sends a third of it, then waits.
    const req = http.request(`${a.base}/v1/models/upload`, {
      method: 'POST',
      headers: { authorization: AUTH.authorization, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(900 * 1024) },
    });
    req.on('error', () => {});
    req.write(Buffer.concat([head, Buffer.alloc(300 * 1024, 1)]));
    await until('the upload to be staged', async () => (fs.readdirSync(tmp).some((f) => f.startsWith('upload-')) ? true : null), 30_000);
    process.kill(a.pid, 'SIGKILL');
    req.destroy();

    // What other crashes leave: a blob written but not renamed, and a blob no item refers to.
    const stimuli = path.join(w.dataDir, 'stimuli');
    const blobs = () => fs.readdirSync(stimuli, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name)).sort();
    const kept = blobs();
    fs.mkdirSync(path.join(stimuli, 'zz'), { recursive: true });
    fs.writeFileSync(path.join(stimuli, 'zz', `${'f'.repeat(64)}.png.4242.tmp`), 'partial');
    fs.writeFileSync(path.join(stimuli, 'zz', `${'e'.repeat(64)}.png`), 'never committed');
    // And a model file written but not renamed (a pooled copy, say) beside a model's files.
    const models = path.join(w.dataDir, 'models');
    const modelDirs = fs.readdirSync(models).map((d) => path.join(models, d));
    expect(modelDirs.length).toBeGreaterThan(0);
    const modelFiles = () => modelDirs.flatMap((d) => fs.readdirSync(d).map((f) => path.join(d, f))).sort();
    const keptModelFiles = modelFiles();
    fs.writeFileSync(path.join(modelDirs[0], 'exposed.pool-0123456789abcdef.onnx.4242.1a2b3c4d.tmp'), 'partial');

    await a.restart('kill -9 mid-upload', 'restart');
    expect(await a.healthy()).toBe(true);
    expect.soft(fs.readdirSync(tmp)).toEqual([]);
    expect.soft(blobs()).toEqual(kept);
    expect.soft(modelFiles()).toEqual(keptModelFiles);
    await a.stop();
    const db = new Database(path.join(w.dataDir, 'toposcope.sqlite'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });
});
