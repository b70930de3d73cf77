/**
 * CLI commands for what a region encodes (issue 10): `top-stimuli`, `profile` and `selectivity`. They run
 * the same use cases and job queue as the API, print tables and write the figures and JSON to --out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Example, ProfileResult, SelectivityRecord, TopStimuliResult } from '../domain/encoding.ts';
import { AppError, ValidationError } from '../domain/errors.ts';
import { requireContrast, submitBattery, waitForJob } from '../usecases/contrasts.ts';
import {
  createSelectivity,
  profilePng,
  profileSvg,
  profileView,
  selectivityMapPng,
  submitProfile,
  submitTopStimuli,
  topStimuliHistogramPng,
  topStimuliHistogramSvg,
  topStimuliView,
  waitForEncodingJob,
  type ProfileRequest,
  type RegionRequest,
  type TopStimuliRequest,
} from '../usecases/encoding.ts';
import type { Service } from '../usecases/service.ts';

export interface CliKit {
  withService: <T>(o: { data?: string }, fn: (s: Service) => Promise<T>) => Promise<T>;
  fixtures: (s: Service) => Promise<void>;
  dataOpt: () => Option;
  integer: (v: string) => number;
  number: (v: string) => number;
  list: (v: string, prev?: string[]) => string[];
}

const fmt = (v: number | null | undefined, d = 4) => (v === null || v === undefined || !Number.isFinite(v) ? 'nan' : v.toFixed(d));
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

function progress(label: string) {
  let last = -1;
  return (done: number, total: number) => {
    const pct = total ? Math.floor((100 * done) / total) : 0;
    if (pct >= last + 10 || done === total) {
      last = pct;
      process.stderr.write(`${label}: ${done}/${total} stimuli (${pct}%)\n`);
    }
  };
}

function write(dir: string, name: string, data: string | Buffer): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

function exampleLine(e: Example, rank: number): string {
  const what = e.text !== null ? JSON.stringify(clip(oneLine(e.text), 110)) : (e.label ?? `${e.setName}#${e.position}`);
  let peak = '';
  if (e.tokens && e.tokens.values.length) {
    let j = 0;
    e.tokens.values.forEach((v, i) => {
      if (v > e.tokens!.values[j]) j = i;
    });
    peak = `  [peak token '${e.tokens.tokens[j]}' ${fmt(e.tokens.values[j], 3)}]`;
  }
  return `${String(rank).padStart(4)}  ${fmt(e.value).padStart(9)}  ${clip(e.setName, 22).padEnd(22)}  ${what}${peak}`;
}

export function topStimuliTable(r: TopStimuliResult): string {
  const lines = [`${r.region.label}: ${r.region.nUnits} units, ${r.n} stimuli, mean ${fmt(r.mean)} (${r.pooling} pooling)`, '', 'top'];
  r.top.forEach((e, i) => lines.push(exampleLine(e, i + 1)));
  if (r.bottom.length) {
    lines.push('', 'bottom');
    r.bottom.forEach((e, i) => lines.push(exampleLine(e, i + 1)));
  }
  lines.push('', 'quantile groups');
  for (const q of r.quantiles) {
    lines.push(`  q ${fmt(q.fromQuantile, 2)}–${fmt(q.toQuantile, 2)}  values ${fmt(q.lo, 3)}…${fmt(q.hi, 3)}  n=${q.count}`);
    q.examples.forEach((e, i) => lines.push(`  ${exampleLine(e, i + 1)}`));
  }
  return lines.join('\n');
}

export function profileTable(r: ProfileResult): string {
  const lines = [`${r.mode}, ${r.splits} split(s), fROI ${[...new Set(r.roiUnits)].join('/')} units; ${Math.round(r.bootstrap.level * 100)}% percentile-bootstrap CIs (${r.bootstrap.resamples} resamples)`, ''];
  lines.push(`${'category'.padEnd(24)} ${'n'.padStart(5)} ${'excl'.padStart(5)}  ${'fROI mean [CI]'.padEnd(30)}  control mean [CI]`);
  for (const c of r.categories) {
    const ci = (x: { mean: number; lo: number; hi: number } | null) => (x ? `${fmt(x.mean)} [${fmt(x.lo)}, ${fmt(x.hi)}]` : '—');
    lines.push(`${clip(c.name, 24).padEnd(24)} ${String(c.measured).padStart(5)} ${String(c.excluded).padStart(5)}  ${ci(c.roi).padEnd(30)}  ${ci(c.control)}`);
  }
  if (r.effect) {
    const e = r.effect;
    lines.push('', `${e.a} vs ${e.b}: fROI d = ${fmt(e.roi.d, 3)} [${fmt(e.roi.lo, 3)}, ${fmt(e.roi.hi, 3)}], Welch t = ${fmt(e.t, 2)} (df ${fmt(e.df, 1)}, p ${e.p.toExponential(2)})`);
    if (e.control) lines.push(`${' '.repeat(e.a.length + e.b.length + 6)}control d = ${fmt(e.control.d, 3)} [${fmt(e.control.lo, 3)}, ${fmt(e.control.hi, 3)}]`);
  }
  return lines.join('\n');
}

export function selectivityTable(s: SelectivityRecord): string {
  const names = s.categories.map((c) => c.name);
  const lines = [`${s.modelName}: selectivity across ${names.join(', ')} (battery ${s.battery}, threshold d′ ≥ ${s.threshold})`, ''];
  lines.push(`${'layer'.padEnd(10)} ${'units'.padStart(5)}  ${'SI mean/med'.padEnd(13)}  ${'sparse mean/med'.padEnd(15)}  ${'nAbove'.padStart(6)}  ${'0/1/≥2'.padEnd(14)}  ${'selective'.padStart(9)}  ${'agree/chance'.padEnd(13)}  preferred (${names.join('/')}/none)`);
  for (const l of s.layers) {
    lines.push(
      `${clip(l.layer, 10).padEnd(10)} ${String(l.units).padStart(5)}  ${`${fmt(l.meanSI, 3)}/${fmt(l.medianSI, 3)}`.padEnd(13)}  ${`${fmt(l.meanSparseness, 3)}/${fmt(l.medianSparseness, 3)}`.padEnd(15)}  ${fmt(l.meanNAbove, 2).padStart(6)}  ${l.nAboveFractions.map((f) => fmt(f, 2)).join('/').padEnd(14)}  ${fmt(l.selectiveFraction, 3).padStart(9)}  ${`${fmt(l.neighbourAgreement, 3)}/${fmt(l.neighbourChance, 3)}`.padEnd(13)}  ${[...l.preferredCounts, l.noPreference].join('/')}`,
    );
  }
  return lines.join('\n');
}

function regionFrom(o: { mask?: string; unit?: string; cluster?: string; layer?: string }): RegionRequest {
  const given = [o.mask, o.unit, o.cluster, o.layer].filter((x) => x !== undefined).length;
  if (given !== 1) throw new ValidationError('give exactly one of --mask ID, --unit LAYER:UNIT, --cluster CONTRAST:LAYER:ID, --layer NAME', 'region');
  if (o.mask) return { kind: 'mask', mask: o.mask };
  if (o.layer) return { kind: 'layer', layer: o.layer };
  if (o.unit) {
    const i = o.unit.lastIndexOf(':');
    const unit = Number(o.unit.slice(i + 1));
    if (i < 1 || !Number.isInteger(unit)) throw new ValidationError(`--unit '${o.unit}' is not LAYER:UNIT`, 'unit');
    return { kind: 'unit', layer: o.unit.slice(0, i), unit };
  }
  const [contrast, layer, id] = o.cluster!.split(':');
  const cluster = Number(id);
  if (!contrast || !layer || !Number.isInteger(cluster)) throw new ValidationError(`--cluster '${o.cluster}' is not CONTRAST:LAYER:ID`, 'cluster');
  return { kind: 'cluster', contrast, layer, cluster };
}

export function addEncodingCommands(program: Command, kit: CliKit): void {
  const { withService, fixtures, dataOpt, integer, list } = kit;

  program
    .command('top-stimuli')
    .description("the stimuli that drive a region most and least (one streaming pass), its response histogram and quantile examples; text examples' per-token activations")
    .option('--model <ref>', 'model id or name (implied by --mask / --cluster)')
    .option('--mask <id>', 'region: a stored mask')
    .option('--unit <layer:unit>', 'region: one unit')
    .option('--cluster <contrast:layer:id>', 'region: a cluster of a contrast')
    .option('--layer <name>', 'region: every unit of a layer')
    .requiredOption('--sets <sets>', 'registered set ids or names (comma-separated or repeated)', list)
    .option('--k <n>', 'top stimuli', integer)
    .option('--bottom-k <n>', 'bottom stimuli (default k)', integer)
    .option('--quantiles <n>', 'quantile groups', integer)
    .option('--per-quantile <n>', 'examples per quantile group', integer)
    .option('--seed <n>', 'seed of the quantile examples', integer)
    .option('--per-unit', 'also keep heaps for every unit of the region')
    .addOption(new Option('--pooling <p>', 'pooling override').choices(['mean', 'max', 'last']))
    .option('--no-tokens', 'skip the per-token re-run of text examples')
    .option('--out <dir>', 'write result.json and histogram.png/.svg here')
    .addOption(dataOpt())
    .action(async (o: { data?: string; model?: string; mask?: string; unit?: string; cluster?: string; layer?: string; sets: string[]; k?: number; bottomK?: number; quantiles?: number; perQuantile?: number; seed?: number; perUnit?: boolean; pooling?: 'mean' | 'max' | 'last'; tokens: boolean; out?: string }) => {
      await withService(o, async (s) => {
        await fixtures(s);
        s.jobs.start();
        const req: TopStimuliRequest = { model: o.model, region: regionFrom(o), sets: o.sets, k: o.k, bottomK: o.bottomK, quantiles: o.quantiles, perQuantile: o.perQuantile, seed: o.seed, perUnit: o.perUnit, pooling: o.pooling, tokens: o.tokens };
        const job = submitTopStimuli(s.ctx, s.jobs, req);
        process.stderr.write(`top-stimuli ${job.id}: ${job.label}\n`);
        const done = await waitForEncodingJob(s.jobs, s.ctx, 'top-stimuli', job.id, progress(job.id));
        await s.jobs.stop();
        if (done.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `top-stimuli ${done.id} ${done.state}: ${done.error ?? ''}`);
        const v = topStimuliView(s.ctx, job.id);
        process.stdout.write(`${topStimuliTable(v.result!)}\n`);
        if (o.out) {
          const dir = path.resolve(o.out);
          write(dir, 'result.json', JSON.stringify(v, null, 2));
          write(dir, 'histogram.svg', topStimuliHistogramSvg(s.ctx, job.id));
          write(dir, 'histogram.png', await topStimuliHistogramPng(s.ctx, job.id));
          process.stdout.write(`written to ${dir}\n`);
        }
      });
    });

  program
    .command('profile')
    .description("an fROI's cross-validated response to each category (split-half within a localizer, or an independent mask) with bootstrap CIs and the matched random control")
    .option('--model <ref>', 'model id or name (split-half)')
    .option('--localizer-a <sets>', 'split-half: condition a of the localizer', list)
    .option('--localizer-b <sets>', 'split-half: condition b', list)
    .option('--layers <names>', 'split-half: layers the fROI is chosen from', list)
    .option('--percent <p>', 'split-half: top percent of units by t', kit.number)
    .addOption(new Option('--scope <s>', 'split-half: rank per layer or across layers').choices(['layer', 'all']))
    .addOption(new Option('--sign <s>', 'split-half: which tail of t').choices(['positive', 'negative']))
    .option('--mask <id>', 'an independent localizer: a stored mask')
    .requiredOption('--measure <sets>', 'the categories measured (one set each)', list)
    .option('--splits <n>', 'split-half: seeded splits', integer)
    .option('--seed <n>', 'seed of the splits, controls and bootstrap', integer)
    .option('--resamples <n>', 'bootstrap resamples', integer)
    .option('--level <x>', 'confidence level', kit.number)
    .option('--effect <a,b>', "two measured sets: their held-out Cohen's d", list)
    .option('--no-control', 'skip the matched random control')
    .addOption(new Option('--pooling <p>', 'pooling override').choices(['mean', 'max', 'last']))
    .option('--out <dir>', 'write result.json, splits and profile.png/.svg here')
    .addOption(dataOpt())
    .action(async (o: { data?: string; model?: string; localizerA?: string[]; localizerB?: string[]; layers?: string[]; percent?: number; scope?: 'layer' | 'all'; sign?: 'positive' | 'negative'; mask?: string; measure: string[]; splits?: number; seed?: number; resamples?: number; level?: number; effect?: string[]; control: boolean; pooling?: 'mean' | 'max' | 'last'; out?: string }) => {
      if ((o.localizerA === undefined) !== (o.localizerB === undefined)) throw new ValidationError('give both --localizer-a and --localizer-b', 'localizer');
      if (o.effect && o.effect.length !== 2) throw new ValidationError('--effect takes two sets: A,B', 'effect');
      await withService(o, async (s) => {
        await fixtures(s);
        s.jobs.start();
        const req: ProfileRequest = {
          model: o.model,
          localizer: o.localizerA ? { a: o.localizerA, b: o.localizerB!, layers: o.layers, percent: o.percent, scope: o.scope, sign: o.sign } : undefined,
          mask: o.mask,
          measure: o.measure,
          splits: o.splits,
          seed: o.seed,
          resamples: o.resamples,
          level: o.level,
          control: o.control,
          effect: o.effect ? { a: o.effect[0], b: o.effect[1] } : undefined,
          pooling: o.pooling,
        };
        const job = submitProfile(s.ctx, s.jobs, req);
        process.stderr.write(`profile ${job.id}: ${job.label}\n`);
        const done = await waitForEncodingJob(s.jobs, s.ctx, 'profile', job.id, progress(job.id));
        await s.jobs.stop();
        if (done.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `profile ${done.id} ${done.state}: ${done.error ?? ''}`);
        const v = profileView(s.ctx, job.id);
        process.stdout.write(`${profileTable(v.result!)}\n`);
        if (o.out) {
          const dir = path.resolve(o.out);
          write(dir, 'result.json', JSON.stringify(v, null, 2));
          write(dir, 'profile.svg', profileSvg(s.ctx, job.id));
          write(dir, 'profile.png', await profilePng(s.ctx, job.id));
          process.stdout.write(`written to ${dir}\n`);
        }
      });
    });

  program
    .command('selectivity')
    .description('per-unit selectivity across a battery of categories (d′ each vs rest, preferred category, SI, lifetime sparseness, categories above threshold)')
    .option('--battery <id>', 'a stored battery of categories')
    .option('--model <ref>', 'or: run a battery of --categories on this model first')
    .option('--categories <sets>', 'the categories (comma-separated)', list)
    .option('--layers <names>', 'layers of the battery (default all)', list)
    .option('--threshold <d>', "d′ threshold (default 0.5)", kit.number)
    .option('--out <dir>', 'write selectivity.json and maps (preferred, si, sparseness, n-above) per layer')
    .addOption(dataOpt())
    .action(async (o: { data?: string; battery?: string; model?: string; categories?: string[]; layers?: string[]; threshold?: number; out?: string }) => {
      if (!o.battery && !(o.model && o.categories)) throw new ValidationError('give --battery ID, or --model and --categories', 'battery');
      await withService(o, async (s) => {
        await fixtures(s);
        let battery = o.battery;
        if (!battery) {
          s.jobs.start();
          const b = submitBattery(s.ctx, s.jobs, { model: o.model!, categories: o.categories!, layers: o.layers });
          process.stderr.write(`battery ${b.id}: ${b.jobs.length} categories, one pass over ${b.jobs[0].progressTotal} stimuli\n`);
          for (const j of b.jobs) await waitForJob(s.jobs, s.ctx, j.id);
          await s.jobs.stop();
          for (const j of b.jobs) {
            const r = requireContrast(s.ctx, j.id);
            if (r.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `contrast ${r.id} ${r.state}: ${r.error ?? ''}`);
          }
          battery = b.id;
        }
        const sel = createSelectivity(s.ctx, { battery, threshold: o.threshold });
        process.stdout.write(`selectivity ${sel.id}\n${selectivityTable(sel)}\n`);
        if (o.out) {
          const dir = path.resolve(o.out);
          write(dir, 'selectivity.json', JSON.stringify(sel, null, 2));
          for (const l of sel.layers) for (const stat of ['preferred', 'si', 'sparseness', 'n-above'] as const) write(dir, `${l.layer}.${stat}.png`, await selectivityMapPng(s.ctx, sel.id, l.layer, { stat }));
          process.stdout.write(`written to ${dir}\n`);
        }
      });
    });
}
