/**
 * The command line: every command and flag in one commander program. Commands open the data
 * directory, call use cases, print tables; `serve` and `demo` hand the service to the HTTP server.
 */
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, VERSION, type Config } from '../config.ts';
import type { AnalysisRequest } from '../domain/analysis.ts';
import { AppError } from '../domain/errors.ts';
import { compareMaps } from '../usecases/comparisons.ts';
import { exportMaps, layerResults, requireContrast, submitBattery, waitForJob } from '../usecases/contrasts.ts';
import { registerFixtures } from '../usecases/fixtures.ts';
import { createControlMask, createMask, type MaskRequest } from '../usecases/masks.ts';
import { findModelRecord } from '../usecases/models.ts';
import { closeService, openService, type Service } from '../usecases/service.ts';
import { findSet } from '../usecases/stimulus-sets.ts';
import { analysisTable, runCommand, summaryTable, type RunArgs } from './run.ts';
import { lesionCommand, type LesionArgs } from './lesion.ts';
import { addEncodingCommands } from './encoding.ts';

export type Serve = (service: Service, announce?: string[]) => Promise<void>;

/** What `toposcope worker` starts (src/worker), given its flags. */
export interface WorkerArgs {
  redis: string;
  api: string;
  concurrency: number;
  threads: number;
  cache: string | null;
  key: string | null;
  stalledMs: number;
  imageCacheBytes: number;
}
export type Work = (args: WorkerArgs) => Promise<void>;

const number = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`'${v}' is not a number`);
  return n;
};
const integer = (v: string): number => {
  const n = number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`'${v}' is not an integer`);
  return n;
};
const list = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').filter(Boolean)];

interface DataOpts {
  data?: string;
  port?: number;
  host?: string;
  redis?: string;
}

/** The configuration of a command; only `serve` coordinates distributed workers (TOPOSCOPE_REDIS_URL). */
function configFrom(o: DataOpts, serving = false): Config {
  const over: Partial<Config> = {};
  if (!serving) over.redisUrl = null;
  if (o.redis) over.redisUrl = o.redis;
  if (o.data) over.dataDir = path.resolve(o.data);
  if (o.port !== undefined) over.port = o.port;
  if (o.host) over.host = o.host;
  return loadConfig(process.env, over);
}

async function fixtures(service: Service): Promise<void> {
  if (!service.ctx.config.registerFixtures) return;
  const r = await registerFixtures(service.ctx);
  const created = r.models.filter((m) => m.created).length + r.sets.filter((s) => s.created).length;
  process.stderr.write(`fixtures: ${r.models.length} models, ${r.sets.length} stimulus sets (${created} newly registered)\n`);
  for (const e of r.errors) process.stderr.write(`fixture error: ${e}\n`);
}

/** Opens the service for one command and closes it after (unless the command keeps it, e.g. to serve). */
async function withService<T>(o: DataOpts, fn: (s: Service) => Promise<T>, keep = false): Promise<T> {
  const service = openService(configFrom(o, keep));
  try {
    return await fn(service);
  } finally {
    if (!keep) await closeService(service);
  }
}

interface AnalysisFlags {
  seed?: number;
  clusterScale?: 'p' | 'abs-t';
  clusterThreshold?: number;
  connectivity?: number;
  minSize?: number;
  tfce?: boolean;
  moranPermutations?: number;
  permutations?: number;
  reliability?: number;
  reliabilityThreshold?: number;
}

function withAnalysisFlags(c: Command): Command {
  return c
    .option('--seed <n>', 'seed of every random step', integer)
    .addOption(new Option('--cluster-scale <scale>', 'scale of the cluster-forming threshold').choices(['p', 'abs-t']))
    .option('--cluster-threshold <x>', "cluster-forming threshold on that scale (default 0.001 for 'p', 3 for 'abs-t')", number)
    .addOption(new Option('--connectivity <n>', 'neighbours on the sheet').choices(['4', '8']).argParser(integer))
    .option('--min-size <k>', 'smallest cluster kept', integer)
    .option('--tfce', 'also compute TFCE')
    .option('--moran-permutations <n>', "spatial permutations for Moran's I", integer)
    .option('--permutations <n>', 'label permutations for FWE p', integer)
    .option('--reliability <splits>', 'split-half reliability with this many splits', integer)
    .option('--reliability-threshold <t>', '|t| threshold of the Dice masks', number);
}

