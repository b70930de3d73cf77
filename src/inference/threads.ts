/**
 * Worker threads that run this project's modules both from the TypeScript sources (through tsx, as
 * tests and scripts do) and from the compiled JavaScript in dist/ (npm start, the CLI).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

const COMPILED = import.meta.url.endsWith('.js');

/** A sibling module's URL in the form this build runs: `.ts` from the sources, `.js` compiled. */
export function moduleUrl(relative: string, base: string): URL {
  return new URL(COMPILED ? relative.replace(/\.ts$/, '.js') : relative, base);
}

/**
 * Starts a worker on `entry`; the worker sees `workerData.entry === entry.href` (so a module can tell
 * it is the worker's entry) beside the given workerData.
 */
export function startWorker(entry: URL, opts: WorkerOptions & { workerData?: object } = {}): Worker {
  const workerData = { ...(opts.workerData ?? {}), entry: entry.href };
  if (COMPILED) return new Worker(entry, { execArgv: withoutTsx(process.execArgv), ...opts, workerData });
  return new Worker(new URL('./worker-boot.mjs', import.meta.url), { ...opts, workerData });
}

/**
 * The parent's flags less a tsx loader (`--import tsx`, as the bench and scripts run): compiled
 * workers load JavaScript only, and tsx's hooks would make their module loading several times slower.
 */
function withoutTsx(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if ((a === '--import' || a === '--loader' || a === '--require' || a === '-r') && /(^|[/\\])tsx([/\\]|$)/.test(argv[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (/^--(import|loader|require)=(.*[/\\])?tsx([/\\].*)?$/.test(a)) continue;
    out.push(a);
  }
  return out;
}
