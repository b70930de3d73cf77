import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { VERSION } from '../../config.ts';
import { errors } from '../schemas.ts';

const started = Date.now();

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: answers while jobs run (inference is on worker threads)',
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
    async () => {
      const counts = app.ctx.db
        .prepare(`SELECT SUM(state = 'queued') AS queued, SUM(state = 'running') AS running FROM jobs`)
        .get() as { queued: number | null; running: number | null };
      return {
        status: 'ok' as const,
        version: VERSION,
        uptimeSeconds: (Date.now() - started) / 1000,
        jobs: { queued: counts.queued ?? 0, running: counts.running ?? 0 },
      };
    },
  );
}
