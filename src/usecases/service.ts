/** The service as the entry points see it: the data directory, the database and the job queue. */
import type { Config } from '../config.ts';
import { JobQueue } from '../jobs/queue.ts';
import type { EngineSpec } from '../pipeline/analysis-worker.ts';
import { closeContext, createContext, type Context } from '../store/context.ts';
import { backfillSheets } from './models.ts';

export type { Context };
export type { EngineSpec };

export interface Service {
  ctx: Context;
  jobs: JobQueue;
}

export function openService(config: Config, opts: { permutationEngine?: EngineSpec } = {}): Service {
  const ctx = createContext(config);
  backfillSheets(ctx);
  return { ctx, jobs: new JobQueue(ctx, opts.permutationEngine) };
}

export async function closeService(s: Service): Promise<void> {
  await s.jobs.stop();
  closeContext(s.ctx);
}