function analysisFrom(o: AnalysisFlags): AnalysisRequest {
  const a: AnalysisRequest = {};
  if (o.seed !== undefined) a.seed = o.seed;
  const clusters: NonNullable<AnalysisRequest['clusters']> = {};
  if (o.clusterScale) clusters.scale = o.clusterScale;
  if (o.clusterThreshold !== undefined) clusters.threshold = o.clusterThreshold;
  if (o.connectivity !== undefined) clusters.connectivity = o.connectivity as 4 | 8;
  if (o.minSize !== undefined) clusters.minSize = o.minSize;
  if (o.tfce) clusters.tfce = true;
  if (Object.keys(clusters).length) a.clusters = clusters;
  if (o.moranPermutations !== undefined) a.topography = { permutations: o.moranPermutations };
  if (o.permutations !== undefined) a.permutations = { n: o.permutations };
  if (o.reliability !== undefined) a.reliability = { splits: o.reliability, ...(o.reliabilityThreshold !== undefined ? { threshold: o.reliabilityThreshold } : {}) };
  return a;
}

const DEMO_CONTRASTS: { model: string; a: string; b: string }[] = [
  { model: 'topo-cnn', a: 'faces', b: 'objects' },
  { model: 'flat-cnn', a: 'faces', b: 'objects' },
  { model: 'topo-gpt', a: 'toxic', b: 'neutral' },
  { model: 'flat-gpt', a: 'toxic', b: 'neutral' },
];

