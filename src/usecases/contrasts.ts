/**
 * Contrasts and batteries: validate a request against the stored model and sets, fill every default,
 * record provenance, queue the job; read back states, per-layer results, maps and kept activations.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { VERSION } from '../config.ts';
import { AnalysisRequestSchema, type AnalysisOptions, type AnalysisRequest } from '../domain/analysis.ts';
import { DEFAULT_ANALYSIS, DEFAULTS } from '../domain/defaults.ts';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { PoolingOverrideSchema, type ContrastParams, type JobRecord, type JobState, type LayerResult, type StimulusSet } from '../domain/records.ts';
import { CorrectionSchema, CorrectionScopeSchema, MAP_STATS, TestKindSchema, thresholdProblem, type MapStat } from '../domain/stats.ts';
import { planLayers } from '../pipeline/plan.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { Context } from '../store/context.ts';
import { activationsDir, rmrf } from '../store/files.ts';
import { batteryJobs, deleteJob, getJob, jobStamp, listJobs, type NewJob } from '../store/jobs-repo.ts';
import { findModel, getModel } from '../store/models-repo.ts';
import { getActivations, getLayerResult, jobStimuli, layerArrays, layerClusters, layerSummaries } from '../store/results-repo.ts';
import { findSet } from '../store/sets-repo.ts';
import { mapService } from './map-cache.ts';
import { layerDocument, layerMapNpy, layerMapOptions, layerMapPng, layerMapSvg, smoothnessPng } from './results.ts';
import { resolveContrastLesion } from './lesions.ts';

const SetRef = Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 1000 })], {
  description: 'A stimulus set id or name, or a list of them (their union: "one category vs the rest").',
});

const common = {
  layers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000, description: 'Layer names; default all topographic layers.' })),
  pooling: Type.Optional(PoolingOverrideSchema),
  test: Type.Optional(TestKindSchema),
  correction: Type.Optional(CorrectionSchema),
  correctionScope: Type.Optional(CorrectionScopeSchema),
  alpha: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: DEFAULTS.alpha })),
  analysis: Type.Optional(AnalysisRequestSchema),
};

export const ContrastRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 128, description: 'Model id or name.' }),
    a: SetRef,
    b: SetRef,
    ...common,
    keepActivations: Type.Optional(Type.Boolean({ default: false, description: 'Store the pooled stimuli × units matrix (float32 .npy) per layer.' })),
    label: Type.Optional(Type.String({ maxLength: 200 })),
    lesion: Type.Optional(
      Type.Union(
        [
          Type.String({ minLength: 1, maxLength: 128 }),
          Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }), config: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })) }, { additionalProperties: false }),
        ],
        { description: 'Run on a lesioned model: a lesion id (its first lesion) or {id, config} (any configuration of GET /v1/lesions/:id/configs, controls included). Every layer is read after its lesion site.' },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { model: 'topo-cnn', a: 'faces', b: 'objects' },
      {
        model: 'topo-cnn',
        a: 'faces',
        b: ['bodies', 'places', 'characters', 'objects'],
        analysis: { seed: 7, clusters: { scale: 'abs-t', threshold: 3, connectivity: 8, tfce: true }, permutations: { n: 5000 }, reliability: { splits: 20 } },
      },
    ],
  },
);
export type ContrastRequest = Static<typeof ContrastRequestSchema>;

export const BatteryRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 128 }),
    categories: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 2, maxItems: 100, description: 'Each category vs the union of the others.' })),
    contrasts: Type.Optional(
      Type.Array(Type.Object({ a: SetRef, b: SetRef, label: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), { minItems: 1, maxItems: 1000 }),
    ),
    ...common,
  },
  { additionalProperties: false, examples: [{ model: 'topo-cnn', categories: ['faces', 'bodies', 'places', 'characters', 'objects'] }] },
);
export type BatteryRequest = Static<typeof BatteryRequestSchema>;

/** Fills the defaults of the analysis options and checks each threshold against its stated scale. */
export function normaliseAnalysis(req: AnalysisRequest | undefined): AnalysisOptions {
  const d = DEFAULT_ANALYSIS;
  const scale = req?.clusters?.scale ?? d.clusters.scale;
  const clusters = { ...d.clusters, ...(req?.clusters ?? {}), scale, threshold: req?.clusters?.threshold ?? DEFAULTS.clusterThreshold[scale] };
  const problem = thresholdProblem({ scale: clusters.scale, value: clusters.threshold });
  if (problem) throw new ValidationError(`analysis.clusters.${problem}`, 'analysis.clusters.threshold');
  return {
    seed: req?.seed ?? d.seed,
    clusters,
    topography: { ...d.topography, ...(req?.topography ?? {}) },
    permutations: req?.permutations ? { n: req.permutations.n } : null,
    reliability: req?.reliability ? { splits: req.reliability.splits, threshold: req.reliability.threshold ?? DEFAULTS.reliabilityThreshold } : null,
  };
}

