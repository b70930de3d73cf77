/**
 * `npm run bench -- --only topk`: top stimuli of a region of the GPT-2-sized model over a corpus of
 * texts (issue 10): the whole job as the queue runs it (one streaming pass with top-k heaps, then the
 * per-token re-run of the examples, stored) against bare ONNX Runtime on the same batches, and its
 * peak RSS at the smaller against the larger corpus (memory must stay flat).
 *
 * bench/run.ts calls {@link topkPart}; each measured step runs this file in a fresh child process,
 *
 *   node --import tsx bench/topk.ts <spec.json>     (writes the result to spec.out)
 *
 * so that each step's peak RSS (`process.resourceUsage().maxRSS`, which never goes down) is its own.
 * The corpus is fixtures/stimuli/text/corpus.txt cycled to the wanted length, in file order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type * as ConfigMod from '../src/config.ts';
import type * as ServiceMod from '../src/usecases/service.ts';
import type * as EncodingMod from '../src/usecases/encoding.ts';
import type * as SetsMod from '../src/usecases/stimulus-sets.ts';
import type * as SetsRepoMod from '../src/store/sets-repo.ts';
import type * as ModelsRepoMod from '../src/store/models-repo.ts';
import type * as ContextMod from '../src/store/context.ts';
import type * as FilesMod from '../src/store/files.ts';
import type * as PlanMod from '../src/pipeline/plan.ts';
import type * as SessionOptionsMod from '../src/inference/session-options.ts';
import type * as EncodeMod from '../src/inference/encode-text.ts';
import type { FeedSpec } from '../src/inference/worker-protocol.ts';
import { TreeRss, type TreeRssPeaks } from './tree-rss.ts';

const CORPUS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'stimuli', 'text', 'corpus.txt');

export interface TopkSpec {
  phase: 'sets' | 'topk' | 'ort';
  dataDir: string;
  out: string;
  /** sets: corpus sizes to register. */
  sizes?: number[];
  /** topk / ort: the registered model and set, and the region (units of one layer). */
  modelId?: string;
  setId?: string;
  layer?: string;
  units?: number[];
  /** ort: batches in stimulus order (what the top-stimuli pass runs) or by token length. */
  batchOrder?: 'stimulus' | 'length';
}

export interface TopkRun {
  texts: number;
  /** Submit → stored result, and the job's own timings (the pass, the per-token re-run). */
  e2eMs: number;
  timings: { totalMs: number; passMs: number; tokensMs: number; encodeMs: number; inferenceMs: number; batches: number };
  /** From submit to the job's startedAt, and from its finishedAt to the result read back. */
  queuedMs: number;
  afterMs: number;
  batchSize: number;
  workers: number;
  intraOpThreads: number;
  /** This process only (the session is in a child process: see tree). */
  maxRssMB: number;
  tree: TreeRssPeaks;
  rssBeforeMB: number;
  n: number;
  topValue: number;
  examplesWithTokens: number;
  loadavg: number[];
}

export interface TopkOrt {
  texts: number;
  batchOrder: string;
  batches: number;
  paddedTokens: number;
  sessionCreateMs: number;
  runMs: number;
  maxRssMB: number;
  loadavg: number[];
}

const MB = 1024 * 1024;
const maxRssMB = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

// ───────────────────────────────────────────── child: one phase ──────────────────────────────────────────────

const DIST = process.env.TOPOSCOPE_BENCH_BUILD === 'dist';
const load = <T>(rel: string): Promise<T> => import(new URL(DIST ? rel.replace(/\.ts$/, '.js') : rel, new URL(DIST ? '../dist/' : '../src/', import.meta.url)).href) as Promise<T>;

async function service(dataDir: string) {
  const { loadConfig } = await load<typeof ConfigMod>('config.ts');
  const { openService, closeService } = await load<typeof ServiceMod>('usecases/service.ts');
  return { s: openService(loadConfig(process.env, { dataDir, registerFixtures: false })), closeService };
}

async function setsPhase(spec: TopkSpec): Promise<{ sizes: number[]; ids: string[] }> {
  const { createTextSet, parseTextBody } = await load<typeof SetsMod>('usecases/stimulus-sets.ts');
  const { s, closeService } = await service(spec.dataDir);
  try {
    const lines = parseTextBody(fs.readFileSync(CORPUS, 'utf8'));
    const ids = spec.sizes!.map((n) => createTextSet(s.ctx, `bench-corpus-${n}`, Array.from({ length: n }, (_, i) => lines[i % lines.length]), `bench:${CORPUS}`).set.id);
    return { sizes: spec.sizes!, ids };
  } finally {
    await closeService(s);
  }
}

