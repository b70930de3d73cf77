/**
 * Property-based fuzzing of every operation in openapi/openapi.json against a real server process:
 * random path parameters, query strings and bodies (schema-shaped with wrong parts, arbitrary JSON,
 * raw junk, broken multipart). Per request: never a 5xx, never a hang past the deadline, 4xx in the
 * error shape. Afterwards: SQLite's integrity_check is ok and a contrast and its model stored before
 * the fuzzing answer byte for byte as before.
 *
 * Seeded: FUZZ_SEED=<n> replays a run (the seed is printed); FUZZ_RUNS sets the number of requests.
 * Accepted contrasts and batteries are cancelled at once, so that success paths stay cheap.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestsFor, type Pools } from './support/arbitraries.ts';
import { BLOBS, prepareBlobs } from './support/images.ts';
import { operations, type Operation } from './support/openapi.ts';
import { TestServer, type HttpOutcome, type HttpRequest } from './support/server.ts';
import { API_KEY, LIMITS, makeWorld, RANGE_ROOT, serverConfig, type World } from './support/world.ts';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2147483647);
const TOTAL = Number(process.env.FUZZ_RUNS ?? 2200);
const DEADLINE_MS = 5000;

// Deletions last, so that the other operations still find the things they would delete.
const OPS = [...operations().filter((o) => o.method !== 'DELETE'), ...operations().filter((o) => o.method === 'DELETE')];
/** Operations with a body or a query string get more requests. */
const weight = (o: Operation) => (o.op.requestBody ? 3 : (o.op.parameters ?? []).some((p) => p.in === 'query') ? 2 : 1);
const totalWeight = OPS.reduce((s, o) => s + weight(o), 0);
const runsOf = (o: Operation) => Math.ceil((TOTAL * weight(o)) / totalWeight);

interface Failure {
  op: string;
  what: string;
  request: HttpRequest;
  log: string[];
}

let world: World;
let server: TestServer;
let pools: Pools;
let before: Map<string, Buffer>;
let sent = 0;
const failures: Failure[] = [];

/** What must not change: the contrast, every layer document and map, and the model. */
async function snapshot(): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const get = async (p: string) => {
    const r = await server.send({ method: 'GET', path: p }, 30_000);
    if (r.kind !== 'response' || r.status !== 200) throw new Error(`snapshot ${p}: ${TestServer.describe(r)}`);
    out.set(p, r.body);
  };
  const c = `/v1/contrasts/${world.ids.contrast}`;
  await get(c);
  await get(`/v1/models/${world.ids.imgModel}`);
  for (const layer of ['conv3', 'conv4']) {
    await get(`${c}/layers/${layer}`);
    await get(`${c}/layers/${layer}/clusters`);
    await get(`${c}/layers/${layer}/activations.npy`);
    for (const stat of ['t', 'd', 'log10p', 'q']) await get(`${c}/layers/${layer}/map.npy?stat=${stat}`);
  }
  return out;
}

function problemOf(o: HttpOutcome): string | null {
  if (o.kind !== 'response') return TestServer.describe(o);
  if (o.status >= 500) return `${o.status} ${o.body.toString('utf8').slice(0, 120)}`;
  if (o.status >= 400) {
    try {
      const b = JSON.parse(o.body.toString('utf8')) as Record<string, unknown>;
      if (b.statusCode !== o.status || typeof b.code !== 'string' || typeof b.message !== 'string') return `${o.status} not in the error shape: ${o.body.toString('utf8').slice(0, 120)}`;
    } catch {
      return `${o.status} with a body that is not JSON: ${o.body.toString('utf8').slice(0, 120)}`;
    }
  }
  return null;
}

/** Sends, records a problem, restarts a dead or hung server. Returns the outcome. */
async function exchange(op: string, req: HttpRequest): Promise<HttpOutcome> {
  server.takeLoggedErrors();
  const o = await server.send(req, DEADLINE_MS);
  const problem = problemOf(o);
  if (problem) failures.push({ op, what: problem, request: req, log: server.takeLoggedErrors() });
  if (o.kind !== 'response') await server.restart(`${req.method} ${req.path.slice(0, 200)}`, problem!);
  return o;
}

