/**
 * `toposcope lesion`: a lesion through the same queue as the API, a table of the results on stdout
 * (per dose and set: intact, lesioned, Δ, the random and spatial controls' mean ± sd, z and p; then the
 * specificity), the figures and per-stimulus values written to --out.
 */
import path from 'node:path';
import { AppError, ValidationError } from '../domain/errors.ts';
import type { LesionRequest, LesionView } from '../usecases/lesions.ts';
import { exportLesion, lesionView, submitLesion, waitForLesion } from '../usecases/lesions.ts';
import { submitContrast, waitForJob } from '../usecases/contrasts.ts';
import type { Service } from '../usecases/service.ts';
import { Progress, resolveSet } from './run.ts';

export interface LesionArgs {
  model?: string;
  contrast?: string;
  localize?: string;
  mask?: string;
  topPercent?: number[];
  topCount?: number[];
  cluster?: string;
  units?: Record<string, number[]>;
  layers?: string[];
  sign?: LesionRequest['sign'];
  mode?: LesionRequest['mode'];
  factor?: number;
  reference?: string[];
  sets: string[];
  output?: string;
  random?: number;
  spatial?: number;
  seed?: number;
  specificity?: string[];
  label?: string;
  out?: string;
}

const f = (v: number | null | undefined, d = 4) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2) : v.toFixed(d));

