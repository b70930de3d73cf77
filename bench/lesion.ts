/**
 * `npm run bench -- --only lesion`: a lesion evaluation on the GPT-2-sized model (512 texts by default, the lesion
 * and 10 random controls, so 12 configurations with the intact model) as a job runs it, against bare
 * ONNX Runtime running the same batches 12 times; the ratio and the peak memory of each (one session).
 *
 * bench/run.ts calls `lesionPart`; the three measured steps run in fresh child processes of this file
 * (`node --import tsx bench/lesion.ts <spec.json>`), never at once, so each peak RSS is its own:
 *
 *   job   prepareLesion → runLesionJob (the evaluation on the lesion copy in the session worker, the
 *         cross-entropy per stimulus, the summary and storing it), timed from the call to its return
 *   ort   one InferenceSession on the registered model.onnx (the unedited model) on the main thread,
 *         the same session options as the workers, the same batches (stimulus order, the pipeline's
 *         text encoder, encoded beforehand), fetching the logits, each batch run 12 times: the sum of
 *         the session.run calls only
 *   copy  the same on the lesion copy the job runs (site inputs fed intact, the next-token targets
 *         fed, fetching the in-graph −log p instead of the logits): what the job's graph costs bare,
 *         so job / copy is the pipeline's own overhead
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type * as ConfigMod from '../src/config.ts';
import type * as ContextMod from '../src/store/context.ts';
import type * as FilesMod from '../src/store/files.ts';
import type * as ModelsRepoMod from '../src/store/models-repo.ts';
import type * as SetsRepoMod from '../src/store/sets-repo.ts';
import type * as LesionsRepoMod from '../src/store/lesions-repo.ts';
import type * as JobsRepoMod from '../src/store/jobs-repo.ts';
import type * as LesionJobMod from '../src/jobs/lesion.ts';
import type * as LesionUseMod from '../src/usecases/lesions.ts';
import type * as SessionOptionsMod from '../src/inference/session-options.ts';
import type * as EncodeMod from '../src/inference/encode-text.ts';
import type * as BehaviourMod from '../src/inference/behaviour.ts';
import type * as PlanMod from '../src/pipeline/plan.ts';
import type { FeedSpec } from '../src/inference/worker-protocol.ts';
import type { RegisterResult } from './phase.ts';
import { TreeRss, type TreeRssPeaks } from './tree-rss.ts';

/** Units lesioned per layer (percent of its 3,072) and random controls. */
const PERCENT = 5;
const RANDOM = 10;

export interface LesionStepSpec {
  step: 'job' | 'ort' | 'copy';
  dataDir: string;
  modelId: string;
  sets: [string, string];
  out: string;
}

export interface LesionJobResult {
  e2eMs: number;
  stimuli: number;
  configurations: number;
  unitsPerLayer: number;
  timings: Record<string, number>;
  /** The intact and lesioned cross-entropy of each set (a check that the job computed something). */
  sets: { name: string; intactCe: number | null; lesionCe: number | null }[];
  /** This process only (the session is in a child process: see tree). */
  maxRssMB: number;
  tree: TreeRssPeaks;
  rssBeforeMB: number;
  loadavg: number[];
}

export interface LesionOrtResult {
  stimuli: number;
  batches: number;
  batchSize: number;
  configurations: number;
  paddedTokens: number;
  sessionCreateMs: number;
  encodeMs: number;
  runMs: number;
  maxRssMB: number;
  rssBeforeMB: number;
  loadavg: number[];
}

const MB = 1024 * 1024;
const maxRssMB = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

async function loadModules() {
  const dist = process.env.TOPOSCOPE_BENCH_BUILD === 'dist';
  const base = new URL(dist ? '../dist/' : '../src/', import.meta.url);
  const load = <T>(rel: string): Promise<T> => import(new URL(dist ? rel.replace(/\.ts$/, '.js') : rel, base).href) as Promise<T>;
  return {
    config: await load<typeof ConfigMod>('config.ts'),
    context: await load<typeof ContextMod>('store/context.ts'),
    files: await load<typeof FilesMod>('store/files.ts'),
    models: await load<typeof ModelsRepoMod>('store/models-repo.ts'),
    sets: await load<typeof SetsRepoMod>('store/sets-repo.ts'),
    lesionsRepo: await load<typeof LesionsRepoMod>('store/lesions-repo.ts'),
    jobsRepo: await load<typeof JobsRepoMod>('store/jobs-repo.ts'),
    lesionJob: await load<typeof LesionJobMod>('jobs/lesion.ts'),
    lesionUse: await load<typeof LesionUseMod>('usecases/lesions.ts'),
    encode: await load<typeof EncodeMod>('inference/encode-text.ts'),
    sessionOptions: await load<typeof SessionOptionsMod>('inference/session-options.ts'),
    behaviour: await load<typeof BehaviourMod>('inference/behaviour.ts'),
    plan: await load<typeof PlanMod>('pipeline/plan.ts'),
  };
}

