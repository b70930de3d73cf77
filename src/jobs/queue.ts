/**
 * The in-process job queue: jobs persist in SQLite and move queued → running → succeeded | failed |
 * cancelled. Up to `jobConcurrency` run at once, oldest first. At start-up, jobs left `running` by
 * a dead process are re-queued (recovery 'resume', at most MAX_ATTEMPTS starts) or failed with a
 * reason (recovery 'fail'); never left running.
 */
import path from 'node:path';
import { AppError, ConflictError, NotFoundError, UnprocessableError } from '../domain/errors.ts';
import type { Pooling } from '../domain/manifest.ts';
import type { JobRecord, ModelRecord } from '../domain/records.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import type { EngineSpec } from '../pipeline/analysis-worker.ts';
import { CancelledError, runContrasts, type ContrastEnv, type ContrastSpec } from '../pipeline/contrast.ts';
import { planStimuli, type PlannedLayer, type Stimulus } from '../pipeline/plan.ts';
import type { Context } from '../store/context.ts';
import { activationsDir, EXPOSED_FILE, modelDir, readItemBytes, rmrf } from '../store/files.ts';
import { getLesionJob, insertLesionJob, type NewLesionJob, type StoredConfig } from '../store/lesions-repo.ts';
import { lesionConfigOf, requireLesionInfo, runLesionJob } from './lesion.ts';
import { getEncodingJob } from '../store/encoding-repo.ts';
import { runEncodingJob } from './encoding-job.ts';
import { Distributed, type QueueStatus } from './distributed.ts';
import type { PassExecutor } from '../pipeline/shards.ts';
import { WarmPools } from '../pipeline/warm-pools.ts';
import { deleteJobPasses } from '../store/passes-repo.ts';
import {
  batteryJobs,
  finishJob,
  getJob,
  insertJobs,
  markRunning,
  nextQueued,
  requeue,
  runningJobs,
  setBatteryProgress,
  setProgress,
  type NewJob,
} from '../store/jobs-repo.ts';
import { findModel, getSheet } from '../store/models-repo.ts';
import { storeSuccess, type StoredStimulus } from '../store/results-repo.ts';
import { getSet, setItems } from '../store/sets-repo.ts';

/**
 * What the pipeline needs to run a stored model here. With `lesion` (a configuration of a lesion job),
 * the model's lesion copy runs with that configuration and every layer is read after its lesion site.
 */
export function contrastEnv(ctx: Context, model: ModelRecord, lesion?: { id: string; config: number }): ContrastEnv {
  const dir = modelDir(ctx, model);
  if (lesion) {
    const info = requireLesionInfo(model);
    const { config } = lesionConfigOf(ctx, lesion.id, lesion.config);
    const outputOf = new Map(info.sites.map((s) => [s.layer, s.output]));
    const lesioned: ModelRecord = { ...model, info: { ...model.info, layers: model.info.layers.map((l) => ({ ...l, tensor: outputOf.get(l.name) ?? l.tensor })) } };
    return { ...contrastEnv(ctx, model), model: lesioned, onnxPath: path.join(dir, info.file), lesion: { sites: info.sites, config } };
  }
  return {
    model,
    onnxPath: path.join(dir, EXPOSED_FILE),
    modelDir: dir,
    sheetOf: (l: PlannedLayer): SheetLayout => {
      const s = getSheet(ctx.db, model.id, l.name);
      if (!s) throw new UnprocessableError(`model '${model.name}' has no stored sheet for layer '${l.name}'`);
      return s;
    },
    readImage: (item) => readItemBytes(ctx, item),
    workers: ctx.config.workers,
    intraOpThreads: ctx.config.intraOpThreads,
    imageCache: { dir: path.join(ctx.paths.data, 'cache', 'images'), maxBytes: ctx.config.imageCacheBytes },
    shardBatches: ctx.config.shardBatches,
    poolInGraph: ctx.config.poolInGraph,
  };
}

export const MAX_ATTEMPTS = 3;

export type JobEvent = { type: 'progress' | 'state'; job: string };

