import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { compareMaps, ComparisonRequestSchema, getComparison } from '../../usecases/comparisons.ts';
import { IdParam, errors } from '../schemas.ts';

export const comparisonRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

  app.post(
    '/comparisons',
    {
      schema: {
        tags: ['comparisons'],
        summary: 'Compare selectivity maps of the same sheet: Pearson r and SSIM, as matrices over all given maps',
        description: 'Maps are `{contrast, layer, stat?}` (stat t by default). Two contrasts on one model, or one contrast on two models whose layers share a sheet shape. Stored.',
        body: ComparisonRequestSchema,
        security: [{ bearer: [] }],
        response: { 201: Type.Ref('Comparison'), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const rec = compareMaps(ctx, req.body.maps);
      return reply.status(201).header('Location', `/v1/comparisons/${rec.id}`).send(rec);
    },
  );

  app.get(
    '/comparisons/:id',
    { schema: { tags: ['comparisons'], summary: 'Get a stored comparison', params: IdParam, response: { 200: Type.Ref('Comparison'), ...errors(404) } } },
    async (req) => getComparison(ctx, req.params.id),
  );
};
