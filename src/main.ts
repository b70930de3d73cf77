/**
 * Entry point: `toposcope serve | run | demo | openapi`.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.ts';
import { closeContext, createContext, type Context } from './context.ts';
import { AppError } from './errors.ts';
import { registerFixtures } from './fixtures.ts';
import { buildApp } from './http/app.ts';
import { runCommand, type RunArgs } from './cli/run.ts';
import { findModel } from './store/models-repo.ts';
import { findSet } from './stimuli/sets.ts';

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
        analysis: {
          seed: num(values.seed),
          clusters: {
            scale: values['cluster-scale'] as 'p' | 'abs-t' | undefined,
            threshold: num(values['cluster-threshold']),
            connectivity: num(values.connectivity) as 4 | 8 | undefined,
            minSize: num(values['min-size']),
            tfce: values.tfce,
          },
          topography: { permutations: num(values['moran-permutations']) },
          permutations: values.permutations ? { n: num(values.permutations)! } : null,
          reliability: values.reliability ? { splits: num(values.reliability)!, threshold: num(values['reliability-threshold']) } : null,
        },
      };
      stripUndefined(args.analysis as Record<string, unknown>);
      await runCommand(ctx, args);
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