/** Accepted jobs are cancelled straight away: the fuzzer checks admission, not analysis. */
async function cancelAccepted(o: HttpOutcome): Promise<void> {
  if (o.kind !== 'response' || o.status !== 202) return;
  const loc = o.headers.get('location');
  if (!loc) return;
  await exchange('cancel', { method: 'DELETE', path: loc, headers: { authorization: `Bearer ${API_KEY}` } });
}

beforeAll(async () => {
  process.stdout.write(`fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays this run), ${TOTAL} requests over ${OPS.length} operations\n`);
  await prepareBlobs(LIMITS.maxUploadBytes, path.join(RANGE_ROOT, 'range-positions'));
  world = await makeWorld();
  const ids = world.ids;
  pools = {
    models: [ids.imgModel, 'topo-cnn', ids.textModel, 'topo-gpt', ids.rangeModel, 'flat-cnn', '0000000000000000'],
    sets: [ids.tinyA, 'tiny-faces', ids.tinyB, 'tiny-objects', 'neutral', ids.single, 'nonwords', 'faces'],
    // The succeeded contrast twice: most layer routes do real work only for it.
    contrasts: [ids.contrast, ids.contrast, ids.cancelled, 'c_0000000000000000'],
    masks: [ids.mask, 'm_0000000000000000'],
    comparisons: [ids.comparison],
    batteries: [ids.battery],
    layers: ['conv3', 'conv4', 'conv4', 'mlp0', 'nope'],
    paths: ['topo-cnn', 'range-positions', 'images/faces', 'text/neutral.txt', 'images', '../../etc', '/etc/passwd', 'nope'],
    protected: [ids.contrast, ids.imgModel, 'topo-cnn'],
    apiKey: API_KEY,
    png: BLOBS.goodPng,
  };
  server = await TestServer.start(serverConfig(world.dataDir));
  before = await snapshot();
});

afterAll(async () => {
  await server?.stop();
  if (world) fs.rmSync(world.dataDir, { recursive: true, force: true });
  if (failures.length) {
    // One line per distinct (operation, problem); the first request that showed it.
    const seen = new Map<string, Failure & { n: number }>();
    for (const f of failures) {
      const key = `${f.op} | ${f.what.replace(/\d+ ms/, 'N ms').slice(0, 80)}`;
      const s = seen.get(key);
      if (s) s.n++;
      else seen.set(key, { ...f, n: 1 });
    }
    const lines = [...seen.values()].map(
      (f) =>
        `  - ${f.op}: ${f.what} (${f.n}×)\n      e.g. ${f.request.method} ${f.request.path.slice(0, 160)}` +
        `${f.request.body !== undefined ? ` body ${JSON.stringify(f.request.body.toString().slice(0, 160))}` : ''}${f.log.length ? `\n      server log: ${f.log.join('; ').slice(0, 200)}` : ''}`,
    );
    process.stdout.write(`\nfuzz (seed ${SEED}): ${failures.length} failing requests, ${seen.size} distinct\n${lines.join('\n')}\n`);
  }
});

describe(`fuzzing every operation (seed ${SEED})`, () => {
  OPS.forEach((op, i) => {
    const name = `${op.method} ${op.template}`;
    it(`${name}: never a 5xx, never a hang`, async () => {
      const requests = fc.sample(requestsFor(op, pools), { seed: SEED + i, numRuns: runsOf(op) });
      let hung = false;
      for (const req of requests) {
        const o = await exchange(name, req);
        sent++;
        await cancelAccepted(o);
        // One hang or crash per operation is enough to report; each costs a restart.
        if (o.kind !== 'response') {
          hung = true;
          break;
        }
      }
      const mine = failures.filter((f) => f.op === name);
      expect(mine.map((f) => `${f.what} ← ${f.request.method} ${f.request.path.slice(0, 120)}`), `seed ${SEED}${hung ? '; stopped after a hang or crash' : ''}`).toEqual([]);
    });
  });

  it(`sent at least 2000 requests; the database is intact and earlier results are byte-identical`, async () => {
    expect(sent).toBeGreaterThanOrEqual(Math.min(2000, TOTAL));
    await server.send({ method: 'GET', path: '/health' });
    const after = await snapshot();
    for (const [p, bytes] of before) expect(after.get(p)?.equals(bytes), p).toBe(true);
    await server.stop();
    const db = new Database(path.join(world.dataDir, 'toposcope.sqlite'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    } finally {
      db.close();
    }
  });
});
