/**
 * Session pools kept between passes (src/pipeline/warm-pools.ts) and requests queued two deep in a
 * session's child process (src/inference/pool.ts), on the real topo-cnn model in real child processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/inference/pool.ts';
import { WarmPools } from '../../src/pipeline/warm-pools.ts';
import type { FeedSpec } from '../../src/inference/worker-protocol.ts';
import { MODELS, tempDir } from '../support/env.ts';

const MODEL = path.join(MODELS, 'topo-cnn', 'model.onnx');
const OPTS = { workers: 1, intraOpThreads: 1 };

function images(n: number, seed = 1): Record<string, FeedSpec> {
  const data = new Float32Array(n * 3 * 64 * 64);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + seed);
  return { input: { type: 'float32', dims: [n, 3, 64, 64], data: data.buffer as ArrayBuffer } };
}

/** The pool answers: a probe of a one-image batch returns the output's shape. */
async function answers(pool: SessionPool): Promise<number[]> {
  const [shape] = await pool.probe(images(1), [pool.outputNames[0]]);
  return shape.dims;
}

const closedMessage = /session pool is closed/;

describe('WarmPools', () => {
  const dir = tempDir('toposcope-warm-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('hands a released pool to the next pass on the same file and options, and starts one for other options', async () => {
    const pools = new WarmPools(60_000);
    const a = await pools.acquire(MODEL, OPTS);
    expect(a.reused).toBe(false);
    await answers(a.pool);
    await pools.release(a.key, a.pool, true);
    expect(pools.waiting).toBe(1);
    const b = await pools.acquire(MODEL, OPTS);
    expect(b.reused).toBe(true);
    expect(b.pool).toBe(a.pool);
    expect((await answers(b.pool))[0]).toBe(1);
    await pools.release(b.key, b.pool, true);
    // Other options: the waiting pool is closed first (never two models' sessions at once), a new one starts.
    const c = await pools.acquire(MODEL, { workers: 1, intraOpThreads: 2 });
    expect(c.reused).toBe(false);
    expect(pools.waiting).toBe(0);
    await expect(a.pool.probe(images(1), [a.pool.outputNames[0]])).rejects.toThrow(closedMessage);
    await pools.release(c.key, c.pool, true);
    await pools.close();
    await expect(answers(c.pool)).rejects.toThrow(closedMessage);
    expect(pools.stats).toEqual({ reused: 1, started: 2, closed: 2 });
  });

  it('closes a pool handed back unhealthy, and keeps none once closed or with keeping off', async () => {
    const pools = new WarmPools(60_000);
    const a = await pools.acquire(MODEL, OPTS);
    await pools.release(a.key, a.pool, false);
    expect(pools.waiting).toBe(0);
    await expect(answers(a.pool)).rejects.toThrow(closedMessage);

    const off = new WarmPools(0);
    const b = await off.acquire(MODEL, OPTS);
    await off.release(b.key, b.pool, true);
    expect(off.waiting).toBe(0);
    await expect(answers(b.pool)).rejects.toThrow(closedMessage);

    await pools.close();
    const c = await pools.acquire(MODEL, OPTS);
    await pools.release(c.key, c.pool, true);
    expect(pools.waiting).toBe(0);
    await expect(answers(c.pool)).rejects.toThrow(closedMessage);
  });

  it('closes a waiting pool after the idle time', async () => {
    const pools = new WarmPools(300);
    const a = await pools.acquire(MODEL, OPTS);
    await pools.release(a.key, a.pool, true);
    expect(pools.waiting).toBe(1);
    await new Promise((r) => setTimeout(r, 900));
    expect(pools.waiting).toBe(0);
    await expect(answers(a.pool)).rejects.toThrow(closedMessage);
    await pools.close();
  });

  it('does not reuse a pool across a change of the model file (a new file is a new key)', async () => {
    const copy = path.join(dir, 'model.onnx');
    fs.copyFileSync(MODEL, copy);
    const pools = new WarmPools(60_000);
    const a = await pools.acquire(copy, OPTS);
    await pools.release(a.key, a.pool, true);
    fs.rmSync(copy);
    fs.copyFileSync(MODEL, copy); // same bytes, another file
    const b = await pools.acquire(copy, OPTS);
    expect(b.reused).toBe(false);
    await answers(b.pool);
    await pools.release(b.key, b.pool, true);
    await pools.close();
  });
});

describe('SessionPool: requests queued in the session process', () => {
  it('answers every one of many concurrent requests with its own result, in a process session two deep', async () => {
    const pool = await SessionPool.create(MODEL, { workers: 1, intraOpThreads: 1 });
    try {
      const sizes = [3, 1, 4, 1, 5, 9, 2, 6];
      const out = pool.outputNames[0];
      const shapes = await Promise.all(sizes.map((n, k) => pool.probe(images(n, k), [out])));
      expect(shapes.map((s) => s[0].dims[0])).toEqual(sizes);
    } finally {
      await pool.close();
    }
  });
});
