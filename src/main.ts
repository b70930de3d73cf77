#!/usr/bin/env node
/** Entry point of the `toposcope` command: the CLI, with the HTTP server for `serve` and `demo` and the distributed worker for `worker`. */
import { CommanderError } from 'commander';
import { buildProgram } from './cli/program.ts';
import { AppError } from './domain/errors.ts';
import { startServer } from './http/server.ts';
import { defaultWorkerCache, runWorker } from './worker/worker.ts';

let serving = false;
const program = buildProgram(
  async (service, announce) => {
    serving = true;
    await startServer(service, announce);
  },
  async (args) => {
    serving = true;
    await runWorker({ ...args, cache: args.cache ?? defaultWorkerCache() });
  },
).exitOverride();

program.parseAsync(process.argv).then(
  () => {
    if (!serving) process.exit(0);
  },
  (e: unknown) => {
    if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
    // Errors that say what to fix need no stack: bad input, a data directory in use or unusable.
    if (e instanceof AppError || (e instanceof Error && ['LeaseHeldError', 'LeaseError', 'DataDirError'].includes(e.name))) process.stderr.write(`error: ${e.message}\n`);
    else process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