export function buildProgram(serve: Serve, work: Work): Command {
  const program = new Command('toposcope')
    .description('Functional localizers on topographic neural networks')
    .version(VERSION)
    .showHelpAfterError()
    .addHelpText('after', '\nA SET is a folder of PNG/JPEG files, a .txt (one text per line) or .json file, or a registered set id or name.\nEnvironment: TOPOSCOPE_DATA_DIR, TOPOSCOPE_PORT, TOPOSCOPE_API_KEY, TOPOSCOPE_WORKERS, TOPOSCOPE_ORT_THREADS, ... (see README).');
  const dataOpt = () => new Option('--data <dir>', 'data directory (default TOPOSCOPE_DATA_DIR or ./data)');

  program
    .command('serve')
    .description('serve the API, Swagger at /docs and the viewer at /')
    .option('--port <n>', 'port', integer)
    .option('--host <h>', 'host')
    .option('--redis <url>', 'coordinate distributed workers through this Redis (default TOPOSCOPE_REDIS_URL; unset: run jobs here)')
    .addOption(dataOpt())
    .action(async (o: DataOpts) => {
      await withService(o, async (s) => {
        await fixtures(s);
        await serve(s);
      }, true);
    });

  program
    .command('worker')
    .description("take shards of distributed jobs from the queue, run them, send their partials to the coordinator (see docs/scale-out.md)")
    .requiredOption('--redis <url>', "the queue's Redis (the coordinator's TOPOSCOPE_REDIS_URL)")
    .requiredOption('--api <url>', "the coordinator's base URL, e.g. http://10.0.0.5:3000")
    .option('--concurrency <n>', 'shards at once, one ONNX Runtime session each', integer, 1)
    .option('--threads <n>', 'ONNX Runtime threads per session (default: cores / concurrency)', integer)
    .option('--cache <dir>', 'cache of model files, stimuli and decoded images (default ~/.cache/toposcope)')
    .option('--key <key>', "the coordinator's API key (default TOPOSCOPE_API_KEY)")
    .action(async (o: { redis: string; api: string; concurrency: number; threads?: number; cache?: string; key?: string }) => {
      const cfg = loadConfig(process.env);
      if (!(o.concurrency >= 1)) throw new InvalidArgumentError('--concurrency must be at least 1');
      const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
      await work({
        redis: o.redis,
        api: o.api,
        concurrency: o.concurrency,
        threads: Math.max(1, o.threads ?? Math.floor(cores / o.concurrency)),
        cache: o.cache ? path.resolve(o.cache) : null,
        key: o.key ?? cfg.apiKey,
        stalledMs: cfg.stalledMs,
        imageCacheBytes: cfg.imageCacheBytes,
      });
    });

  withAnalysisFlags(
    program
      .command('run')
      .description('run one contrast (A vs B), print the per-layer table and write the maps')
      .requiredOption('--model <ref>', 'model folder, id or name')
      .requiredOption('--a <sets>', 'condition A: sets (repeat or comma-separate for a union)', list)
      .requiredOption('--b <sets>', 'condition B: sets', list)
      .option('--layers <names>', 'layers (default all)', list)
      .option('--out <dir>', 'where the maps go (default out/<contrast id>)')
      .addOption(new Option('--pooling <p>', 'pooling override').choices(['mean', 'max', 'last', 'tokens']))
      .addOption(new Option('--test <t>', 'the t-test').choices(['welch', 'student']))
      .addOption(new Option('--correction <c>', 'multiple-comparison correction').choices(['bh', 'by', 'holm', 'bonferroni', 'none']))
      .addOption(new Option('--scope <s>', 'correct per layer or across all layers').choices(['layer', 'all']))
      .option('--alpha <a>', 'level of q for the significant counts', number)
      .option('--threshold <t>', 'outline |t| >= T on the t-maps', number)
      .option('--label <text>', 'label of the contrast')
      .option('--keep-activations', 'store the pooled stimuli × units matrices')
      .addOption(dataOpt()),
  ).action(async (o: DataOpts & AnalysisFlags & Omit<RunArgs, 'analysis' | 'correctionScope'> & { scope?: RunArgs['correctionScope'] }) => {
    await withService(o, async (s) => {
      await fixtures(s);
      await runCommand(s, { ...o, correctionScope: o.scope, analysis: analysisFrom(o) });
    });
  });

  withAnalysisFlags(
    program
      .command('battery')
      .description('each category vs the rest, in one pass through the model')
      .requiredOption('--model <ref>', 'model id or name')
      .requiredOption('--categories <sets>', 'the categories (comma-separated)', list)
      .option('--layers <names>', 'layers (default all)', list)
      .option('--out <dir>', 'where the maps go')
      .addOption(new Option('--test <t>', 'the t-test').choices(['welch', 'student']))
      .addOption(new Option('--correction <c>', 'multiple-comparison correction').choices(['bh', 'by', 'holm', 'bonferroni', 'none']))
      .option('--alpha <a>', 'level of q', number)
      .addOption(dataOpt()),
  ).action(async (o: DataOpts & AnalysisFlags & { model: string; categories: string[]; layers?: string[]; out?: string; test?: 'welch' | 'student'; correction?: RunArgs['correction']; alpha?: number }) => {
    await withService(o, async ({ ctx, jobs }) => {
      await fixtures({ ctx, jobs });
      const model = findModelRecord(ctx, o.model);
      if (!model) throw new AppError(400, 'VALIDATION', `--model '${o.model}' is not a registered model id or name`);
      jobs.start();
      const r = submitBattery(ctx, jobs, { model: model.id, categories: o.categories, layers: o.layers, test: o.test, correction: o.correction, alpha: o.alpha, analysis: analysisFrom(o) });
      process.stderr.write(`battery ${r.id}: ${r.jobs.length} contrasts in one pass over ${r.jobs[0].progressTotal} stimuli\n`);
      for (const j of r.jobs) await waitForJob(jobs, ctx, j.id);
      await jobs.stop();
      const outRoot = path.resolve(o.out ?? path.join('out', r.id));
      for (const j0 of r.jobs) {
        const j = requireContrast(ctx, j0.id);
        if (j.state !== 'succeeded') throw new AppError(422, 'JOB_FAILED', `contrast ${j.id} ${j.state}: ${j.error ?? ''}`);
        const dir = path.join(outRoot, (j.params.label ?? j.id).replace(/[^A-Za-z0-9_.+-]+/g, '_'));
        await exportMaps(ctx, j, dir);
        const summaries = layerResults(ctx, j.id).map((l) => ({ name: l.name, summary: l.summary }));
        process.stdout.write(`\n${j.params.label} (${j.id})\n${summaryTable(summaries)}\n${analysisTable(ctx, j)}\nmaps written to ${dir}\n`);
      }
    });
  });

  program
    .command('mask')
    .description('make a unit mask (fROI) from a stored contrast or explicit units')
    .requiredOption('--name <name>', 'name of the mask')
    .addOption(new Option('--kind <kind>', 'how units are chosen').choices(['top-percent', 'significant', 'cluster', 'explicit']).makeOptionMandatory())
    .option('--contrast <id>', 'the contrast to select from')
    .option('--layers <names>', 'layers to select from', list)
    .option('--percent <k>', 'top-percent: k in percent', number)
    .addOption(new Option('--scope <s>', 'top-percent: rank per layer or across layers').choices(['layer', 'all']))
    .addOption(new Option('--sign <s>', 'which tail of t').choices(['positive', 'negative', 'both']))
    .addOption(new Option('--correction <c>', 'significant: correction').choices(['bh', 'by', 'holm', 'bonferroni', 'none']))
    .option('--alpha <a>', 'significant: level', number)
    .option('--layer <name>', 'cluster: the layer')
    .option('--cluster <id>', 'cluster: the id from the cluster table', integer)
    .option('--model <ref>', 'explicit: the model')
    .option('--units <json>', 'explicit: {"layer": [unit, ...]}', (v) => JSON.parse(v) as Record<string, number[]>)
    .option('--control-seed <s>', 'also make a matched random control with this seed', integer)
    .addOption(dataOpt())
    .action(async (o: DataOpts & MaskRequest & { controlSeed?: number }) => {
      await withService(o, async ({ ctx }) => {
        const { data: _d, controlSeed, ...req } = o;
        const mask = createMask(ctx, req);
        const out: Record<string, unknown> = { mask: { id: mask.id, name: mask.name, kind: mask.kind, nUnits: mask.nUnits, layers: mask.layers.map((l) => ({ layer: l.layer, nUnits: l.nUnits })) } };
        if (controlSeed !== undefined) {
          const c = createControlMask(ctx, mask.id, controlSeed);
          out.control = { id: c.id, name: c.name, nUnits: c.nUnits };
        }
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      });
    });

  program
    .command('lesion')
    .description('lesion units (zero, mean or scale) and measure the behaviour lost against random and spatial controls; prints a table')
    .requiredOption('--sets <sets>', 'evaluation sets (comma-separated; folders, files or registered names)', list)
    .option('--model <ref>', 'model id or name (required for --units and --localize)')
    .option('--contrast <id>', 'the contrast whose t selects the units')
    .option('--localize <A:B>', 'run the contrast A vs B first (sets, comma-separated unions)')
    .option('--top-percent <k>', 'top k % of each layer by t (comma-separated: a dose-response)', (v, p: number[] = []) => [...p, ...v.split(',').map(number)])
    .option('--top-count <k>', 'top k units of each layer by t (comma-separated: a dose-response)', (v, p: number[] = []) => [...p, ...v.split(',').map(integer)])
    .option('--cluster <ref>', "a cluster of the contrast: 'largest', 'LAYER:largest' or 'LAYER:ID'")
    .option('--mask <id>', 'a stored mask')
    .option('--units <json>', 'explicit units: {"layer": [unit, ...]}', (v) => JSON.parse(v) as Record<string, number[]>)
    .option('--layers <names>', 'top: the layers (default all of the contrast)', list)
    .addOption(new Option('--sign <s>', 'which tail of t').choices(['positive', 'negative', 'both']))
    .addOption(new Option('--mode <m>', 'zero, mean (over the reference sets) or scale').choices(['zero', 'mean', 'scale']))
    .option('--factor <x>', 'scale: the multiplier', number)
    .option('--reference <sets>', 'mean: the reference sets (default the evaluation sets)', list)
    .option('--output <name>', 'behaviour output of the manifest (default the first)')
    .option('--random <n>', 'random controls (default 20)', integer)
    .option('--spatial <n>', 'spatial controls (default 20)', integer)
    .option('--seed <n>', 'seed of the controls (default 1)', integer)
    .option('--specificity <A,B>', 'the two sets of the specificity test (default the first two)', list)
    .option('--label <text>', 'label of the lesion')
    .option('--out <dir>', 'where figures and values go (default out/<lesion id>)')
    .addOption(dataOpt())
    .action(async (o: DataOpts & LesionArgs) => {
      await withService(o, async (s) => {
        await fixtures(s);
        await lesionCommand(s, o);
      });
    });

  program
    .command('compare')
    .description('Pearson r and SSIM matrices between maps of the same sheet')
    .requiredOption('--map <ref>', 'CONTRAST:LAYER[:STAT] (repeat)', (v: string, prev: string[] = []) => [...prev, v])
    .addOption(dataOpt())
    .action(async (o: DataOpts & { map: string[] }) => {
      if (o.map.length < 2) throw new AppError(400, 'VALIDATION', 'compare needs at least two --map CONTRAST:LAYER[:STAT]');
      await withService(o, async ({ ctx }) => {
        const refs = o.map.map((m) => {
          const [contrast, layer, stat] = m.split(':');
          return { contrast, layer, stat: stat as 't' | undefined };
        });
        const r = compareMaps(ctx, refs);
        const fmtM = (m: number[][]) => m.map((row) => row.map((v) => (v === null || Number.isNaN(v) ? '   nan' : v.toFixed(3).padStart(6))).join(' ')).join('\n');
        process.stdout.write(`comparison ${r.id}\n${r.maps.map((m, i) => `[${i}] ${m.contrast} ${m.layer} ${m.stat} (${m.label ?? ''})`).join('\n')}\n\nPearson r\n${fmtM(r.pearson)}\n\nSSIM\n${fmtM(r.ssim)}\n`);
      });
    });

  program
    .command('demo')
    .description('run the bundled fixture contrasts, write their maps, then serve the viewer and /docs')
    .option('--port <n>', 'port', integer)
    .option('--host <h>', 'host')
    .option('--out <dir>', 'where the maps go', 'out/demo')
    .option('--no-serve', 'stop after writing the maps')
    .addOption(dataOpt())
    .action(async (o: DataOpts & { out: string; serve: boolean }) => {
      await withService(
        o,
        async (s) => {
          await fixtures(s);
          const outRoot = path.resolve(o.out);
          const lines: string[] = [];
          for (const c of DEMO_CONTRASTS) {
            if (!findModelRecord(s.ctx, c.model) || !findSet(s.ctx, c.a) || !findSet(s.ctx, c.b)) {
              process.stderr.write(`demo: skipping ${c.model} ${c.a} vs ${c.b} (fixture not present)\n`);
              continue;
            }
            const r = await runCommand(s, { model: c.model, a: [c.a], b: [c.b], out: path.join(outRoot, `${c.model}-${c.a}-vs-${c.b}`), threshold: 3 });
            lines.push(`maps for ${c.model} ${c.a} vs ${c.b}: ${r.outDir}`);
          }
          for (const l of lines) process.stdout.write(l + '\n');
          if (o.serve) await serve(s, lines);
        },
        o.serve,
      );
    });

  // What a region encodes (issue 10): top-stimuli, profile, selectivity.
  addEncodingCommands(program, { withService, fixtures, dataOpt, integer, number, list });
  return program;
}
