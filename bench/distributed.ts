/**
 * The distributed part of `npm run bench` (`--only distributed`): the GPT-2-sized contrast (all 12 MLP
 * layers) run by an embedded server with one ORT thread, then by a coordinator with 1 and with 2
 * `toposcope worker` processes of one ORT thread each, all real processes on this machine (redis-server
 * without persistence, loopback HTTP). Reports wall times, the speed-up from 1 to 2 workers, the
 * distributed / embedded ratio at equal threads, and what each shard costs: its inference time, its
 * partial's bytes and its work document's bytes (the inputs of the throughput model in docs/scale-out.md).
 *
 *   node --import tsx bench/distributed.ts --model <folder> --texts N --json <out.json>
 *
 * Each server runs a warm-up contrast first, so every timed run has its model registered, its files
 * in the workers' caches and the workers' sessions loaded; the embedded server loads its session in
 * every job (reported apart as start-up).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../src/config.ts';
import { freePort, startCoordinator, startRedis, startWorker, stopAll, type Proc } from '../tests/support/cluster.ts';

const { values: args } = parseArgs({
  options: { model: { type: 'string' }, texts: { type: 'string', default: '256' }, json: { type: 'string' }, 'shard-batches': { type: 'string', default: '2' } },
  strict: true,
});
if (!args.model) throw new Error('--model <folder of the GPT-2-sized model> is required');
const TEXTS = Number(args.texts);
const SHARD_BATCHES = Number(args['shard-batches']);
const SAME = { TOPOSCOPE_WORKERS: '1', TOPOSCOPE_ORT_THREADS: '1', TOPOSCOPE_BATCH_SIZE: '32', TOPOSCOPE_SHARD_BATCHES: String(SHARD_BATCHES), TOPOSCOPE_MODELS_ROOTS: path.dirname(path.resolve(args.model)) };
const s = (ms: number) => (ms / 1000).toFixed(2);

type Json = Record<string, any>;

async function api(base: string, method: string, url: string, body?: unknown): Promise<Json> {
  const r = await fetch(base + url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const j = (await r.json()) as Json;
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

function cycled(file: string, n: number, tag: string): string[] {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return Array.from({ length: n }, (_, i) => (i < lines.length ? lines[i] : `${lines[i % lines.length]} (${tag} ${i})`));
}

async function prepare(base: string): Promise<void> {
  await api(base, 'POST', '/v1/models', { path: path.basename(path.resolve(args.model!)) });
  const txt = path.join(PROJECT_ROOT, 'fixtures', 'stimuli', 'text');
  await api(base, 'POST', '/v1/stimulus-sets', { name: 'bench-a', texts: cycled(path.join(txt, 'toxic.txt'), TEXTS, 'a') });
  await api(base, 'POST', '/v1/stimulus-sets', { name: 'bench-b', texts: cycled(path.join(txt, 'neutral.txt'), TEXTS, 'b') });
  await api(base, 'POST', '/v1/stimulus-sets', { name: 'warm-a', texts: cycled(path.join(txt, 'toxic.txt'), 32, 'w') });
  await api(base, 'POST', '/v1/stimulus-sets', { name: 'warm-b', texts: cycled(path.join(txt, 'neutral.txt'), 32, 'w') });
}

/** Bytes of the pass document and of shard 0's work document, read while the pass runs. */
async function documents(base: string, pass: string): Promise<{ passBytes: number; shardBytes: number; modelBytes: number } | null> {
  for (let i = 0; i < 2000; i++) {
    const p = await fetch(`${base}/v1/passes/${pass}`);
    if (p.ok) {
      const doc = await p.text();
      const shard = await (await fetch(`${base}/v1/passes/${pass}/shards/0`)).text();
      return { passBytes: doc.length, shardBytes: shard.length, modelBytes: (JSON.parse(doc) as { files: { bytes: number }[] }).files.reduce((n, f) => n + f.bytes, 0) };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** One contrast, from POST to succeeded; wall time and the job's timings. */
async function contrast(base: string, a: string, b: string, docs = false): Promise<{ wallMs: number; timings: Json; t: Json; docs: Awaited<ReturnType<typeof documents>> }> {
  const model = (await api(base, 'GET', '/v1/models')).items[0].id;
  const t0 = performance.now();
  const job = await api(base, 'POST', '/v1/contrasts', { model, a, b });
  const sizes = docs ? documents(base, `${job.id}.main`) : Promise.resolve(null);
  for (;;) {
    const j = await api(base, 'GET', `/v1/contrasts/${job.id}`);
    if (j.state === 'succeeded') {
      const wallMs = performance.now() - t0;
      const first = j.params.layers[0];
      return { wallMs, timings: j.timings, t: await api(base, 'GET', `/v1/contrasts/${job.id}/layers/${first}`), docs: await sizes };
    }
    if (j.state !== 'queued' && j.state !== 'running') throw new Error(`contrast ${j.state}: ${j.error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-bench-dist-'));
    dirs.push(d);
    return d;
  };
  const loads: number[] = [os.loadavg()[0]];
  const sampler = setInterval(() => loads.push(os.loadavg()[0]), 5000);
  try {
    console.log(`  ${TEXTS} + ${TEXTS} texts, batch 32, ${SHARD_BATCHES} batches per shard, 1 ORT thread per session`);
    // Embedded, one session worker of one thread.
    const emb = await startCoordinator({ dataDir: tmp(), env: SAME });
    await prepare(emb.url);
    await contrast(emb.url, 'warm-a', 'warm-b');
    const e = await contrast(emb.url, 'bench-a', 'bench-b');
    console.log(`  embedded (1 × 1 thread): ${s(e.wallMs)} s (session start-up ${s(e.timings.setupMs)} s, inference loop ${s(e.timings.inferenceWallMs)} s, stats ${s(e.timings.statsMs)} s)`);
    await emb.proc.kill('SIGTERM');

    const redis = await startRedis();
    const coord = await startCoordinator({ dataDir: tmp(), redis: redis.url, port: await freePort(), env: SAME });
    await prepare(coord.url);
    const workers: Proc[] = [];
    for (let i = 0; i < 2; i++) workers.push(await startWorker({ redis: redis.url, api: coord.url, cache: tmp(), threads: 1 }));
    // Warm-up: both workers fetch the model and load their sessions.
    await contrast(coord.url, 'warm-a', 'warm-b');
    await contrast(coord.url, 'warm-a', 'warm-b');
    const two = await contrast(coord.url, 'bench-a', 'bench-b');
    await workers[1].kill('SIGTERM');
    const one = await contrast(coord.url, 'bench-a', 'bench-b', true);
    const shards = one.timings.shards as number;
    const identical = JSON.stringify(one.t.t) === JSON.stringify(e.t.t) && JSON.stringify(two.t.t) === JSON.stringify(e.t.t);
    console.log(`  distributed, 1 worker × 1 thread: ${s(one.wallMs)} s; 2 workers × 1 thread: ${s(two.wallMs)} s (${shards} shards, ${(one.timings.partialBytes / shards / 1024).toFixed(0)} KiB per partial)`);
    console.log(`  speed-up 1 → 2 workers ${(one.wallMs / two.wallMs).toFixed(2)}×; distributed (1 worker) / embedded ${(one.wallMs / e.wallMs).toFixed(2)}×; t identical to the embedded run: ${identical}`);
    const perShardMs = one.timings.inferenceMs / shards;
    const d = one.docs;
    console.log(`  per shard: ${s(perShardMs)} s of session.run, work document ${d ? (d.shardBytes / 1024).toFixed(0) : '?'} KiB out, partial ${(one.timings.partialBytes / shards / 1024).toFixed(0)} KiB back; model files ${d ? (d.modelBytes / 1e6).toFixed(0) : '?'} MB once per worker`);
    console.log(`  load average during the run ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (the machine is shared)`);
    const result = {
      date: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGB: +(os.totalmem() / 2 ** 30).toFixed(1) },
      loadavg: loads,
      config: { texts: TEXTS, batchSize: 32, shardBatches: SHARD_BATCHES, ortThreads: 1 },
      embedded: { wallMs: e.wallMs, timings: e.timings },
      oneWorker: { wallMs: one.wallMs, timings: one.timings },
      twoWorkers: { wallMs: two.wallMs, timings: two.timings },
      speedup: one.wallMs / two.wallMs,
      overhead: one.wallMs / e.wallMs,
      perShard: { inferenceMs: perShardMs, partialBytes: one.timings.partialBytes / shards, stimuli: (2 * TEXTS) / shards, workDocumentBytes: d?.shardBytes ?? null },
      passDocumentBytes: d?.passBytes ?? null,
      modelBytes: d?.modelBytes ?? null,
      identicalT: identical,
    };
    if (args.json) {
      fs.mkdirSync(path.dirname(args.json), { recursive: true });
      fs.writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
      console.log(`  wrote ${path.relative(PROJECT_ROOT, args.json)}`);
    }
  } finally {
    clearInterval(sampler);
    await stopAll();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

main().catch(async (e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  await stopAll();
  process.exit(1);
});
