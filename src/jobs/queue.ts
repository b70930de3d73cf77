/**
 * The in-process job queue: jobs persist in SQLite and move queued → running → succeeded | failed |
 * cancelled. Up to `jobConcurrency` run at once, oldest first. At start-up, jobs left `running` by
 * a dead process are re-queued (recovery 'resume', at most MAX_ATTEMPTS starts) or failed with a
 * reason (recovery 'fail'); never left running.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../store/context.ts';
import { VERSION } from '../config.ts';
import { AppError, ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { CancelledError, collectStimuli, resolveLayers, runContrasts, type ContrastSpec, type Stimulus } from '../pipeline/contrast.ts';
import type { EngineSpec } from '../pipeline/analysis-worker.ts';
import type { Pooling } from '../domain/manifest.ts';
import { DEFAULT_ANALYSIS, type AnalysisOptions } from '../pipeline/analyse.ts';
import { findModel } from '../store/models-repo.ts';
import {
  batteryJobs,
  finishJob,
  getJob,
  insertJob,
  insertJobs,
  setBatteryProgress,
  markRunning,
  nextQueued,
  requeue,
  runningJobs,
  setProgress,
  storeSuccess,
  type ContrastParams,
  type JobRecord,
} from '../store/jobs-repo.ts';
import { findSet, getSet, type StimulusSet } from '../usecases/stimulus-sets.ts';
import { rmrf } from '../store/files.ts';

export const MAX_ATTEMPTS = 3;

export interface ContrastRequest {
  model: string;
  layers?: string[];
  a: string | string[];
  b: string | string[];
  pooling?: Pooling | null;
  test?: 'welch' | 'student';
  correction?: 'bh' | 'by' | 'holm' | 'bonferroni' | 'none';
  correctionScope?: 'layer' | 'all';
  alpha?: number;
  keepActivations?: boolean;
  label?: string;
  analysis?: AnalysisRequest;
}

export interface AnalysisRequest {
  seed?: number;
  clusters?: { threshold?: number; scale?: 'p' | 'abs-t'; connectivity?: 4 | 8; minSize?: number; tfce?: boolean };
  topography?: { permutations?: number; contiguity?: 'queen' | 'rook'; bins?: number };
  permutations?: { n: number } | null;
  reliability?: { splits: number; threshold?: number } | null;
}

/** Fills defaults and checks the one stated scale of each threshold. */
export interface BatteryRequest extends Omit<ContrastRequest, 'a' | 'b' | 'label'> {
  categories?: string[];
  contrasts?: { a: string | string[]; b: string | string[]; label?: string }[];
}

export function normaliseAnalysis(req: AnalysisRequest | undefined): AnalysisOptions {
  const d = DEFAULT_ANALYSIS;
  const c = { ...d.clusters, ...(req?.clusters ?? {}) };
  if (req?.clusters?.scale === 'abs-t' && req.clusters.threshold === undefined) c.threshold = 3;
  if (c.scale === 'p' && !(c.threshold > 0 && c.threshold < 1)) {
    throw new ValidationError(`analysis.clusters.threshold ${c.threshold} is not a p-value: with scale 'p' it must be in (0, 1); use scale 'abs-t' for a |t| threshold`, 'analysis.clusters.threshold');
  }
  if (c.scale === 'abs-t' && !(c.threshold > 0)) throw new ValidationError(`analysis.clusters.threshold must be > 0 on the |t| scale`, 'analysis.clusters.threshold');
  const topo = { ...d.topography, ...(req?.topography ?? {}) };
  return {
    seed: req?.seed ?? d.seed,
    clusters: c,
    topography: topo,
    permutations: req?.permutations ? { n: req.permutations.n } : null,
    reliability: req?.reliability ? { splits: req.reliability.splits, threshold: req.reliability.threshold ?? 3 } : null,
  };
}

function asList(v: string | string[], field: string): string[] {
  const l = Array.isArray(v) ? v : [v];
  if (l.length === 0) throw new ValidationError(`${field} must name at least one stimulus set`, field);
  return l;
}

