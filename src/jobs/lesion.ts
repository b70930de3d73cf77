/**
 * Running a lesion job (jobs.kind = 'lesion'): its stored configurations become lesion configurations
 * (zero, mean or scale on their units), the pipeline evaluates them all on one session of the model's
 * lesion copy, and the per-stimulus values, the partial sums and the summary are stored at once.
 * Also: the lesion configuration a contrast on a lesioned model runs with.
 */
import path from 'node:path';
import { UnprocessableError } from '../domain/errors.ts';
import type { LesionConfig, LesionInfo, LesionMode, LesionParams } from '../domain/lesion.ts';
import type { ModelRecord, StimulusItem } from '../domain/records.ts';
import { foldPartials, summarise } from '../pipeline/lesion-summary.ts';
import { runLesionEvaluation, type EvalStimulus, type UnitMeans } from '../pipeline/lesion.ts';
import type { PassExecutor } from '../pipeline/shards.ts';
import type { WarmPools } from '../pipeline/warm-pools.ts';
import type { Context } from '../store/context.ts';
import { modelDir, readItemBytes } from '../store/files.ts';
import { getLesionJob, lesionConfigs, lesionMeans, storeLesionSuccess, type LesionJobRecord, type StoredConfig } from '../store/lesions-repo.ts';
import { findModel } from '../store/models-repo.ts';
import { getSet, setItems } from '../store/sets-repo.ts';

/** The lesion configuration of stored units under a mode (mean: each unit's mean over the reference sets). */
export function configFor(c: Pick<StoredConfig, 'layers'>, mode: LesionMode, factor: number | null, means: UnitMeans | null): LesionConfig {
  return {
    layers: c.layers.map((l) => {
      const units = Array.from(l.units);
      const m = mode === 'mean' ? means?.layers.get(l.layer) : undefined;
      if (mode === 'mean' && !m) throw new UnprocessableError(`no unit means for layer '${l.layer}'`);
      return {
        layer: l.layer,
        units,
        scale: units.map(() => (mode === 'scale' ? (factor ?? 1) : 0)),
        offset: units.map((u) => (mode === 'mean' ? m!.mean[u] : 0)),
      };
    }),
  };
}

export function requireLesionInfo(model: ModelRecord): LesionInfo {
  const l = model.info.lesion;
  if (!l) throw new UnprocessableError(`model '${model.name}' has no behaviour outputs (manifest 'outputs'); lesions need them`);
  return l;
}

/** Runs one lesion job; throws on failure (the queue records it). */
export async function runLesionJob(
  ctx: Context,
  job: LesionJobRecord,
  signal: AbortSignal,
  { remote, pools }: { remote: PassExecutor | null; pools?: WarmPools | null },
  onProgress: (done: number, total: number) => void): Promise<void> {
  const p: LesionParams = job.params;
  const model = findModel(ctx.db, p.model);
  if (!model) throw new UnprocessableError(`model '${p.model}' no longer exists`);
  const info = requireLesionInfo(model);
  const output = info.outputs.find((o) => o.name === p.output);
  if (!output) throw new UnprocessableError(`model '${model.name}' has no output '${p.output}'`);
  const itemsOf = (s: string): StimulusItem[] => {
    if (!getSet(ctx.db, s)) throw new UnprocessableError(`stimulus set '${s}' no longer exists`);
    return setItems(ctx.db, s);
  };
  const classIndex = new Map((output.classes ?? []).map((c, i) => [c, i]));
  const stimuli: EvalStimulus[] = [];
  p.sets.forEach((s, setIndex) => {
    for (const item of itemsOf(s)) stimuli.push({ setIndex, item, label: item.classLabel ? (classIndex.get(item.classLabel) ?? -1) : -1 });
  });
  const stored = lesionConfigs(ctx.db, job.id);
  const layersUsed = [...new Set(stored.flatMap((c) => c.layers.map((l) => l.layer)))];
  const dir = modelDir(ctx, model);
  const result = await runLesionEvaluation(
    {
      model,
      onnxPath: path.join(dir, info.file),
      modelDir: dir,
      lesion: info,
      readImage: (item) => readItemBytes(ctx, item),
      workers: ctx.config.workers,
      intraOpThreads: ctx.config.intraOpThreads,
      batchSize: ctx.config.batchSize,
      shardBatches: ctx.config.shardBatches,
      remote,
      pools,
    },
    {
      stimuli,
      output,
      reference: p.mode === 'mean' ? { items: p.reference.flatMap(itemsOf), layers: layersUsed } : null,
      configs: (means) => stored.slice(1).map((c) => configFor(c, p.mode, p.factor, means)),
    },
    { signal, onProgress },
  );
  const setOf = Int32Array.from(stimuli.map((s) => s.setIndex));
  const partials = foldPartials(result.values, stored.length, setOf, p.sets.length);
  const sets = p.sets.map((id, i) => {
    const set = getSet(ctx.db, id)!;
    return { id, name: set.name, items: stimuli.filter((s) => s.setIndex === i).length, labelled: stimuli.filter((s) => s.setIndex === i && s.label >= 0).length };
  });
  const summary = summarise({ kind: output.kind, outputName: output.name, sets, doses: p.doses, configs: stored, partials, specificity: p.specificity });
  const stimuliDoc = stimuli.map((s, idx) => ({ idx, set: s.setIndex, setId: p.sets[s.setIndex], sha256: s.item.sha256, label: s.item.label ?? (s.item.text ? s.item.text.slice(0, 200) : null), classLabel: s.item.classLabel ?? null }));
  storeLesionSuccess(ctx.db, job.id, {
    summary,
    partials,
    stimuli: stimuliDoc,
    values: result.values,
    configs: stored.length,
    means: result.means?.layers ?? null,
    timings: { ...result.timings },
  });
}

/** The configuration a contrast on a lesioned model runs with: lesion job `id`, configuration `config`. */
export function lesionConfigOf(ctx: Context, id: string, config: number): { job: LesionJobRecord; config: LesionConfig } {
  const job = getLesionJob(ctx.db, id);
  if (!job) throw new UnprocessableError(`lesion '${id}' no longer exists`);
  const c = lesionConfigs(ctx.db, id, { idx: config })[0];
  if (!c) throw new UnprocessableError(`lesion '${id}' has no configuration ${config}`);
  const means = job.params.mode === 'mean' ? { layers: lesionMeans(ctx.db, id) } : null;
  return { job, config: configFor(c, job.params.mode, job.params.factor, means) };
}