/** The results of a lesion as a plain-text table. */
export function lesionTable(v: LesionView): string {
  const r = v.results;
  if (!r) return `lesion ${v.id}: ${v.state}${v.error ? ` (${v.error})` : ''}`;
  const m = r.primary;
  const head = ['dose', 'set', 'measure', 'intact', 'lesioned', 'Δ', 'random mean ± sd', 'z', 'p', 'spatial mean ± sd', 'z', 'p'];
  const rows: string[][] = [];
  for (const d of r.doses) {
    const dose = d.dose ? ('percent' in d.dose ? `${d.dose.percent} %` : `${d.dose.count}`) : '-';
    for (const s of d.sets) {
      const ra = s.random[m];
      const sp = s.spatial[m];
      rows.push([dose, s.name, m, f(s.intact[m]), f(s.lesion[m]), f(s.delta[m]), ra.n ? `${f(ra.mean)} ± ${f(ra.sd)}` : '-', f(ra.z, 2), f(ra.p, 3), sp.n ? `${f(sp.mean)} ± ${f(sp.sd)}` : '-', f(sp.z, 2), f(sp.p, 3)]);
    }
    if (d.specificity) {
      const sp = d.specificity;
      rows.push([dose, `${r.sets[sp.a].name} − ${r.sets[sp.b].name}`, `Δ${sp.measure}`, '', '', f(sp.delta), sp.random.n ? `${f(sp.random.mean)} ± ${f(sp.random.sd)}` : '-', f(sp.random.z, 2), f(sp.random.p, 3), sp.spatial.n ? `${f(sp.spatial.mean)} ± ${f(sp.spatial.sd)}` : '-', f(sp.spatial.z, 2), f(sp.spatial.p, 3)]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (x: string[]) => x.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const units = v.doses.map((d) => `${d.units} units (${Object.entries(d.unitsPerLayer).map(([l, n]) => `${l} ${n}`).join(', ')})`).join('; ');
  return [`lesion ${v.id}: ${v.label}`, `units: ${units}`, '', line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export async function lesionCommand(service: Service, a: LesionArgs, io: { out: NodeJS.WriteStream; err: NodeJS.WriteStream } = { out: process.stdout, err: process.stderr }): Promise<LesionView> {
  const { ctx, jobs } = service;
  const sources = [a.contrast || a.localize ? 'contrast' : null, a.mask ? 'mask' : null, a.units ? 'units' : null].filter(Boolean);
  if (sources.length !== 1) throw new ValidationError('give exactly one of --contrast/--localize (with --top-percent, --top-count or --cluster), --mask, --units', 'contrast');
  const progress = new Progress(io.err);
  jobs.start();
  try {
    let contrast = a.contrast;
    if (a.localize) {
      if (!a.model) throw new ValidationError('--localize needs --model', 'model');
      const [ra, rb] = a.localize.split(':');
      if (!ra || !rb) throw new ValidationError("--localize is 'A:B' (two sets, or comma-separated unions)", 'localize');
      const setsOf = async (s: string, flag: string) => Promise.all(s.split(',').filter(Boolean).map((x) => resolveSet(ctx, x, flag)));
      const c = submitContrast(ctx, jobs, { model: a.model, a: await setsOf(ra, '--localize'), b: await setsOf(rb, '--localize') });
      io.err.write(`contrast ${c.id}: ${c.params.label}\n`);
      const done = await waitForJob(jobs, ctx, c.id, (x, n) => progress.update(x, n));
      if (done.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `contrast ${c.id} ${done.state}: ${done.error ?? ''}`);
      contrast = c.id;
    }
    const sets: string[] = [];
    for (const s of a.sets) sets.push(await resolveSet(ctx, s, '--sets'));
    const reference = a.reference ? await Promise.all(a.reference.map((s) => resolveSet(ctx, s, '--reference'))) : undefined;
    let from: LesionRequest['from'] = 'explicit';
    let cluster: LesionRequest['cluster'];
    let layer: string | undefined;
    if (a.mask) from = 'mask';
    else if (contrast) {
      if (a.cluster !== undefined) {
        from = 'cluster';
        if (a.cluster === 'largest') cluster = 'largest';
        else {
          const [l, id] = a.cluster.includes(':') ? a.cluster.split(':') : [undefined, a.cluster];
          if (id === 'largest') cluster = 'largest';
          else {
            cluster = Number(id);
            if (!Number.isInteger(cluster) || cluster < 1) throw new ValidationError(`--cluster '${a.cluster}' is 'largest', 'LAYER:largest' or 'LAYER:ID'`, 'cluster');
          }
          layer = l;
        }
      } else from = 'top';
    }
    const req: LesionRequest = {
      from,
      sets,
      ...(a.model ? { model: a.model } : {}),
      ...(from === 'top' || from === 'cluster' ? { contrast } : {}),
      ...(a.mask ? { mask: a.mask } : {}),
      ...(a.units ? { units: a.units } : {}),
      ...(from === 'top' ? { ...(a.topPercent ? { percent: a.topPercent } : {}), ...(a.topCount ? { count: a.topCount } : {}), ...(a.layers ? { layers: a.layers } : {}) } : {}),
      ...(from === 'cluster' ? { cluster, ...(layer ? { layer } : {}) } : {}),
      ...(a.sign ? { sign: a.sign } : {}),
      ...(a.mode ? { mode: a.mode } : {}),
      ...(a.factor !== undefined ? { factor: a.factor } : {}),
      ...(reference ? { reference } : {}),
      ...(a.output ? { output: a.output } : {}),
      controls: { ...(a.random !== undefined ? { random: a.random } : {}), ...(a.spatial !== undefined ? { spatial: a.spatial } : {}), ...(a.seed !== undefined ? { seed: a.seed } : {}) },
      ...(a.specificity ? { specificity: [a.specificity[0], a.specificity[1]] as [string, string] } : {}),
      ...(a.label ? { label: a.label } : {}),
    };
    const job = submitLesion(ctx, jobs, req);
    io.err.write(`lesion ${job.id}: ${job.params.label} (${job.progressTotal} stimulus evaluations)\n`);
    const done = await waitForLesion(jobs, ctx, job.id, (x, n) => progress.update(x, n));
    if (done.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `lesion ${job.id} ${done.state}: ${done.error ?? ''}`);
    const view = lesionView(ctx, done);
    io.out.write(`\n${lesionTable(view)}\n`);
    const outDir = path.resolve(a.out ?? path.join('out', job.id));
    await exportLesion(ctx, job.id, outDir);
    io.out.write(`\nfigures and per-stimulus values written to ${outDir}\n`);
    return view;
  } finally {
    await jobs.stop();
  }
}
