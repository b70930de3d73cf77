/**
 * Entry point: `toposcope serve | run | demo | openapi`.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.ts';
import { closeContext, createContext, type Context } from './store/context.ts';
import { AppError } from './domain/errors.ts';
import { registerFixtures } from './usecases/fixtures.ts';
import { buildApp } from './http/app.ts';
import { analysisTable, runCommand, summaryTable, writeMaps, type RunArgs } from './cli/run.ts';
import { JobQueue, type AnalysisRequest } from './jobs/queue.ts';
import { getJob, layerSummaries } from './store/jobs-repo.ts';
import { createControlMask, createMask, type MaskRequest } from './usecases/masks.ts';
import { compareMaps, type MapRef } from './usecases/comparisons.ts';
import { findModel } from './store/models-repo.ts';
import { findSet } from './usecases/stimulus-sets.ts';

const USAGE = `toposcope — functional localizers on topographic neural networks

usage:
  toposcope serve [--port N] [--host H] [--data DIR]
  toposcope run --model DIR|ID|NAME --a SET [--a SET ...] --b SET [--b SET ...]
                [--layers L1,L2] [--out DIR] [--pooling mean|max|last|tokens]
                [--test welch|student] [--correction bh|by|holm|bonferroni|none]
                [--scope layer|all] [--alpha 0.05] [--threshold T] [--keep-activations] [--data DIR]
                [--seed S] [--cluster-scale p|abs-t] [--cluster-threshold X] [--connectivity 4|8]
                [--min-size K] [--tfce] [--moran-permutations N] [--permutations N]
                [--reliability SPLITS] [--reliability-threshold T]
  toposcope battery --model ID|NAME --categories A,B,C [--layers ...] [--out DIR] [analysis flags]
                each category vs the rest, in one pass through the model
  toposcope mask --name N --kind top-percent|significant|cluster|explicit [--contrast ID]
                [--percent 1] [--scope layer|all] [--sign positive|negative|both] [--correction bh]
                [--alpha 0.05] [--layer L --cluster K] [--model M --units '{"layer":[1,2]}'] [--control-seed S]
  toposcope compare --map CONTRAST:LAYER[:STAT] --map ... (Pearson r and SSIM matrices)
  toposcope demo [--port N] [--no-serve]   run the bundled fixture contrasts, write maps, serve /docs

A SET is a folder of PNG/JPEG files, a .txt (one text per line) or .json file, or a registered set id or name.
Environment: TOPOSCOPE_DATA_DIR, TOPOSCOPE_PORT, TOPOSCOPE_API_KEY, TOPOSCOPE_WORKERS, TOPOSCOPE_ORT_THREADS, ... (see README).`;

function configFrom(values: { data?: string; port?: string; host?: string }): Config {
  const over: Partial<Config> = {};
  if (values.data) over.dataDir = path.resolve(values.data);
  if (values.port) over.port = Number(values.port);
  if (values.host) over.host = values.host;
  return loadConfig(process.env, over);
}

async function serve(ctx: Context, announce?: string[]): Promise<void> {
  const app = await buildApp(ctx, { logger: { level: ctx.config.logLevel } });
  const shutdown = async (sig: string) => {
    app.log.info(`${sig}: shutting down`);
    await app.close();
    closeContext(ctx);
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  const address = await app.listen({ port: ctx.config.port, host: ctx.config.host });
  for (const l of announce ?? []) process.stdout.write(l + '\n');
  process.stdout.write(`toposcope serving at ${address} — API docs at ${address}/docs\n`);
}

async function fixtures(ctx: Context): Promise<void> {
  if (!ctx.config.registerFixtures) return;
  const r = await registerFixtures(ctx);
  const created = r.models.filter((m) => m.created).length + r.sets.filter((s) => s.created).length;
  process.stderr.write(`fixtures: ${r.models.length} models, ${r.sets.length} stimulus sets (${created} newly registered)\n`);
  for (const e of r.errors) process.stderr.write(`fixture error: ${e}\n`);
}

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new AppError(400, 'VALIDATION', `'${v}' is not a number`);
  return n;
}

const ANALYSIS_FLAGS = {
  seed: { type: 'string' },
  'cluster-scale': { type: 'string' },
  'cluster-threshold': { type: 'string' },
  connectivity: { type: 'string' },
  'min-size': { type: 'string' },
  tfce: { type: 'boolean' },
  'moran-permutations': { type: 'string' },
  permutations: { type: 'string' },
  reliability: { type: 'string' },
  'reliability-threshold': { type: 'string' },
} as const;

type Flags = Record<string, string | boolean | string[] | undefined>;

function analysisFrom(v: Flags): AnalysisRequest {
  const s = (k: string) => v[k] as string | undefined;
  const a: AnalysisRequest = {
    seed: num(s('seed')),
    clusters: {
      scale: s('cluster-scale') as 'p' | 'abs-t' | undefined,
      threshold: num(s('cluster-threshold')),
      connectivity: num(s('connectivity')) as 4 | 8 | undefined,
      minSize: num(s('min-size')),
      tfce: v.tfce as boolean | undefined,
    },
    topography: { permutations: num(s('moran-permutations')) },
    permutations: s('permutations') ? { n: num(s('permutations'))! } : null,
    reliability: s('reliability') ? { splits: num(s('reliability'))!, threshold: num(s('reliability-threshold')) } : null,
  };
  stripUndefined(a as Record<string, unknown>);
  return a;
}

function stripUndefined(o: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) delete o[k];
    else if (v && typeof v === 'object') stripUndefined(v as Record<string, unknown>);
  }
}

const DEMO_CONTRASTS: { model: string; a: string; b: string }[] = [
  { model: 'topo-cnn', a: 'faces', b: 'objects' },
  { model: 'flat-cnn', a: 'faces', b: 'objects' },
  { model: 'topo-gpt', a: 'toxic', b: 'neutral' },
  { model: 'flat-gpt', a: 'toxic', b: 'neutral' },
];

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  const rest = argv.slice(1);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === 'serve') {
    const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, host: { type: 'string' }, data: { type: 'string' } } });
    const ctx = createContext(configFrom(values));
    await fixtures(ctx);
    await serve(ctx);
    return -1; // keep running
  }
  if (cmd === 'run') {
    const { values } = parseArgs({
      args: rest,
      options: {
        model: { type: 'string' },
        a: { type: 'string', multiple: true },
        b: { type: 'string', multiple: true },
        layers: { type: 'string' },
        out: { type: 'string' },
        pooling: { type: 'string' },
        test: { type: 'string' },
        correction: { type: 'string' },
        scope: { type: 'string' },
        alpha: { type: 'string' },
        threshold: { type: 'string' },
        label: { type: 'string' },
        'keep-activations': { type: 'boolean' },
        data: { type: 'string' },
        ...ANALYSIS_FLAGS,
      },
    });
    if (!values.model || !values.a?.length || !values.b?.length) {
      process.stderr.write('run needs --model, --a and --b\n\n' + USAGE + '\n');
      return 2;
    }
    const ctx = createContext(configFrom(values));
    try {
      await fixtures(ctx);
      const args: RunArgs = {
        model: values.model,
        a: values.a.flatMap((s) => s.split(',')).filter(Boolean),
        b: values.b.flatMap((s) => s.split(',')).filter(Boolean),
        layers: values.layers ? values.layers.split(',').filter(Boolean) : undefined,
        out: values.out,
        pooling: values.pooling as RunArgs['pooling'],
        test: values.test as RunArgs['test'],
        correction: values.correction as RunArgs['correction'],
        correctionScope: values.scope as RunArgs['correctionScope'],
        alpha: values.alpha !== undefined ? Number(values.alpha) : undefined,
        threshold: values.threshold !== undefined ? Number(values.threshold) : undefined,
        keepActivations: values['keep-activations'],
        label: values.label,
        analysis: analysisFrom(values),
      };
      await runCommand(ctx, args);
      return 0;
    } finally {
      closeContext(ctx);
    }
  }
  if (cmd === 'battery') {
    const { values } = parseArgs({
      args: rest,
      options: { model: { type: 'string' }, categories: { type: 'string' }, layers: { type: 'string' }, out: { type: 'string' }, data: { type: 'string' }, test: { type: 'string' }, correction: { type: 'string' }, alpha: { type: 'string' }, ...ANALYSIS_FLAGS },
    });
    if (!values.model || !values.categories) {
      process.stderr.write('battery needs --model and --categories a,b,c\n\n' + USAGE + '\n');
      return 2;
    }
    const ctx = createContext(configFrom(values));
    try {
      await fixtures(ctx);
      const queue = new JobQueue(ctx);
      queue.start();
      const model = findModel(ctx.db, values.model);
      if (!model) throw new AppError(400, 'VALIDATION', `--model '${values.model}' is not a registered model id or name`);
      const r = queue.submitBattery({
        model: model.id,
        categories: values.categories.split(',').filter(Boolean),
        layers: values.layers ? values.layers.split(',') : undefined,
        test: values.test as 'welch' | 'student' | undefined,
        correction: values.correction as RunArgs['correction'],
        alpha: num(values.alpha),
        analysis: analysisFrom(values),
      });
      process.stderr.write(`battery ${r.id}: ${r.jobs.length} contrasts in one pass over ${r.jobs[0].progressTotal} stimuli\n`);
      await queue.idle();
      await queue.stop();
      const outRoot = path.resolve(values.out ?? path.join('out', r.id));
      for (const j0 of r.jobs) {
        const j = getJob(ctx.db, j0.id)!;
        if (j.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `contrast ${j.id} ${j.state}: ${j.error ?? ''}`);
        const dir = path.join(outRoot, (j.params.label ?? j.id).replace(/[^A-Za-z0-9_.+-]+/g, '_'));
        await writeMaps(ctx, j, dir);
        process.stdout.write(`\n${j.params.label} (${j.id})\n${summaryTable(layerSummaries(ctx.db, j.id))}\n${analysisTable(ctx, j)}\nmaps written to ${dir}\n`);
      }
      return 0;
    } finally {
      closeContext(ctx);
    }
  }
  if (cmd === 'mask') {
    const { values } = parseArgs({
      args: rest,
      options: {
        name: { type: 'string' },
        kind: { type: 'string' },
        contrast: { type: 'string' },
        layers: { type: 'string' },
        percent: { type: 'string' },
        scope: { type: 'string' },
        sign: { type: 'string' },
        correction: { type: 'string' },
        alpha: { type: 'string' },
        layer: { type: 'string' },
        cluster: { type: 'string' },
        model: { type: 'string' },
        units: { type: 'string' },
        'control-seed': { type: 'string' },
        data: { type: 'string' },
      },
    });
    if (!values.name || !values.kind) {
      process.stderr.write('mask needs --name and --kind top-percent|significant|cluster|explicit\n\n' + USAGE + '\n');
      return 2;
    }
    const ctx = createContext(configFrom(values));
    try {
      const mask = createMask(ctx, {
        name: values.name,
        kind: values.kind as MaskRequest['kind'],
        contrast: values.contrast,
        layers: values.layers ? values.layers.split(',') : undefined,
        percent: num(values.percent),
        scope: values.scope as MaskRequest['scope'],
        sign: values.sign as MaskRequest['sign'],
        correction: values.correction as MaskRequest['correction'],
        alpha: num(values.alpha),
        layer: values.layer,
        cluster: num(values.cluster),
        model: values.model,
        units: values.units ? (JSON.parse(values.units) as Record<string, number[]>) : undefined,
      });
      const out: Record<string, unknown> = { mask: { id: mask.id, name: mask.name, kind: mask.kind, nUnits: mask.nUnits, layers: mask.layers.map((l) => ({ layer: l.layer, nUnits: l.nUnits })) } };
      if (values['control-seed'] !== undefined) {
        const c = createControlMask(ctx, mask.id, num(values['control-seed'])!);
        out.control = { id: c.id, name: c.name, nUnits: c.nUnits };
      }
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return 0;
    } finally {
      closeContext(ctx);
    }
  }
  if (cmd === 'compare') {
    const { values } = parseArgs({ args: rest, options: { map: { type: 'string', multiple: true }, data: { type: 'string' } } });
    if (!values.map || values.map.length < 2) {
      process.stderr.write('compare needs at least two --map CONTRAST:LAYER[:STAT]\n\n' + USAGE + '\n');
      return 2;
    }
    const ctx = createContext(configFrom(values));
    try {
      const refs = values.map.map((m) => {
        const [contrast, layer, stat] = m.split(':');
        return { contrast, layer, stat: stat as MapRef['stat'] };
      });
      const r = compareMaps(ctx, refs);
      const fmtM = (m: number[][]) => m.map((row) => row.map((v) => (v === null || Number.isNaN(v) ? '   nan' : v.toFixed(3).padStart(6))).join(' ')).join('\n');
      process.stdout.write(`comparison ${r.id}\n${r.maps.map((m, i) => `[${i}] ${m.contrast} ${m.layer} ${m.stat} (${m.label ?? ''})`).join('\n')}\n\nPearson r\n${fmtM(r.pearson)}\n\nSSIM\n${fmtM(r.ssim)}\n`);
      return 0;
    } finally {
      closeContext(ctx);
    }
  }
  if (cmd === 'demo') {
    const { values } = parseArgs({
      args: rest,
      options: { port: { type: 'string' }, host: { type: 'string' }, data: { type: 'string' }, 'no-serve': { type: 'boolean' }, out: { type: 'string' } },
    });
    const ctx = createContext(configFrom(values));
    await fixtures(ctx);
    const outRoot = path.resolve(values.out ?? 'out/demo');
    const lines: string[] = [];
    for (const c of DEMO_CONTRASTS) {
      if (!findModel(ctx.db, c.model) || !findSet(ctx, c.a) || !findSet(ctx, c.b)) {
        process.stderr.write(`demo: skipping ${c.model} ${c.a} vs ${c.b} (fixture not present)\n`);
        continue;
      }
      const r = await runCommand(ctx, { model: c.model, a: [c.a], b: [c.b], out: path.join(outRoot, `${c.model}-${c.a}-vs-${c.b}`), threshold: 3 });
      lines.push(`maps for ${c.model} ${c.a} vs ${c.b}: ${r.outDir}`);
    }
    for (const l of lines) process.stdout.write(l + '\n');
    if (values['no-serve']) {
      closeContext(ctx);
      return 0;
    }
    await serve(ctx, lines);
    return -1;
  }
  process.stderr.write(`unknown command '${cmd}'\n\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof AppError) process.stderr.write(`error: ${e.message}\n`);
    else process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