async function jobStep(spec: LesionStepSpec): Promise<LesionJobResult> {
  const m = await loadModules();
  const ctx = m.context.createContext(m.config.loadConfig(process.env, { dataDir: spec.dataDir, registerFixtures: false }));
  try {
    const model = m.models.getModel(ctx.db, spec.modelId);
    if (!model) throw new Error(`model ${spec.modelId} is not registered`);
    // The first 5 % of each layer's units: a block of rows at the top of its 48 × 64 sheet.
    const units = Object.fromEntries(model.info.layers.map((l) => [l.name, Array.from({ length: Math.round((l.units * PERCENT) / 100) }, (_, i) => i)]));
    const rssBefore = process.memoryUsage().rss;
    const tree = new TreeRss().start();
    const t0 = performance.now();
    const { job, configs } = m.lesionUse.prepareLesion(ctx, { from: 'explicit', model: model.id, units, sets: spec.sets, controls: { random: RANDOM, spatial: 0, seed: 1 } });
    m.lesionsRepo.insertLesionJob(ctx.db, job, configs);
    // As the queue does: the job is running while it runs (its results are stored only then).
    m.jobsRepo.markRunning(ctx.db, job.id);
    await m.lesionJob.runLesionJob(ctx, m.lesionsRepo.getLesionJob(ctx.db, job.id)!, new AbortController().signal, { remote: null }, () => undefined);
    const e2eMs = performance.now() - t0;
    const treePeaks = tree.stop();
    const done = m.lesionsRepo.getLesionJob(ctx.db, job.id)!;
    if (done.state !== 'succeeded') throw new Error(`the lesion job ended ${done.state}: ${done.error ?? 'no results stored'}`);
    const summary = m.lesionsRepo.lesionResult(ctx.db, job.id)!.summary as { doses: { sets: { name: string; intact: { ce: number | null }; lesion: { ce: number | null } }[] }[] };
    return {
      e2eMs,
      stimuli: job.params.sets.reduce((n, id) => n + m.sets.getSet(ctx.db, id)!.nItems, 0),
      configurations: configs.length,
      unitsPerLayer: units[model.info.layers[0].name].length,
      timings: done.timings ?? {},
      sets: summary.doses[0].sets.map((s) => ({ name: s.name, intactCe: s.intact.ce, lesionCe: s.lesion.ce })),
      maxRssMB: maxRssMB(),
      tree: treePeaks,
      rssBeforeMB: Math.round((rssBefore / MB) * 10) / 10,
      loadavg: os.loadavg(),
    };
  } finally {
    m.context.closeContext(ctx);
  }
}

function toTensor(f: FeedSpec): ort.Tensor {
  if (f.type === 'float32') return new ort.Tensor('float32', new Float32Array(f.data), f.dims);
  if (f.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(f.data), f.dims);
  return new ort.Tensor('int32', new Int32Array(f.data), f.dims);
}

