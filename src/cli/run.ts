/**
 * `toposcope run`: the contrast pipeline without HTTP. Registers the model and the sets (folders or
 * files) in the data directory if needed, runs the job through the same queue as the API, prints a
 * per-layer table and writes maps to --out. Also the tables the other commands print.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AnalysisRequest } from '../domain/analysis.ts';
import { AppError, NotFoundError, ValidationError } from '../domain/errors.ts';
import type { JobRecord, LayerSummary, ModelRecord } from '../domain/records.ts';
import { clustersOf, exportMaps, layerResults, submitContrast, waitForJob, type ContrastRequest } from '../usecases/contrasts.ts';
import { registerModelFromFolder, requireModel } from '../usecases/models.ts';
import type { Context, Service } from '../usecases/service.ts';
import { createImageSet, createSetFromPath, createTextSet, findSet, folderLabels, parseTextBody } from '../usecases/stimulus-sets.ts';

export interface RunArgs {
  model: string;
  a: string[];
  b: string[];
  layers?: string[];
  out?: string;
  pooling?: ContrastRequest['pooling'];
  test?: ContrastRequest['test'];
  correction?: ContrastRequest['correction'];
  correctionScope?: ContrastRequest['correctionScope'];
  alpha?: number;
  keepActivations?: boolean;
  threshold?: number;
  label?: string;
  analysis?: AnalysisRequest;
}

export interface RunResult {
  job: JobRecord;
  model: ModelRecord;
  outDir: string;
  files: string[];
  summaries: { name: string; summary: LayerSummary }[];
}

async function resolveModel(ctx: Context, ref: string): Promise<ModelRecord> {
  if (fs.existsSync(ref) && fs.statSync(ref).isDirectory()) {
    return (await registerModelFromFolder(ctx, ref, { trusted: true, source: `cli:${path.resolve(ref)}` })).model;
  }
  try {
    return requireModel(ctx, ref);
  } catch (e) {
    if (e instanceof NotFoundError) throw new ValidationError(`--model '${ref}' is neither a folder with model.onnx + manifest.json nor a registered model id or name`, 'model');
    throw e;
  }
}

export async function resolveSet(ctx: Context, ref: string, flag: string): Promise<string> {
  if (fs.existsSync(ref)) {
    const p = path.resolve(ref);
    const st = fs.statSync(p);
    const name = path.basename(p).replace(/\.(txt|json)$/i, '');
    if (st.isDirectory()) {
      const files = fs.readdirSync(p).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
      if (!files.length) throw new ValidationError(`${flag} '${ref}' has no PNG or JPEG files`, flag);
      const labels = folderLabels(p);
      return (await createImageSet(ctx, name, files.map((f) => ({ name: f, data: fs.readFileSync(path.join(p, f)), classLabel: labels?.[f] ?? null })), `cli:${p}`)).set.id;
    }
    return createTextSet(ctx, name, parseTextBody(fs.readFileSync(p, 'utf8')), `cli:${p}`).set.id;
  }
  const s = findSet(ctx, ref);
  if (s) return s.id;
  try {
    return (await createSetFromPath(ctx, ref)).set.id;
  } catch {
    throw new ValidationError(`${flag} '${ref}' is neither a folder/file of stimuli nor a registered set id or name`, flag);
  }
}

export class Progress {
  private last = -1;
  private readonly tty: boolean;
  constructor(private readonly stream: NodeJS.WriteStream) {
    this.tty = Boolean(stream.isTTY);
  }
  update(done: number, total: number): void {
    const frac = total ? done / total : 0;
    if (this.tty) {
      const width = 30;
      const filled = Math.round(frac * width);
      this.stream.write(`\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} stimuli`);
      if (done === total) this.stream.write('\n');
      return;
    }
    const step = Math.floor(frac * 10);
    if (step !== this.last) {
      this.last = step;
      this.stream.write(`progress ${done}/${total} stimuli (${Math.round(frac * 100)}%)\n`);
    }
  }
}

function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return v.toFixed(digits);
}

export function summaryTable(rows: { name: string; summary: LayerSummary }[]): string {
  const head = ['layer', 'units', 'sheet', 'nA', 'nB', 'sig', '+', '-', 'max t', 'min t', 'peak (row,col)', 'peak q'];
  const body = rows.map(({ name, summary: s }) => [
    name,
    String(s.units),
    `${s.rows}x${s.cols}`,
    String(s.nA),
    String(s.nB),
    String(s.significant),
    String(s.significantPositive),
    String(s.significantNegative),
    fmt(s.maxT, 2),
    fmt(s.minT, 2),
    s.peak ? `(${s.peak.row},${s.peak.col})` : '-',
    s.peak ? fmt(s.peak.q) : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Per layer: Moran's I (unsmoothed, its permutation p), clusters, FWE and reliability when computed. */
