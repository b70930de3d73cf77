import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { health } from '../../usecases/health.ts';
import { errors } from '../schemas.ts';

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
            },
            { examples: [{ status: 'ok', version: '0.1.0', uptimeSeconds: 12.5, jobs: { queued: 0, running: 1 } }] },
          ),
          ...errors(),
        },
      },
    },
    async () => health(app.ctx),
  );
};