/** The bare steps: the unedited model fetching the logits, or the lesion copy fetching its in-graph scores. */
async function ortStep(spec: LesionStepSpec): Promise<LesionOrtResult> {
  const m = await loadModules();
  const ctx = m.context.createContext(m.config.loadConfig(process.env, { dataDir: spec.dataDir, registerFixtures: false }));
  try {
    const model = m.models.getModel(ctx.db, spec.modelId);
    if (!model) throw new Error(`model ${spec.modelId} is not registered`);
    const dir = m.files.modelDir(ctx, model);
    const texts = spec.sets.flatMap((s) => m.sets.setItems(ctx.db, s).map((i) => i.text ?? ''));
    const batchSize = model.info.dynamicBatch ? ctx.config.batchSize : 1;
    const enc = new m.encode.TextEncoder(model.manifest.input.text!, dir);
    const te = performance.now();
    let paddedTokens = 0;
    const copy = spec.step === 'copy';
    const lesion = model.info.lesion;
    const scored = lesion?.outputs[0];
    if (copy && !scored?.score) throw new Error('the registered model has no lesion copy with in-graph scoring');
    // The intact site feeds (m = 1, o = 0), shared by every batch of the copy.
    const siteFeeds: Record<string, ort.Tensor> = {};
    if (copy) {
      for (const site of lesion!.sites) {
        siteFeeds[site.scaleInput] = new ort.Tensor('float32', new Float32Array(site.units).fill(1), site.dims);
        siteFeeds[site.offsetInput] = new ort.Tensor('float32', new Float32Array(site.units), site.dims);
      }
    }
    const feeds = m.plan.planBatches(texts.length, batchSize).map((b) => {
      const batch = enc.encode(texts.slice(b.start, b.end));
      const f = batch.feeds;
      paddedTokens += Object.values(f)[0].dims[0] * Object.values(f)[0].dims[1];
      const tensors = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toTensor(v)]));
      if (!copy) return tensors;
      const ids = Int32Array.from(new BigInt64Array(f[model.manifest.input.text!.idsInput].data), Number);
      return { ...tensors, ...siteFeeds, [scored!.score!.targets]: m.behaviour.nextTokenTargets(ids, batch.lengths, scored!.probeShape[2]) };
    });
    const encodeMs = performance.now() - te;
    const output = copy ? scored!.score!.nll : model.manifest.outputs![0].tensor;
    const rssBefore = process.memoryUsage().rss;
    const ts = performance.now();
    const file = copy ? lesion!.file : m.files.MODEL_FILE;
    const session = await ort.InferenceSession.create(path.join(dir, file), m.sessionOptions.sessionOptions(ctx.config.intraOpThreads));
    const sessionCreateMs = performance.now() - ts;
    const configurations = 2 + RANDOM;
    let runMs = 0;
    for (const f of feeds) {
      for (let c = 0; c < configurations; c++) {
        const t0 = performance.now();
        const out = await session.run(f, [output]);
        runMs += performance.now() - t0;
        for (const k of Object.keys(out)) out[k].dispose?.();
      }
    }
    await session.release();
    return { stimuli: texts.length, batches: feeds.length, batchSize, configurations, paddedTokens, sessionCreateMs, encodeMs, runMs, maxRssMB: maxRssMB(), rssBeforeMB: Math.round((rssBefore / MB) * 10) / 10, loadavg: os.loadavg() };
  } finally {
    m.context.closeContext(ctx);
  }
}

export interface LesionPartEnv {
  /** The bench's temp folder for specs and outputs, and its data dir. */
  tmp: string;
  dataDir: string;
  /** The GPT-2-sized model folder (generated when missing) and the fixture text lists. */
  gpt2Folder: () => Promise<string>;
  textSources: () => [string, string];
  /** Texts per list (`--texts`, default 256). */
  texts: number;
  register: (modelFolder: string, sourceA: string, sourceB: string) => Promise<RegisterResult>;
  /** Runs a node script in a fresh child process. */
  child: (script: string, argv: string[], label: string) => Promise<void>;
  target: (what: string, value: number, goal: string, met: boolean | null, detail: string) => void;
}

const s = (ms: number) => (ms / 1000).toFixed(2);