/** Validates a contrast request against the stored model and sets; returns normalised params. */
export function prepareContrast(ctx: Context, req: ContrastRequest): { params: ContrastParams; provenance: Record<string, unknown>; total: number } {
  const model = findModel(ctx.db, req.model);
  if (!model) throw new NotFoundError('model', req.model);
  const resolveSets = (v: string | string[], cond: 'a' | 'b'): StimulusSet[] =>
    asList(v, cond).map((id, i) => {
      const s = findSet(ctx, id);
      if (!s) throw new NotFoundError('stimulus set', id);
      if (s.modality !== model.modality) {
        throw new UnprocessableError(
          `${cond}[${i}]: stimulus set '${s.name}' (${s.id}) holds ${s.modality} stimuli but model '${model.name}' is ${model.modality === 'image' ? 'an image' : 'a text'} model`,
          `${cond}[${i}]`,
        );
      }
      if (s.nItems === 0) throw new UnprocessableError(`${cond}[${i}]: stimulus set '${s.name}' is empty`, `${cond}[${i}]`);
      return s;
    });
  const a = resolveSets(req.a, 'a');
  const b = resolveSets(req.b, 'b');
  const shared = a.filter((s) => b.some((x) => x.id === s.id));
  if (shared.length) throw new UnprocessableError(`set '${shared[0].name}' is in both a and b; a contrast needs two different conditions`, 'b');
  const nA = a.reduce((s, x) => s + x.nItems, 0);
  const nB = b.reduce((s, x) => s + x.nItems, 0);
  if (nA < 2 || nB < 2) throw new UnprocessableError(`each condition needs at least 2 stimuli for a t-test (a has ${nA}, b has ${nB})`, nA < 2 ? 'a' : 'b');
  const pooling = req.pooling ?? null;
  const layers = resolveLayers(model, req.layers, pooling).map((l) => l.name);
  const alpha = req.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new ValidationError(`alpha must be between 0 and 1 (got ${alpha})`, 'alpha');
  const params: ContrastParams = {
    model: model.id,
    layers,
    a: a.map((s) => s.id),
    b: b.map((s) => s.id),
    pooling,
    test: req.test ?? 'welch',
    correction: req.correction ?? 'bh',
    correctionScope: req.correctionScope ?? 'layer',
    alpha,
    keepActivations: req.keepActivations ?? false,
    label: req.label ?? `${a.map((s) => s.name).join('+')} > ${b.map((s) => s.name).join('+')}`,
    analysis: normaliseAnalysis(req.analysis),
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
  };
  return { params, provenance, total: nA + nB };
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

export function newJobId(): string {
  return `c_${crypto.randomBytes(8).toString('hex')}`;
}

export type JobEvent = { type: 'progress' | 'state'; job: string };

export class JobQueue {
  private running = new Map<string, AbortController>();
  private stopped = false;
  private pumping = false;
  private listeners = new Set<(e: JobEvent) => void>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly ctx: Context,
    /** Permutation engine for contrasts that ask for permutations (default: ONNX Runtime on a worker thread). */
    private readonly permutationEngine?: EngineSpec,
  ) {}

  /**
   * A localizer battery: several contrasts on one model submitted together and run in one pass
   * (each stimulus through the model once). `categories` makes every category vs the union of the
   * others (the fLoc practice); `contrasts` lists arbitrary pairs.
   */
  submitBattery(req: BatteryRequest): { id: string; jobs: JobRecord[] } {
    const { categories, contrasts, ...common } = req;
    const list: { a: string | string[]; b: string | string[]; label?: string }[] = [];
    if (categories && categories.length) {
      if (categories.length < 2) throw new ValidationError('a battery of categories needs at least two', 'categories');
      for (const c of categories) list.push({ a: c, b: categories.filter((x) => x !== c), label: `${c} > rest` });
    }
    for (const c of contrasts ?? []) list.push(c);
    if (list.length === 0) throw new ValidationError('a battery needs categories or contrasts', 'categories');
    if (common.keepActivations) throw new UnprocessableError('keepActivations is available for single contrasts, not for batteries', 'keepActivations');
    const prepared = list.map((c) => prepareContrast(this.ctx, { ...common, a: c.a, b: c.b, label: c.label }));
    const batteryId = `b_${crypto.randomBytes(8).toString('hex')}`;
    const jobs = prepared.map((p) => ({ id: newJobId(), modelId: p.params.model, params: p.params, provenance: { ...p.provenance, battery: batteryId }, total: p.total, batteryId }));
    insertJobs(this.ctx.db, jobs);
    this.pump();
    return { id: batteryId, jobs: jobs.map((j) => getJob(this.ctx.db, j.id)!) };
  }

  /** Recover jobs left running by a process that died; then start working. */
  start(): { resumed: string[]; failed: string[] } {
    const resumed: string[] = [];
    const failed: string[] = [];
    for (const j of runningJobs(this.ctx.db)) {
      rmrf(path.join(this.ctx.paths.activations, j.id));
      if (this.ctx.config.recovery === 'resume' && j.attempts < MAX_ATTEMPTS) {
        requeue(this.ctx.db, j.id, `interrupted: the server stopped while this job was running (attempt ${j.attempts}); re-queued`);
        resumed.push(j.id);
      } else {
        const why =
          this.ctx.config.recovery === 'resume'
            ? `interrupted: the server stopped while this job was running, ${j.attempts} times; giving up`
            : 'interrupted: the server stopped while this job was running';
        finishJob(this.ctx.db, j.id, 'failed', why, ['running']);
        failed.push(j.id);
      }
    }
    this.stopped = false;
    this.pump();
    return { resumed, failed };
  }

  on(fn: (e: JobEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: JobEvent): void {
    for (const l of this.listeners) l(e);
  }

  submit(req: ContrastRequest): JobRecord {
    const { params, provenance, total } = prepareContrast(this.ctx, req);
    const id = newJobId();
    insertJob(this.ctx.db, { id, modelId: params.model, params, provenance, total });
    this.pump();
    return getJob(this.ctx.db, id)!;
  }

  cancel(id: string): JobRecord {
    const j = getJob(this.ctx.db, id);
    if (!j) throw new NotFoundError('contrast', id);
    if (j.state === 'queued') {
      finishJob(this.ctx.db, id, 'cancelled', 'cancelled by request', ['queued']);
    } else if (j.state === 'running') {
      finishJob(this.ctx.db, id, 'cancelled', 'cancelled by request', ['running']);
      // A battery shares one pass: stop it only when none of its contrasts still wants it.
      const stillWanted = j.batteryId ? batteryJobs(this.ctx.db, j.batteryId, 'running').length > 0 : false;
      if (!stillWanted) this.running.get(id)?.abort();
    } else {
      throw new ConflictError(`contrast '${id}' has already ${j.state}; only queued or running contrasts can be cancelled`);
    }
    this.emit({ type: 'state', job: id });
    return getJob(this.ctx.db, id)!;
  }

  /** Resolves when nothing is running or queued (tests, CLI). */
  idle(): Promise<void> {
    if (this.activeRuns === 0 && !nextQueued(this.ctx.db, new Set())) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const ids = [...this.running.keys()];
    for (const id of ids) {
      // A graceful stop puts running jobs back in the queue; they resume at the next start.
      requeue(this.ctx.db, id, 'the server was stopped while this job was running; re-queued');
      this.running.get(id)?.abort();
    }
    const until = Date.now() + 10000;
    while (this.running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  private activeRuns = 0;

  private notifyIdle(): void {
    if (this.activeRuns === 0 && !nextQueued(this.ctx.db, new Set())) for (const w of this.idleWaiters.splice(0)) w();
  }

  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (this.activeRuns < this.ctx.config.jobConcurrency) {
        const j = nextQueued(this.ctx.db, new Set(this.running.keys()));
        if (!j) break;
        // A battery's queued contrasts run together, in one pass through the model.
        const members = j.batteryId ? batteryJobs(this.ctx.db, j.batteryId, 'queued') : [j];
        const ids = members.filter((m) => markRunning(this.ctx.db, m.id)).map((m) => m.id);
        if (ids.length === 0) continue;
        const ac = new AbortController();
        for (const id of ids) this.running.set(id, ac);
        this.activeRuns++;
        for (const id of ids) this.emit({ type: 'state', job: id });
        void this.execute(ids, ac).finally(() => {
          for (const id of ids) this.running.delete(id);
          this.activeRuns--;
          for (const id of ids) this.emit({ type: 'state', job: id });
          this.pump();
          this.notifyIdle();
        });
      }
    } finally {
      this.pumping = false;
    }
    this.notifyIdle();
  }

  private async execute(ids: string[], ac: AbortController): Promise<void> {
    const ctx = this.ctx;
    const jobs = ids.map((id) => getJob(ctx.db, id)!);
    const first = jobs[0];
    const single = jobs.length === 1 && !first.batteryId;
    const actDir = path.join(ctx.paths.activations, first.id);
    try {
      const model = findModel(ctx.db, first.params.model);
      if (!model) throw new UnprocessableError(`model '${first.params.model}' no longer exists`);
      const setOf = (s: string) => {
        const set = getSet(ctx, s);
        if (!set) throw new UnprocessableError(`stimulus set '${s}' no longer exists`);
        return set;
      };
      let stimuli: Stimulus[];
      let specs: ContrastSpec[];
      if (single) {
        stimuli = collectStimuli(ctx, first.params.a.map(setOf), first.params.b.map(setOf));
        specs = [
          {
            a: first.params.a.map((_, i) => i),
            b: first.params.b.map((_, i) => first.params.a.length + i),
          },
        ];
      } else {
        // The union of every member's sets, each stimulus once.
        const union: string[] = [];
        for (const j of jobs) for (const s of [...j.params.a, ...j.params.b]) if (!union.includes(s)) union.push(s);
        stimuli = collectStimuli(ctx, union.map(setOf), []);
        specs = jobs.map((j) => ({ a: j.params.a.map((s) => union.indexOf(s)), b: j.params.b.map((s) => union.indexOf(s)) }));
      }
      let last = 0;
      const result = await runContrasts(
        ctx,
        model,
        stimuli,
        specs,
        {
          layers: first.params.layers,
          pooling: first.params.pooling as Pooling | null,
          test: first.params.test,
          correction: first.params.correction,
          correctionScope: first.params.correctionScope,
          alpha: first.params.alpha,
          keepActivations: single && first.params.keepActivations,
          batchSize: ctx.config.batchSize,
          analysis: first.params.analysis,
        },
        {
          signal: ac.signal,
          activationsDir: actDir,
          permutationEngine: this.permutationEngine,
          onProgress: (done, total) => {
            const now = Date.now();
            if (now - last >= 200 || done === total) {
              last = now;
              if (first.batteryId) setBatteryProgress(ctx.db, first.batteryId, done, total);
              else setProgress(ctx.db, first.id, done, total);
              for (const id of ids) this.emit({ type: 'progress', job: id });
            }
          },
        },
      );
      if (ac.signal.aborted) throw new CancelledError();
      const rel = (p: string) => path.relative(ctx.paths.data, p);
      const label = (s: Stimulus) => s.item.label ?? (s.item.text ? s.item.text.slice(0, 200) : null);
      let storedAny = false;
      jobs.forEach((j, ci) => {
        const layers = result.contrasts[ci];
        // Each contrast lists its own stimuli: A's sets, then B's.
        const own: { condition: 'a' | 'b'; setId: string; sha256: string; label: string | null }[] = [];
        for (const [cond, setIds] of [['a', j.params.a], ['b', j.params.b]] as const)
          for (const sid of setIds) for (const s of result.stimuli) if (s.setId === sid) own.push({ condition: cond, setId: sid, sha256: s.item.sha256, label: label(s) });
        const stored = storeSuccess(
          ctx.db,
          j.id,
          layers,
          own,
          layers
            .filter((l) => l.activations)
            .map((l) => ({ layer: l.name, rows: l.activations!.rows, units: l.units, path: rel(l.activations!.path), rowIndexPath: rel(l.activations!.rowIndexPath) })),
          { ...result.timings, contrastsInPass: jobs.length },
        );
        storedAny ||= stored;
      });
      if (!storedAny || !single) rmrf(actDir);
    } catch (e) {
      rmrf(actDir);
      if (e instanceof CancelledError || ac.signal.aborted) {
        // cancel() or stop() already set the state.
        return;
      }
      const msg = e instanceof AppError ? e.message : `internal error during the contrast: ${(e as Error).message}`;
      for (const id of ids) finishJob(ctx.db, id, 'failed', msg, ['running']);
    }
  }
}