export function analysisTable(ctx: Context, job: JobRecord): string {
  const head = ['layer', "Moran's I", 'p(I)', 'clusters +/-', 'largest (size, peak t)', 'FWE<=.05', 'split-half r (SB)'];
  const orDash = (v: number | null) => (v === null ? '-' : fmt(v));
  const body = layerResults(ctx, job.id).map((l) => {
    const a = l.analysis;
    const cl = clustersOf(ctx, job.id, l.name);
    return [
      l.name,
      orDash(a.moran.I),
      orDash(a.moran.p),
      `${a.clusterCount.positive}/${a.clusterCount.negative}`,
      cl.length ? `${cl[0].size}, ${fmt(cl[0].peakT, 2)}` : '-',
      a.permutation ? String(a.permutation.unitsFWE05) : '-',
      a.reliability ? `${fmt(a.reliability.meanR ?? NaN)} (${fmt(a.reliability.meanSpearmanBrown ?? NaN)})` : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export async function runCommand(service: Service, args: RunArgs, io: { out: NodeJS.WriteStream; err: NodeJS.WriteStream } = { out: process.stdout, err: process.stderr }): Promise<RunResult> {
  const { ctx, jobs } = service;
  const model = await resolveModel(ctx, args.model);
  const a: string[] = [];
  for (const r of args.a) a.push(await resolveSet(ctx, r, '--a'));
  const b: string[] = [];
  for (const r of args.b) b.push(await resolveSet(ctx, r, '--b'));
  const progress = new Progress(io.err);
  jobs.start();
  let job = submitContrast(ctx, jobs, {
    model: model.id,
    a,
    b,
    layers: args.layers,
    pooling: args.pooling,
    test: args.test,
    correction: args.correction,
    correctionScope: args.correctionScope,
    alpha: args.alpha,
    keepActivations: args.keepActivations,
    label: args.label,
    analysis: args.analysis,
  });
  io.err.write(`contrast ${job.id}: ${job.params.label} on ${model.name} (${job.progressTotal} stimuli, layers ${job.params.layers.join(', ')})\n`);
  try {
    job = await waitForJob(jobs, ctx, job.id, (done, total) => progress.update(done, total));
  } finally {
    await jobs.stop();
  }
  if (job.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `contrast ${job.id} ${job.state}: ${job.error ?? ''}`);
  const outDir = path.resolve(args.out ?? path.join('out', job.id));
  const files = await exportMaps(ctx, job, outDir, args.threshold);
  const summaries = layerResults(ctx, job.id).map((l) => ({ name: l.name, summary: l.summary }));
  io.out.write(`\n${job.params.label} — ${model.name}, ${job.params.test} t, ${job.params.correction} q <= ${job.params.alpha}\n`);
  io.out.write(summaryTable(summaries) + '\n');
  io.out.write('\n' + analysisTable(ctx, job) + '\n');
  const t = job.timings ?? {};
  io.out.write(`\ntime ${(t.totalMs / 1000).toFixed(2)} s (inference ${(t.inferenceMs / 1000).toFixed(2)} s in workers, stats ${(t.statsMs ?? 0).toFixed(0)} ms)\n`);
  io.out.write(`maps written to ${outDir}\n`);
  return { job, model, outDir, files, summaries };
}