async function topkPhase(spec: TopkSpec): Promise<TopkRun> {
  const { submitTopStimuli, waitForEncodingJob, topStimuliView } = await load<typeof EncodingMod>('usecases/encoding.ts');
  const { s, closeService } = await service(spec.dataDir);
  try {
    s.jobs.start();
    const rssBefore = process.memoryUsage().rss;
    const tree = new TreeRss().start();
    const t0 = performance.now();
    const wall0 = Date.now();
    const job = submitTopStimuli(s.ctx, s.jobs, { model: spec.modelId, region: { kind: 'units', layer: spec.layer!, units: spec.units! }, sets: spec.setId!, k: 10, bottomK: 10, quantiles: 10, perQuantile: 3 });
    const doneJob = await waitForEncodingJob(s.jobs, s.ctx, 'top-stimuli', job.id);
    const e2eMs = performance.now() - t0;
    const treePeaks = tree.stop();
    const wall1 = Date.now();
    if (doneJob.state !== 'succeeded') throw new Error(`top-stimuli ${job.id} ${doneJob.state}: ${doneJob.error}`);
    const v = topStimuliView(s.ctx, job.id);
    const r = v.result!;
    const t = v.timings as TopkRun['timings'] & { stimuli: number };
    return {
      texts: t.stimuli,
      e2eMs,
      timings: { totalMs: t.totalMs, passMs: t.passMs, tokensMs: t.tokensMs, encodeMs: t.encodeMs, inferenceMs: t.inferenceMs, batches: t.batches },
      queuedMs: Date.parse(v.startedAt!) - wall0,
      afterMs: wall1 - Date.parse(v.finishedAt!),
      batchSize: s.ctx.config.batchSize,
      workers: s.ctx.config.workers,
      intraOpThreads: s.ctx.config.intraOpThreads,
      maxRssMB: maxRssMB(),
      tree: treePeaks,
      rssBeforeMB: Math.round((rssBefore / MB) * 10) / 10,
      n: r.n,
      topValue: r.top[0].value,
      examplesWithTokens: [...r.top, ...r.bottom, ...r.quantiles.flatMap((q) => q.examples)].filter((e) => e.tokens).length,
      loadavg: os.loadavg(),
    };
  } finally {
    await closeService(s);
  }
}

function toTensor(f: FeedSpec): ort.Tensor {
  if (f.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(f.data), f.dims);
  if (f.type === 'int32') return new ort.Tensor('int32', new Int32Array(f.data), f.dims);
  return new ort.Tensor('float32', new Float32Array(f.data), f.dims);
}

/** Bare ONNX Runtime: the registered exposed.onnx, the same session options as the workers, the job's batches encoded beforehand, session.run only. */
async function ortPhase(spec: TopkSpec): Promise<TopkOrt> {
  const { loadConfig } = await load<typeof ConfigMod>('config.ts');
  const { createContext, closeContext } = await load<typeof ContextMod>('store/context.ts');
  const { setItems } = await load<typeof SetsRepoMod>('store/sets-repo.ts');
  const { getModel } = await load<typeof ModelsRepoMod>('store/models-repo.ts');
  const { EXPOSED_FILE, modelDir } = await load<typeof FilesMod>('store/files.ts');
  const { planBatches, planBatchesByLength, tokenTable, stimulusOf } = await load<typeof PlanMod>('pipeline/plan.ts');
  const { padIds, TextEncoder: TextIds } = await load<typeof EncodeMod>('inference/encode-text.ts');
  const { sessionOptions } = await load<typeof SessionOptionsMod>('inference/session-options.ts');
  const ctx = createContext(loadConfig(process.env, { dataDir: spec.dataDir, registerFixtures: false }));
  try {
    const model = getModel(ctx.db, spec.modelId!)!;
    const dir = modelDir(ctx, model);
    const texts = setItems(ctx.db, spec.setId!).map((i) => i.text ?? '');
    const tensor = model.info.layers.find((l) => l.name === spec.layer)!.tensor;
    const enc = new TextIds(model.manifest.input.text!, dir);
    const tokens = tokenTable(texts.length, (i) => enc.checkedIds(texts[i], `#${i}`).ids);
    const order = spec.batchOrder ?? 'stimulus';
    const plan = order === 'length' ? planBatchesByLength(tokens, ctx.config.batchSize) : planBatches(texts.length, ctx.config.batchSize);
    let paddedTokens = 0;
    const feeds = plan.map((b) => {
      const f = padIds(model.manifest.input.text!, Array.from({ length: b.end - b.start }, (_, k) => {
        const i = stimulusOf(b, k);
        return tokens.ids.subarray(tokens.offsets[i], tokens.offsets[i + 1]);
      })).feeds;
      const d = Object.values(f)[0].dims;
      paddedTokens += d[0] * d[1];
      return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toTensor(v)]));
    });
    const ts = performance.now();
    const session = await ort.InferenceSession.create(path.join(dir, EXPOSED_FILE), sessionOptions(ctx.config.intraOpThreads));
    const sessionCreateMs = performance.now() - ts;
    let runMs = 0;
    for (const f of feeds) {
      const t0 = performance.now();
      const out = await session.run(f, [tensor]);
      runMs += performance.now() - t0;
      for (const k of Object.keys(out)) out[k].dispose?.();
    }
    await session.release();
    return { texts: texts.length, batchOrder: order, batches: feeds.length, paddedTokens, sessionCreateMs, runMs, maxRssMB: maxRssMB(), loadavg: os.loadavg() };
  } finally {
    closeContext(ctx);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as TopkSpec;
  const run = { sets: setsPhase, topk: topkPhase, ort: ortPhase }[spec.phase];
  run(spec)
    .then((r) => fs.writeFileSync(spec.out, JSON.stringify(r)))
    .catch((e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    });
}

