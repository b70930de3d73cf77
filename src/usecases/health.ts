/** Liveness, the job queue's counts and, in distributed mode, the shard queue. */
import { VERSION } from '../config.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { Context } from '../store/context.ts';
import { queueCounts } from '../store/jobs-repo.ts';

const started = Date.now();

export async function health(ctx: Context, jobs: JobQueue) {
  const queue = await jobs.queueStatus();
  return { status: 'ok' as const, version: VERSION, uptimeSeconds: (Date.now() - started) / 1000, jobs: queueCounts(ctx.db), ...(queue ? { queue } : {}) };
}