export class JobQueue {
  /** Distributed mode (TOPOSCOPE_REDIS_URL): passes run on the workers of a BullMQ queue. */
  readonly distributed: Distributed | null;
  private running = new Map<string, AbortController>();
  private stopped = false;
  private pumping = false;
  private listeners = new Set<(e: JobEvent) => void>();
  private idleWaiters: (() => void)[] = [];
  /** Session pools kept open between this queue's jobs (TOPOSCOPE_SESSION_IDLE_SECONDS). */
  readonly pools: WarmPools;

  constructor(
    private readonly ctx: Context,
    /** Permutation engine for contrasts that ask for permutations (default: ONNX Runtime on a worker thread). */
    private readonly permutationEngine?: EngineSpec,
    log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {
    this.distributed = ctx.config.redisUrl ? new Distributed(ctx, ctx.config.redisUrl, log) : null;
    this.pools = new WarmPools((ctx.config.sessionIdleSeconds ?? 0) * 1000);
  }

  /** Where a job's passes run: null here, else the workers of the queue. */
  private remoteFor(jobId: string): PassExecutor | null {
    const d = this.distributed;
    return d ? { run: (plan, onShard, hooks) => d.run(jobId, plan, onShard, hooks) } : null;
  }

  /** The distributed queue's state for /health (null in embedded mode). */
  async queueStatus(): Promise<QueueStatus | null> {
    return this.distributed ? this.distributed.status() : null;
  }

  /** Stores a lesion job with its configurations and starts it when its turn comes. */
  enqueueLesion(job: NewLesionJob, configs: StoredConfig[]): string {
    insertLesionJob(this.ctx.db, job, configs);
    this.pump();
    return job.id;
  }

  /** Stores the jobs (one contrast, or the contrasts of a battery) and starts them when their turn comes. */
  enqueue(jobs: NewJob[]): JobRecord[] {
    insertJobs(this.ctx.db, jobs);
    this.pump();
    return jobs.map((j) => getJob(this.ctx.db, j.id)!);
  }

  /** Recover jobs left running by a process that died; then start working. */
  start(): { resumed: string[]; failed: string[] } {
    const resumed: string[] = [];
    const failed: string[] = [];
    for (const j of runningJobs(this.ctx.db)) {
      rmrf(activationsDir(this.ctx, j.id));
      if (this.ctx.config.recovery === 'resume' && j.attempts < MAX_ATTEMPTS) {
        requeue(this.ctx.db, j.id, `interrupted: the server stopped while this job was running (attempt ${j.attempts}); re-queued`);
        resumed.push(j.id);
      } else {
        deleteJobPasses(this.ctx, j.id);
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

  cancel(id: string): JobRecord {
    const j = getJob(this.ctx.db, id);
    if (!j) throw new NotFoundError('contrast', id);
    const what = j.kind === 'lesion' ? 'lesion' : 'contrast';
    if (j.state === 'queued') {
      finishJob(this.ctx.db, id, 'cancelled', 'cancelled by request', ['queued']);
    } else if (j.state === 'running') {
      finishJob(this.ctx.db, id, 'cancelled', 'cancelled by request', ['running']);
      // A battery shares one pass: stop it only when none of its contrasts still wants it.
      const stillWanted = j.batteryId ? batteryJobs(this.ctx.db, j.batteryId, 'running').length > 0 : false;
      if (!stillWanted) this.running.get(id)?.abort();
    } else {
      throw new ConflictError(`${what} '${id}' has already ${j.state}; only queued or running ${what}s can be cancelled`);
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
    this.distributed?.suspend();
    const ids = [...this.running.keys()];
    for (const id of ids) {
      // A graceful stop puts running jobs back in the queue; they resume at the next start.
      requeue(this.ctx.db, id, 'the server was stopped while this job was running; re-queued');
      this.running.get(id)?.abort();
    }
    const until = Date.now() + 10000;
    while (this.running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.pools.close();
    await this.distributed?.close();
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
          // Partials of distributed passes are kept only for a job that resumes after a stop.
          if (!this.stopped) this.distributed?.endJob(ids[0]);
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

  /** A lesion job: the evaluation, then its results stored at once. */
  private async executeLesion(id: string, ac: AbortController): Promise<void> {
    const ctx = this.ctx;
    try {
      const job = getLesionJob(ctx.db, id);
      if (!job) throw new UnprocessableError(`lesion '${id}' no longer exists`);
      let last = 0;
      await runLesionJob(ctx, job, ac.signal, { remote: this.remoteFor(id), pools: this.pools }, (done, total) => {
        const now = Date.now();
        if (now - last >= 200 || done === total) {
          last = now;
          setProgress(ctx.db, id, done, total, 'lesion configurations');
          this.emit({ type: 'progress', job: id });
        }
      });
    } catch (e) {
      if (e instanceof CancelledError || ac.signal.aborted) return;
      const msg = e instanceof AppError ? e.message : `internal error during the lesion: ${(e as Error).message}`;
      finishJob(ctx.db, id, 'failed', msg, ['running']);
    }
  }

  private async execute(ids: string[], ac: AbortController): Promise<void> {
    const ctx = this.ctx;
    const jobs = ids.map((id) => getJob(ctx.db, id)!);
    const first = jobs[0];
    if (first.kind === 'lesion') return this.executeLesion(first.id, ac);
    if (first.kind !== 'contrast') return this.executeEncoding(first.id, ac);
    const single = jobs.length === 1 && !first.batteryId;
    const actDir = activationsDir(ctx, first.id);
    try {
      const model = findModel(ctx.db, first.params.model);
      if (!model) throw new UnprocessableError(`model '${first.params.model}' no longer exists`);
      const itemsOf = (s: string) => {
        if (!getSet(ctx.db, s)) throw new UnprocessableError(`stimulus set '${s}' no longer exists`);
        return setItems(ctx.db, s);
      };
      let stimuli: Stimulus[];
      let specs: ContrastSpec[];
      let setList: string[];
      if (single) {
        setList = [...first.params.a, ...first.params.b];
        stimuli = planStimuli(first.params.a, first.params.b, itemsOf);
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
        setList = union;
        stimuli = planStimuli(union, [], itemsOf);
        specs = jobs.map((j) => ({ a: j.params.a.map((s) => union.indexOf(s)), b: j.params.b.map((s) => union.indexOf(s)) }));
      }
      let last = 0;
      let lastStage = '';
      const result = await runContrasts(
        { ...contrastEnv(ctx, model, single && first.params.lesion ? first.params.lesion : undefined), remote: this.remoteFor(first.id), pools: this.pools },
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
          onProgress: (done, total, stage = 'inference') => {
            const now = Date.now();
            if (now - last >= 200 || stage !== lastStage) {
              last = now;
              lastStage = stage;
              if (first.batteryId) setBatteryProgress(ctx.db, first.batteryId, done, total, stage);
              else setProgress(ctx.db, first.id, done, total, stage);
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
        const own: StoredStimulus[] = [];
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
          model.modality === 'text'
            ? { maxTokens: model.manifest.input.text!.maxTokens, sets: Object.fromEntries([...j.params.a, ...j.params.b].map((s) => [s, result.truncatedBySet[setList.indexOf(s)] ?? 0])) }
            : null,
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

  /** The encoding job kinds (issue 10: 'top-stimuli', 'profile'); see encoding-job.ts. */
  private async executeEncoding(id: string, ac: AbortController): Promise<void> {
    const ctx = this.ctx;
    try {
      const job = getEncodingJob(ctx.db, id);
      if (!job) throw new UnprocessableError(`job '${id}' has an unknown kind`);
      const model = findModel(ctx.db, job.modelId);
      if (!model) throw new UnprocessableError(`model '${job.modelId}' no longer exists`);
      let last = 0;
      await runEncodingJob(ctx, job, { ...contrastEnv(ctx, model), remote: this.remoteFor(id), pools: this.pools }, {
        signal: ac.signal,
        onProgress: (done, total) => {
          const now = Date.now();
          if (now - last >= 200 || done === total) {
            last = now;
            setProgress(ctx.db, id, done, total, job.kind);
            this.emit({ type: 'progress', job: id });
          }
        },
      });
    } catch (e) {
      if (e instanceof CancelledError || ac.signal.aborted) return;
      const msg = e instanceof AppError ? e.message : `internal error during the job: ${(e as Error).message}`;
      finishJob(ctx.db, id, 'failed', msg, ['running']);
    }
  }
}
