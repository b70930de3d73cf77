import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { health } from '../../usecases/health.ts';
import { errors } from '../schemas.ts';
import { Choice } from '../../domain/choice.ts';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: answers while jobs run (inference runs in child processes)',
        response: {
          200: Type.Object(
            {
              status: Type.Literal('ok'),
              version: Type.String(),
              uptimeSeconds: Type.Number(),
              jobs: Type.Object({ queued: Type.Integer(), running: Type.Integer() }),
              queue: Type.Optional(
                Type.Object(
                  {
                    mode: Type.Literal('distributed'),
                    redis: Choice(['ok', 'unreachable']),
                    workers: Type.Integer({ description: 'Worker processes connected to the shard queue.' }),
                    shards: Type.Object({ waiting: Type.Integer(), active: Type.Integer(), delayed: Type.Integer(), failed: Type.Integer() }),
                    passes: Type.Integer({ description: 'Passes of running jobs on the workers.' }),
                  },
                  { description: 'Distributed mode only (TOPOSCOPE_REDIS_URL set).' },
                ),
              ),
            },
            { examples: [{ status: 'ok', version: '0.1.0', uptimeSeconds: 12.5, jobs: { queued: 0, running: 1 } }] },
          ),
          ...errors(),
        },
      },
    },
    async () => health(app.ctx, app.jobs),
  );
};