export async function lesionPart(env: LesionPartEnv, report: Record<string, unknown>): Promise<void> {
  console.log(`\n[lesion] GPT-2-sized model: ${2 * env.texts} texts, a lesion of ${PERCENT} % of each of 12 MLP layers + ${RANDOM} random controls`);
  // The bench model's manifest has no behaviour outputs; a sibling folder adds the logits (model.onnx linked, not copied).
  const src = await env.gpt2Folder();
  const folder = `${src}-lm`;
  fs.mkdirSync(folder, { recursive: true });
  for (const f of fs.readdirSync(src)) {
    if (f === 'manifest.json' || fs.existsSync(path.join(folder, f))) continue;
    try {
      fs.linkSync(path.join(src, f), path.join(folder, f));
    } catch {
      fs.copyFileSync(path.join(src, f), path.join(folder, f));
    }
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(src, 'manifest.json'), 'utf8'));
  manifest.name = 'gpt2-random-lm';
  manifest.outputs = [{ name: 'logits', tensor: 'logits', kind: 'lm', description: 'B×T×50257 next-token logits' }];
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  // `texts` + `texts` (default 256 + 256): the two fixture lists cycled.
  const lists = env.textSources().map((file) => {
    const lines = fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    const out = path.join(env.tmp, `${path.basename(file, '.txt')}-${env.texts}.txt`);
    fs.writeFileSync(out, Array.from({ length: env.texts }, (_, i) => lines[i % lines.length]).join('\n') + '\n');
    return out;
  });
  const reg = await env.register(folder, lists[0], lists[1]);
  console.log(`  registered ${reg.modelName} (with its lesion copy) in ${s(reg.registerMs)} s`);
  const step = async <T>(name: LesionStepSpec['step']): Promise<T> => {
    const out = path.join(env.tmp, `lesion-${name}.out.json`);
    const specFile = path.join(env.tmp, `lesion-${name}.spec.json`);
    const spec: LesionStepSpec = { step: name, dataDir: env.dataDir, modelId: reg.modelId, sets: [reg.setA.id, reg.setB.id], out };
    fs.writeFileSync(specFile, JSON.stringify(spec));
    await env.child(path.join(path.dirname(new URL(import.meta.url).pathname), 'lesion.ts'), [specFile], `bench lesion step '${name}'`);
    return JSON.parse(fs.readFileSync(out, 'utf8')) as T;
  };
  const job = await step<LesionJobResult>('job');
  const t = job.timings;
  console.log(
    `  lesion job: ${s(job.e2eMs)} s for ${job.stimuli} texts × ${job.configurations} configurations (session ready ${s(t.setupMs ?? 0)} s, session.run ${s(t.inferenceMs ?? 0)} s, encode ${s(t.encodeMs ?? 0)} s); peak RSS with its session process ${job.tree.treePeakMB.toFixed(0)} MB (session process ${job.tree.largestChildPeakMB.toFixed(0)} MB); load ${job.loadavg[0].toFixed(2)}`,
  );
  const bare = await step<LesionOrtResult>('ort');
  console.log(`  bare ORT: ${s(bare.runMs)} s of session.run (${bare.batches} batches × ${bare.configurations}; session create ${s(bare.sessionCreateMs)} s); max RSS ${bare.maxRssMB.toFixed(0)} MB; load ${bare.loadavg[0].toFixed(2)}`);
  const copy = await step<LesionOrtResult>('copy');
  console.log(`  bare ORT on the lesion copy (in-graph scores): ${s(copy.runMs)} s of session.run; max RSS ${copy.maxRssMB.toFixed(0)} MB; load ${copy.loadavg[0].toFixed(2)}`);
  const ratio = job.e2eMs / bare.runMs;
  env.target(`lesion: job / bare ORT × 12 configurations (GPT-2-sized, ${2 * env.texts} texts)`, ratio, '≤ 1.20', ratio <= 1.2, `${s(job.e2eMs)} s vs ${s(bare.runMs)} s (session load ${s(t.setupMs ?? 0)} s inside; load ${job.loadavg[0].toFixed(1)} / ${bare.loadavg[0].toFixed(1)})`);
  env.target('lesion: job / bare ORT on the lesion copy (pipeline overhead)', job.e2eMs / copy.runMs, 'reported', null, `${s(job.e2eMs)} s vs ${s(copy.runMs)} s; the copy's graph vs the model's: ${(copy.runMs / bare.runMs).toFixed(2)}×`);
  env.target('lesion: peak RSS of the job with its session process / of one bare session', job.tree.treePeakMB / bare.maxRssMB, '≈ 1 (one session)', null, `${job.tree.treePeakMB.toFixed(0)} MB vs ${bare.maxRssMB.toFixed(0)} MB (lesion copy bare ${copy.maxRssMB.toFixed(0)} MB)`);
  report.lesion = { register: reg, job, bare, copy };
}

async function main(): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as LesionStepSpec;
  const r = spec.step === 'job' ? await jobStep(spec) : await ortStep(spec);
  fs.writeFileSync(spec.out, JSON.stringify(r));
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
