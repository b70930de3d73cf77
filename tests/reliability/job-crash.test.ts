/**
 * A native crash inside a job's `session.run` fails that job, not the server: the contrast runs on a
 * real server process whose registered model's stored file has been replaced by a graph that loads
 * and then crashes ONNX Runtime (SIGSEGV) on every run (tests/data/onnx/range-crash-at-run.onnx, see
 * scripts/fixtures/make_range_model.py). The job fails with a message naming the model, the batch and
 * the layer; the same server process answers /health; with the file restored the next job succeeds.
 *
 * The substitute graph crashes when its Range output is fetched as the layer itself, so the crash case
 * runs with pooling in JavaScript (TOPOSCOPE_POOL_IN_GRAPH=0). With the default pooled copy the Range
 * output is pooled inside the graph instead: no crash, and the job fails naming the layer's shape.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';
import { tempDir } from '../support/env.ts';
import { TestServer } from './support/server.ts';

const ONNX_DATA = path.join(PROJECT_ROOT, 'tests', 'data', 'onnx');
const CRASHING = path.join(ONNX_DATA, 'range-crash-at-run.onnx');

function findFile(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findFile(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

for (const poolInGraph of [false, true]) describe(`a job whose stored model no longer computes its registration (pooling in ${poolInGraph ? 'the graph' : 'JavaScript'})`, () => {
  const dataDir = tempDir('toposcope-job-crash-');
  let server: TestServer;

  beforeAll(async () => {
    server = await TestServer.start({ dataDir, registerFixtures: false, modelsRoots: [ONNX_DATA], workers: 1, intraOpThreads: 1, batchSize: 4, poolInGraph });
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function json(method: string, p: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await server.send({ method, path: p, ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) }, 30_000);
    if (r.kind !== 'response') throw new Error(`${method} ${p}: ${TestServer.describe(r)}`);
    return { status: r.status, body: JSON.parse(r.body.toString('utf8')) as Record<string, unknown> };
  }

  async function contrastUntilDone(): Promise<Record<string, unknown>> {
    const post = await json('POST', '/v1/contrasts', { model: 'range-positions', a: 'greetings', b: 'animals' });
    expect(post.status).toBe(202);
    for (;;) {
      const r = await json('GET', `/v1/contrasts/${String(post.body.id)}`);
      if (r.body.state !== 'queued' && r.body.state !== 'running') return r.body;
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  it(poolInGraph ? 'fails the contrast naming the layer and its shape; the next contrast succeeds' : 'a crash of ONNX Runtime fails the contrast naming model, batch and layer; the server stays up; the next contrast succeeds', async () => {
    expect((await json('POST', '/v1/models', { path: path.join(ONNX_DATA, 'range-positions') })).status).toBe(201);
    const greetings = ['hello there', 'good morning to you', 'hello you', 'good morning', 'hello there you', 'good morning there', 'hello hello', 'morning to you'];
    const animals = ['the quick brown fox', 'the lazy dog', 'a cat sat on the mat', 'the dog and the cat', 'a fox is quick', 'the cat is lazy', 'a brown dog', 'the fox jumps over the dog'];
    expect((await json('POST', '/v1/stimulus-sets', { name: 'greetings', texts: greetings })).status).toBe(201);
    expect((await json('POST', '/v1/stimulus-sets', { name: 'animals', texts: animals })).status).toBe(201);
    const stored = findFile(dataDir, 'exposed.onnx');
    expect(stored).toHaveLength(1);
    const original = fs.readFileSync(stored[0]);
    const pid = server.pid;

    fs.copyFileSync(CRASHING, stored[0]);
    const failed = await contrastUntilDone();
    expect(failed.state).toBe('failed');
    if (poolInGraph) {
      expect(String(failed.error)).toMatch(/^layer 'mlp' \(tensor '\/mlp\/act\/Relu_output_0'\) gave 2 units per sample on batch 1 of 4, but it was registered with 16 \(unit axis 2\): its pooled output in the graph has shape \[4, 2\]\. .*register it again$/);
    } else {
      expect(String(failed.error)).toMatch(/^ONNX Runtime crashed on model 'range-positions' while running batch 1 of 4 \(layer mlp\) \(step 'pool'\): its child process ended with SIGSEGV$/);
    }
    expect(await server.healthy()).toBe(true);
    expect(server.pid).toBe(pid);

    fs.writeFileSync(stored[0], original);
    const ok = await contrastUntilDone();
    expect(ok.state, String(ok.error)).toBe('succeeded');
    expect(server.pid).toBe(pid);
    expect(server.events).toEqual([]);
  });
});