let ortVer: string | null = null;
function ortVersion(): string {
  if (ortVer) return ortVer;
  try {
    const pkg = path.join(path.dirname(new URL(import.meta.resolve('onnxruntime-node')).pathname), '..', 'package.json');
    ortVer = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    ortVer = 'unknown';
  }
  return ortVer;
}

function newJobId(): string {
  return `c_${crypto.randomBytes(8).toString('hex')}`;
}

/**
 * Validates a contrast request against the stored model and sets; returns the job to store. `at`
 * prefixes the field names of errors (a battery's `contrasts[i].`).
 */
export function prepareContrast(ctx: Context, req: ContrastRequest, at = ''): NewJob {
  const model = findModel(ctx.db, req.model);
  if (!model) throw new NotFoundError('model', req.model);
  const resolveSets = (v: string | string[], c: 'a' | 'b'): StimulusSet[] => {
    const list = Array.isArray(v) ? v : [v];
    const cond = `${at}${c}`;
    if (list.length === 0) throw new ValidationError(`${cond} must name at least one stimulus set`, cond);
    const seen = new Set<string>();
    return list.map((ref, i) => {
      const s = findSet(ctx.db, ref);
      if (!s) throw new NotFoundError('stimulus set', ref);
      if (seen.has(s.id)) throw new UnprocessableError(`${cond}[${i}]: stimulus set '${s.name}' (${s.id}) is listed twice in condition ${cond}; each set may appear once`, `${cond}[${i}]`);
      seen.add(s.id);
      if (s.modality !== model.modality) {
        throw new UnprocessableError(
          `${cond}[${i}]: stimulus set '${s.name}' (${s.id}) holds ${s.modality} stimuli but model '${model.name}' is ${model.modality === 'image' ? 'an image' : 'a text'} model`,
          `${cond}[${i}]`,
        );
      }
      if (s.nItems === 0) throw new UnprocessableError(`${cond}[${i}]: stimulus set '${s.name}' is empty`, `${cond}[${i}]`);
      return s;
    });
  };
  const a = resolveSets(req.a, 'a');
  const b = resolveSets(req.b, 'b');
  const inBoth = b.findIndex((s) => a.some((x) => x.id === s.id));
  if (inBoth >= 0) throw new UnprocessableError(`${at}b[${inBoth}]: set '${b[inBoth].name}' is also in a; a contrast needs two different conditions`, `${at}b[${inBoth}]`);
  const nA = a.reduce((s, x) => s + x.nItems, 0);
  const nB = b.reduce((s, x) => s + x.nItems, 0);
  if (nA < 2 || nB < 2) throw new UnprocessableError(`each condition needs at least 2 stimuli for a t-test (a has ${nA}, b has ${nB})`, nA < 2 ? 'a' : 'b');
  const pooling = req.pooling ?? null;
  const layers = planLayers(model, req.layers, pooling).map((l) => l.name);
  const alpha = req.alpha ?? DEFAULTS.alpha;
  if (!(alpha > 0 && alpha < 1)) throw new ValidationError(`alpha must be between 0 and 1 (got ${alpha})`, 'alpha');
  const lesion = req.lesion !== undefined ? resolveContrastLesion(ctx, model.id, req.lesion) : null;
  const params: ContrastParams = {
    model: model.id,
    layers,
    a: a.map((s) => s.id),
    b: b.map((s) => s.id),
    pooling,
    test: req.test ?? DEFAULTS.test,
    correction: req.correction ?? DEFAULTS.correction,
    correctionScope: req.correctionScope ?? DEFAULTS.correctionScope,
    alpha,
    keepActivations: req.keepActivations ?? false,
    label: req.label ?? `${a.map((s) => s.name).join('+')} > ${b.map((s) => s.name).join('+')}${lesion ? ` (lesioned: ${lesion.id} #${lesion.config})` : ''}`,
    analysis: normaliseAnalysis(req.analysis),
    ...(lesion ? { lesion: { id: lesion.id, config: lesion.config } } : {}),
  };
  const provenance = {
    service: 'toposcope',
    version: VERSION,
    model: { id: model.id, name: model.name, hash: model.hash, onnxSha256: model.onnxSha256 },
    sets: {
      a: a.map((s) => ({ id: s.id, name: s.name, hash: s.hash, items: s.nItems })),
      b: b.map((s) => ({ id: s.id, name: s.name, hash: s.hash, items: s.nItems })),
    },
    params,
    seed: params.analysis.seed,
    runtime: { node: process.version, onnxruntime: ortVersion() },
    ...(lesion ? { lesion: lesion.provenance } : {}),
  };
  return { id: newJobId(), modelId: model.id, params, provenance, total: nA + nB };
}

export function submitContrast(ctx: Context, jobs: JobQueue, req: ContrastRequest): JobRecord {
  return jobs.enqueue([prepareContrast(ctx, req)])[0];
}

/**
 * A localizer battery: several contrasts on one model submitted together and run in one pass (each
 * stimulus through the model once). `categories` makes every category vs the union of the others
 * (the fLoc practice); `contrasts` lists arbitrary pairs.
 */
export function submitBattery(ctx: Context, jobs: JobQueue, req: BatteryRequest): { id: string; jobs: JobRecord[] } {
  const { categories, contrasts, ...shared } = req;
  const list: { a: string | string[]; b: string | string[]; label?: string }[] = [];
  if (categories && categories.length) {
    if (categories.length < 2) throw new ValidationError('a battery of categories needs at least two', 'categories');
    const dup = categories.findIndex((c, i) => categories.indexOf(c) !== i);
    if (dup >= 0) throw new UnprocessableError(`categories[${dup}]: '${categories[dup]}' is listed twice; each category may appear once`, `categories[${dup}]`);
    for (const c of categories) list.push({ a: c, b: categories.filter((x) => x !== c), label: `${c} > rest` });
  }
  for (const c of contrasts ?? []) list.push(c);
  if (list.length === 0) throw new ValidationError('a battery needs categories or contrasts', 'categories');
  const batteryId = `b_${crypto.randomBytes(8).toString('hex')}`;
  const nCategories = categories?.length ?? 0;
  const prepared = list.map((c, i) => {
    const j = prepareContrast(ctx, { ...shared, a: c.a, b: c.b, label: c.label }, i < nCategories ? '' : `contrasts[${i - nCategories}].`);
    return { ...j, provenance: { ...j.provenance, battery: batteryId }, batteryId };
  });
  return { id: batteryId, jobs: jobs.enqueue(prepared) };
}

/** A contrast as the API shows it. */
export function contrastView(ctx: Context, j: JobRecord) {
  return {
    id: j.id,
    state: j.state,
    label: j.params.label,
    model: j.modelId,
    params: j.params,
    progress: { done: j.progressDone, total: j.progressTotal, fraction: j.progressTotal ? j.progressDone / j.progressTotal : 0, stage: j.progressStage },
    error: j.error,
    timings: j.timings,
    attempts: j.attempts,
    battery: j.batteryId,
    truncation: j.truncation,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    layers: j.state === 'succeeded' ? layerSummaries(ctx.db, j.id).map((l) => ({ ...l.summary, name: l.name })) : [],
    provenance: j.provenance,
  };
}
export type ContrastView = ReturnType<typeof contrastView>;

export function requireContrast(ctx: Context, id: string): JobRecord {
  const j = getJob(ctx.db, id);
  if (!j || j.kind !== 'contrast') throw new NotFoundError('contrast', id);
  return j;
}

export function listContrasts(ctx: Context, q: { limit?: number; offset?: number; model?: string; state?: JobState }) {
  const limit = q.limit ?? DEFAULTS.page.limit;
  const offset = q.offset ?? DEFAULTS.page.offset;
  const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
  const r = listJobs(ctx.db, { limit, offset, model, state: q.state, kind: 'contrast' });
  return { items: r.items.map((j) => contrastView(ctx, j)), total: r.total, limit, offset };
}

/** Cancels a queued or running contrast; with `purge`, deletes a finished one (returns null). */
export function cancelOrPurge(ctx: Context, jobs: JobQueue, id: string, purge: boolean): ContrastView | null {
  const j = requireContrast(ctx, id);
  if (purge && j.state !== 'queued' && j.state !== 'running') {
    deleteJob(ctx.db, id);
    rmrf(activationsDir(ctx, id));
    return null;
  }
  return contrastView(ctx, jobs.cancel(id));
}

export function batteryView(ctx: Context, id: string) {
  const list = batteryJobs(ctx.db, id);
  if (list.length === 0) throw new NotFoundError('battery', id);
  return { id, contrasts: list.map((j) => contrastView(ctx, j)) };
}

export function cancelBattery(ctx: Context, jobs: JobQueue, id: string) {
  const list = batteryJobs(ctx.db, id);
  if (list.length === 0) throw new NotFoundError('battery', id);
  for (const j of list) if (j.state === 'queued' || j.state === 'running') jobs.cancel(j.id);
  return batteryView(ctx, id);
}

/** A succeeded contrast's layer result; 409 before it has succeeded. */
export function requireLayer(ctx: Context, id: string, layer: string): { job: JobRecord; layer: LayerResult } {
  const job = requireContrast(ctx, id);
  if (job.state !== 'succeeded') throw new ConflictError(`contrast '${id}' is ${job.state}; results exist once it has succeeded`);
  const l = getLayerResult(ctx.db, id, layer);
  if (!l) throw new NotFoundError(`layer of contrast ${id}`, layer);
  return { job, layer: l };
}

export function contrastStimuli(ctx: Context, id: string) {
  const j = requireContrast(ctx, id);
  if (j.state !== 'succeeded') throw new ConflictError(`contrast '${id}' is ${j.state}`);
  return { items: jobStimuli(ctx.db, id) };
}

export function layerResultDocument(ctx: Context, id: string, layer: string) {
  const { layer: l } = requireLayer(ctx, id, layer);
  return layerDocument(id, l, layerClusters(ctx.db, id, l.name), layerArrays(ctx.db, id, l.name));
}

export function clusterTable(ctx: Context, id: string, layer: string) {
  const { layer: l } = requireLayer(ctx, id, layer);
  return { contrast: id, layer: l.name, params: l.analysis.clusterParams, clusters: layerClusters(ctx.db, id, l.name) };
}

export function topography(ctx: Context, id: string, layer: string) {
  const { layer: l } = requireLayer(ctx, id, layer);
  const a = l.analysis;
  return { contrast: id, layer: l.name, moran: a.moran, smoothness: a.smoothness, reliability: a.reliability ?? null, permutation: a.permutation ?? null };
}

function title(ctx: Context, job: JobRecord, layer: string): string {
  const model = getModel(ctx.db, job.modelId);
  return `${model?.name ?? job.modelId} / ${layer}: ${job.params.label ?? `${job.params.a.join('+')} > ${job.params.b.join('+')}`}`;
}

export interface MapRequest {
  stat?: MapStat;
  threshold?: number;
  vmax?: number;
  outline?: 'threshold' | 'clusters';
}

function contrastMap(ctx: Context, id: string, layer: string, q: MapRequest) {
  const stat = q.stat ?? 't';
  const { job, layer: l } = requireLayer(ctx, id, layer);
  const extras = layerArrays(ctx.db, id, l.name);
  const clusters = q.outline === 'clusters';
  const outlined = clusters ? ', outlined: clusters' : q.threshold !== undefined ? `, outline ${MAP_STATS[stat].thresholdScale} >= ${q.threshold}` : '';
  return {
    l,
    stat,
    extras,
    opts: {
      title: title(ctx, job, l.name),
      subtitle: `${MAP_STATS[stat].label}, ${job.params.test} test, n=${l.nA} vs ${l.nB}${outlined}`,
      threshold: clusters ? undefined : q.threshold,
      vmax: q.vmax,
      clusterLabels: clusters ? (extras.cluster_label as Int32Array | undefined) : undefined,
    },
  };
}

/** The cache key of a rendered map: the contrast (and when it finished), the layer, the format and every drawing parameter. */
function mapKey(ctx: Context, format: 'png' | 'svg' | 'npy', id: string, layer: string, q: MapRequest): { key: string } {
  const job = jobStamp(ctx.db, id);
  if (!job || job.kind !== 'contrast') throw new NotFoundError('contrast', id);
  if (job.state !== 'succeeded') throw new ConflictError(`contrast '${id}' is ${job.state}; results exist once it has succeeded`);
  const parts = [format, id, job.finishedAt ?? '', layer, q.stat ?? 't'];
  if (format !== 'npy') parts.push(String(q.threshold ?? ''), String(q.vmax ?? ''), q.outline ?? '');
  return { key: JSON.stringify(parts) };
}

export function contrastMapPng(ctx: Context, id: string, layer: string, q: MapRequest): Promise<Buffer> {
  const { key } = mapKey(ctx, 'png', id, layer, q);
  const { cache, renderer } = mapService(ctx);
  return cache.through(key, async () => {
    const m = contrastMap(ctx, id, layer, q);
    return renderer.render('png', layerMapOptions(m.l, m.stat, m.opts, m.extras));
  });
}

/** Layers of one contrast whose default map is rendered ahead, at most. */
const PRERENDER_LAYERS = 64;

/**
 * Renders the default map (t, no outline, as `map.png` without parameters) of every layer of each
 * contrast that succeeds, in the background: the maps clients ask for first are then in the cache, or
 * their rendering is under way and a request joins it. The render workers start while a contrast
 * runs. Returns the unsubscribe function.
 */
export function prerenderMaps(ctx: Context, jobs: JobQueue): () => void {
  const ahead = async (id: string) => {
    const job = getJob(ctx.db, id);
    if (!job || job.kind !== 'contrast') return;
    if (job.state === 'running') mapService(ctx).renderer.prewarm();
    if (job.state !== 'succeeded') return;
    // One layer per turn of the event loop: reading a layer and laying out its figure stay short.
    for (const l of layerSummaries(ctx.db, job.id).slice(0, PRERENDER_LAYERS)) {
      await new Promise((r) => setImmediate(r));
      contrastMapPng(ctx, job.id, l.name, {}).catch(() => undefined);
    }
  };
  return jobs.on((e) => {
    // A closed database or a deleted contrast leaves nothing to render.
    ahead(e.job).catch(() => undefined);
  });
}

/** Synchronous like before (the figure is built on this thread, ~5 ms for 48×64); cached. */
export function contrastMapSvg(ctx: Context, id: string, layer: string, q: MapRequest): string {
  const { key } = mapKey(ctx, 'svg', id, layer, q);
  const { cache } = mapService(ctx);
  return cache.sync(key, () => {
    const m = contrastMap(ctx, id, layer, q);
    return layerMapSvg(m.l, m.stat, m.opts, m.extras);
  });
}

export function contrastMapNpy(ctx: Context, id: string, layer: string, stat: MapStat = 't'): { file: string; data: Buffer } {
  const { key } = mapKey(ctx, 'npy', id, layer, { stat });
  const { cache } = mapService(ctx);
  let name = layer;
  const data = cache.sync(key, () => {
    const { layer: l } = requireLayer(ctx, id, layer);
    name = l.name;
    return layerMapNpy(l, stat, layerArrays(ctx.db, id, l.name));
  });
  return { file: `${id}-${name}-${stat}.npy`, data };
}

export async function contrastSmoothnessPng(ctx: Context, id: string, layer: string): Promise<Buffer> {
  const { job, layer: l } = requireLayer(ctx, id, layer);
  return smoothnessPng(l, `${title(ctx, job, l.name)} - smoothness`);
}

/** The kept activations (or their row index) of a layer as a file to stream. */
export function activationsFile(ctx: Context, id: string, layer: string, kind: 'activations' | 'activations.rows'): { path: string; size: number; name: string } {
  requireLayer(ctx, id, layer);
  const a = getActivations(ctx.db, id, layer);
  if (!a) throw new NotFoundError(`kept activations of contrast ${id} (submit with keepActivations: true)`, layer);
  const file = path.join(ctx.paths.data, kind === 'activations' ? a.path : a.rowIndexPath);
  return { path: file, size: fs.statSync(file).size, name: `${id}-${layer}-${kind}.npy` };
}

/** The stored layer results of a succeeded contrast, in layer order. */
export function layerResults(ctx: Context, id: string): LayerResult[] {
  return layerSummaries(ctx.db, id).map((l) => getLayerResult(ctx.db, id, l.name)!);
}

/** Waits until the job leaves queued/running (other jobs in the same data folder may run first). */
export async function waitForJob(jobs: JobQueue, ctx: Context, id: string, onProgress?: (done: number, total: number) => void): Promise<JobRecord> {
  const off = jobs.on((e) => {
    if (e.type !== 'progress' || e.job !== id || !onProgress) return;
    const j = getJob(ctx.db, id);
    if (j) onProgress(j.progressDone, j.progressTotal);
  });
  try {
    for (;;) {
      await jobs.idle();
      const j = requireContrast(ctx, id);
      if (j.state !== 'queued' && j.state !== 'running') return j;
    }
  } finally {
    off();
  }
}

/** Writes t / d / signed log10 p maps (PNG + NPY), smoothness curves, cluster tables and per-unit JSON of every layer. */
export async function exportMaps(ctx: Context, job: JobRecord, outDir: string, threshold?: number): Promise<string[]> {
  fs.mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, data: string | Buffer) => {
    const p = path.join(outDir, name);
    fs.writeFileSync(p, data);
    files.push(p);
  };
  for (const l of layerResults(ctx, job.id)) {
    const extras = layerArrays(ctx.db, job.id, l.name);
    const clusters = layerClusters(ctx.db, job.id, l.name);
    for (const stat of ['t', 'd', 'log10p'] as const) {
      const outlined = stat === 't' && threshold !== undefined;
      write(
        `${l.name}.${stat}.png`,
        await layerMapPng(l, stat, {
          title: title(ctx, job, l.name),
          subtitle: `${MAP_STATS[stat].label}, ${job.params.test} test, n=${l.nA} vs ${l.nB}${outlined ? `, outline |t| >= ${threshold}` : ''}`,
          threshold: outlined ? threshold : undefined,
        }),
      );
      write(`${l.name}.${stat}.npy`, layerMapNpy(l, stat));
    }
    write(`${l.name}.smoothness.png`, await smoothnessPng(l, `${title(ctx, job, l.name)} - smoothness`));
    write(`${l.name}.clusters.json`, JSON.stringify({ params: l.analysis.clusterParams, clusters }, null, 2));
    write(`${l.name}.json`, JSON.stringify(layerDocument(job.id, l, clusters, extras)));
  }
  write(
    'contrast.json',
    JSON.stringify({ id: job.id, label: job.params.label, params: job.params, provenance: job.provenance, timings: job.timings, layers: layerSummaries(ctx.db, job.id) }, null, 2),
  );
  return files;
}

/** The cluster table of a stored layer. */
export function clustersOf(ctx: Context, id: string, layer: string) {
  return layerClusters(ctx.db, id, layer);
}
