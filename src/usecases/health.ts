/** Liveness and the job queue's counts. */
import { VERSION } from '../config.ts';
import type { Context } from '../store/context.ts';
import { queueCounts } from '../store/jobs-repo.ts';

const started = Date.now();

export function health(ctx: Context) {
  return { status: 'ok' as const, version: VERSION, uptimeSeconds: (Date.now() - started) / 1000, jobs: queueCounts(ctx.db) };
}