// ───────────────────────────────────────────── parent: the part ──────────────────────────────────────────────

export interface TopkKit {
  dataDir: string;
  /** Runs this file on a spec in a fresh child process and returns what it wrote. */
  child: <T>(spec: Omit<TopkSpec, 'out'>) => Promise<T>;
  /** The registered GPT-2-sized model. */
  model: { modelId: string; layers: { name: string; units: number }[] };
  target: (what: string, value: number, goal: string, met: boolean | null, detail: string) => void;
}

const s = (ms: number) => (ms / 1000).toFixed(2);

/**
 * The part: corpora of `sizes` texts (ascending), a region of every 20th unit of the model's last layer
 * (its tensor depends on the whole stack), the job at each size, bare ORT on the same batches at each
 * size, and bare ORT on batches by token length at the smallest (what the pass would cost sorted).
 */
export async function topkPart(kit: TopkKit, sizes: number[], report: Record<string, unknown>): Promise<void> {
  console.log(`\n[topk] top stimuli of a region over ${sizes.join(' and ')} corpus texts, GPT-2-sized model`);
  const layer = kit.model.layers.at(-1)!;
  const units = Array.from({ length: Math.ceil(layer.units / 20) }, (_, i) => i * 20);
  const sets = await kit.child<{ sizes: number[]; ids: string[] }>({ phase: 'sets', dataDir: kit.dataDir, sizes });
  const rows: { texts: number; job: TopkRun; bare: TopkOrt }[] = [];
  for (const [i, n] of sizes.entries()) {
    const common = { dataDir: kit.dataDir, modelId: kit.model.modelId, setId: sets.ids[i], layer: layer.name, units };
    const job = await kit.child<TopkRun>({ phase: 'topk', ...common });
    const t = job.timings;
    console.log(`  ${n} texts: job ${s(job.e2eMs)} s (pass ${s(t.passMs)} [session.run ${s(t.inferenceMs)}, encode ${s(t.encodeMs)}], per-token re-run of ${job.examplesWithTokens} examples ${s(t.tokensMs)}; ${s(job.queuedMs)} s before its start, ${s(job.afterMs)} s after its end); peak RSS with its session process ${job.tree.treePeakMB.toFixed(0)} MB (this process ${job.maxRssMB.toFixed(0)} MB); load ${job.loadavg[0].toFixed(1)}`);
    const bare = await kit.child<TopkOrt>({ phase: 'ort', ...common, batchOrder: 'stimulus' });
    console.log(`  ${n} texts: bare ORT, same batches: ${s(bare.runMs)} s of session.run (${bare.batches} batches, ${bare.paddedTokens} token positions; session create ${s(bare.sessionCreateMs)} s); max RSS ${bare.maxRssMB.toFixed(0)} MB; load ${bare.loadavg[0].toFixed(1)}`);
    rows.push({ texts: n, job, bare });
  }
  const big = rows.at(-1)!;
  const small = rows[0];
  const byLength = await kit.child<TopkOrt>({ phase: 'ort', dataDir: kit.dataDir, modelId: kit.model.modelId, setId: sets.ids[0], layer: layer.name, units, batchOrder: 'length' });
  console.log(`  ${small.texts} texts: bare ORT, batches by token length: ${s(byLength.runMs)} s (${byLength.paddedTokens} token positions)`);
  kit.target(`topk: job / bare ORT, same batches (${big.texts} texts)`, big.job.e2eMs / big.bare.runMs, '(ratio)', null, `${s(big.job.e2eMs)} s vs ${s(big.bare.runMs)} s; pass alone ${s(big.job.timings.passMs)} s, per-token re-run ${s(big.job.timings.tokensMs)} s`);
  const flat = big.job.tree.treePeakMB / small.job.tree.treePeakMB;
  kit.target(`topk: peak RSS with the session process at ${big.texts} / at ${small.texts} texts`, flat, '≈ 1 (flat)', flat <= 1.1, `${small.job.tree.treePeakMB.toFixed(0)} MB → ${big.job.tree.treePeakMB.toFixed(0)} MB (this process ${small.job.maxRssMB.toFixed(0)} → ${big.job.maxRssMB.toFixed(0)} MB; bare ORT ${small.bare.maxRssMB.toFixed(0)} → ${big.bare.maxRssMB.toFixed(0)} MB)`);
  kit.target(`topk: bare ORT by length / same batches (${small.texts} texts)`, byLength.runMs / small.bare.runMs, '(not a target)', null, `${s(byLength.runMs)} s vs ${s(small.bare.runMs)} s: ${byLength.paddedTokens} vs ${small.bare.paddedTokens} token positions`);
  report.topk = { layer: layer.name, units: units.length, sizes, rows, bareByLength: byLength };
}
