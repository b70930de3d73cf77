import fs from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ClusterParamsSchema, ClusterRowSchema, MoranSummarySchema, PermutationSummarySchema, ReliabilitySummarySchema, SmoothnessSummarySchema } from '../../domain/analysis.ts';
import { JOB_STATES } from '../../domain/records.ts';
import { MapStatSchema } from '../../domain/stats.ts';
import {
  BatteryRequestSchema,
  ContrastRequestSchema,
  activationsFile,
  batteryView,
  cancelBattery,
  cancelOrPurge,
  clusterTable,
  contrastMapNpy,
  contrastMapPng,
  contrastMapSvg,
  contrastSmoothnessPng,
  contrastStimuli,
  contrastView,
  layerResultDocument,
  listContrasts,
  requireContrast,
  submitBattery,
  submitContrast,
  topography,
} from '../../usecases/contrasts.ts';
import { Binary, IdParam, LayerResultSchema, MapQuery, Page, errors } from '../schemas.ts';
import { Choice, Nullable } from '../../domain/choice.ts';

const LayerParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, examples: ['c_3b91283dcc6bafe7'] }),
  layer: Type.String({ minLength: 1, maxLength: 200, examples: ['conv4'] }),
});

const BatterySchema = Type.Object({ id: Type.String(), contrasts: Type.Array(Type.Ref('Contrast')) }, { examples: [{ id: 'b_5e0c2a7f9d1b3c4e', contrasts: [] }] });

export const contrastRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

  app.post(
    '/contrasts',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'Submit a contrast job (a vs b on every requested layer)',
        description:
          'Answers 202 with the job and a Location header; poll `GET /v1/contrasts/:id`. Per unit: n, mean and variance per condition, ' +
          "Welch (default) or Student t, df, two-sided p (with log10 p), corrected q, Cohen's d and Hedges' g.",
        body: ContrastRequestSchema,
        security: [{ bearer: [] }],
        response: { 202: Type.Ref('Contrast'), ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => {
      const job = submitContrast(ctx, app.jobs, req.body);
      void reply.header('Location', `/v1/contrasts/${job.id}`);
      return reply.status(202).send(contrastView(ctx, job));
    },
  );

  app.post(
    '/batteries',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'Submit a localizer battery: several contrasts on one model, run in one pass through the model',
        description:
          '`categories` makes one contrast per category against the union of the others (fLoc: faces, bodies, places, characters, objects); ' +
          '`contrasts` adds explicit pairs. Each contrast is stored as its own contrast (see `contrasts[].id`), with the shared parameters.',
        body: BatteryRequestSchema,
        security: [{ bearer: [] }],
        response: { 202: BatterySchema, ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => {
      const r = submitBattery(ctx, app.jobs, req.body);
      void reply.header('Location', `/v1/batteries/${r.id}`);
      return reply.status(202).send({ id: r.id, contrasts: r.jobs.map((j) => contrastView(ctx, j)) });
    },
  );

  app.get(
    '/batteries/:id',
    { schema: { tags: ['contrasts'], summary: 'The contrasts of a battery', params: IdParam, response: { 200: BatterySchema, ...errors(404) } } },
    async (req) => batteryView(ctx, req.params.id),
  );

  app.delete(
    '/batteries/:id',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'Cancel every queued or running contrast of a battery',
        params: IdParam,
        security: [{ bearer: [] }],
        response: { 200: BatterySchema, ...errors(401, 404) },
      },
    },
    async (req) => cancelBattery(ctx, app.jobs, req.params.id),
  );

  app.get(
    '/contrasts',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'List contrasts, newest first',
        querystring: Type.Intersect([
          Page,
          Type.Object({
            model: Type.Optional(Type.String({ maxLength: 128 })),
            state: Type.Optional(Choice(JOB_STATES)),
          }),
        ]),
        response: {
          200: Type.Object(
            { items: Type.Array(Type.Ref('Contrast')), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() },
            { examples: [{ items: [], total: 12, limit: 50, offset: 0 }] },
          ),
          ...errors(400),
        },
      },
    },
    async (req) => listContrasts(ctx, req.query),
  );

  app.get(
    '/contrasts/:id',
    {
      schema: { tags: ['contrasts'], summary: 'State, progress, timings, error, and per-layer summaries', params: IdParam, response: { 200: Type.Ref('Contrast'), ...errors(404) } },
    },
    async (req) => contrastView(ctx, requireContrast(ctx, req.params.id)),
  );

  app.delete(
    '/contrasts/:id',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'Cancel a queued or running contrast; with purge=true delete a finished one',
        params: IdParam,
        querystring: Type.Object({ purge: Type.Optional(Type.Boolean({ default: false })) }),
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('Contrast'), 204: Type.Null({ description: 'Purged.' }), ...errors(401, 404, 409) },
      },
    },
    async (req, reply) => {
      const v = cancelOrPurge(ctx, app.jobs, req.params.id, req.query.purge ?? false);
      return v === null ? reply.status(204).send(null) : reply.send(v);
    },
  );

  app.get(
    '/contrasts/:id/stimuli',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The stimulus order of the contrast (rows of the kept activations refer to it)',
        params: IdParam,
        response: {
          200: Type.Object(
            {
              items: Type.Array(
                Type.Object({
                  idx: Type.Integer(),
                  condition: Choice(['a', 'b']),
                  setId: Type.String(),
                  sha256: Type.String(),
                  label: Nullable(Type.String()),
                }),
              ),
            },
            { examples: [{ items: [{ idx: 0, condition: 'a', setId: '6f20c8f0d6d1a773', sha256: '1b4f0e98…', label: 'faces-01-grinning-face-noto.png' }] }] },
          ),
          ...errors(404, 409),
        },
      },
    },
    async (req) => contrastStimuli(ctx, req.params.id),
  );

  app.get(
    '/contrasts/:id/layers/:layer',
    {
      schema: { tags: ['contrasts'], summary: 'Per-unit statistics of one layer with its sheet layout', params: LayerParams, response: { 200: LayerResultSchema, ...errors(404, 409) } },
    },
    async (req) => layerResultDocument(ctx, req.params.id, req.params.layer),
  );

  app.get(
    '/contrasts/:id/layers/:layer/map.png',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The selectivity map as a PNG',
        description:
          'The sheet upscaled with crisp cells, a diverging colormap symmetric about 0, a colorbar with values, outlines of units at or above ' +
          '`threshold` (on the scale of the drawn statistic: |t|, |d|, −log10 p, −log10 q, |TFCE| or −log10 p(FWE)), and a title with model, layer, contrast and statistic.',
        params: LayerParams,
        querystring: MapQuery,
        response: { 200: Binary('image/png'), ...errors(400, 404, 409, 429) },
      },
    },
    async (req, reply) => {
      const png = await contrastMapPng(ctx, req.params.id, req.params.layer, req.query);
      return reply.type('image/png').header('Cache-Control', 'private, max-age=3600').send(png);
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer/map.svg',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The selectivity map as an SVG (for papers): the same figure as map.png, cells and outlines as vectors',
        params: LayerParams,
        querystring: MapQuery,
        response: { 200: Binary('image/svg+xml'), ...errors(400, 404, 409, 429) },
      },
    },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').header('Cache-Control', 'private, max-age=3600').send(contrastMapSvg(ctx, req.params.id, req.params.layer, req.query)),
  );

  app.get(
    '/contrasts/:id/layers/:layer/map.npy',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The statistic on the sheet as a rows × cols float32 .npy (NaN where no unit sits)',
        params: LayerParams,
        querystring: Type.Object({ stat: Type.Optional(MapStatSchema) }),
        response: { 200: Binary('application/octet-stream (.npy)'), ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const npy = contrastMapNpy(ctx, req.params.id, req.params.layer, req.query.stat);
      return reply.type('application/octet-stream').header('Content-Disposition', `attachment; filename="${npy.file}"`).send(npy.data);
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer/clusters',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The cluster table of a layer: connected supra-threshold regions on the sheet',
        description:
          'Clusters are 4- or 8-connected components of units beyond the cluster-forming threshold (scale stated in `params`), positive and ' +
          'negative t apart, numbered by decreasing mass (Σ|t|). `pMass`/`pSize` are cluster-level FWE p-values when permutations ran.',
        params: LayerParams,
        response: {
          200: Type.Object(
            { contrast: Type.String(), layer: Type.String(), params: ClusterParamsSchema, clusters: Type.Array(ClusterRowSchema) },
            {
              examples: [
                {
                  contrast: 'c_3b91283dcc6bafe7',
                  layer: 'conv4',
                  params: { scale: 'p', threshold: 0.001, connectivity: 8, minSize: 1, tfce: false },
                  clusters: [{ id: 1, sign: 1, size: 84, mass: 512.3, peakT: 22.2, peakUnit: 37, peakRow: 2, peakCol: 5, centroidRow: 3.1, centroidCol: 5.4, pMass: 0.001, pSize: 0.001 }],
                },
              ],
            },
          ),
          ...errors(404, 409),
        },
      },
    },
    async (req) => clusterTable(ctx, req.params.id, req.params.layer),
  );

  app.get(
    '/contrasts/:id/layers/:layer/topography',
    {
      schema: {
        tags: ['contrasts'],
        summary: "Topography of the t-map: Moran's I (unsmoothed) with its spatial-permutation p, the smoothness curve, and reliability / permutation summaries when computed",
        params: LayerParams,
        response: {
          200: Type.Object(
            {
              contrast: Type.String(),
              layer: Type.String(),
              moran: MoranSummarySchema,
              smoothness: SmoothnessSummarySchema,
              reliability: Type.Union([ReliabilitySummarySchema, Type.Null()]),
              permutation: Type.Union([PermutationSummarySchema, Type.Null()]),
            },
            {
              examples: [
                {
                  contrast: 'c_3b91283dcc6bafe7',
                  layer: 'conv4',
                  moran: { statistic: 't', contiguity: 'queen', smoothed: false, I: 0.744, expected: -0.0039, p: 0.001, zScore: 18.2, nullMean: -0.004, nullSd: 0.041, permutations: 999, n: 256 },
                  smoothness: { statistic: 't', distance: 'sheet cells (Euclidean)', binCenters: [0.5, 1.5], meanAbsDiff: [1.2, 2.9], chanceMean: [4.1, 4.1], counts: [480, 1900], overallMeanAbsDiff: 3.9, unitsUsed: 256, sampled: false },
                  reliability: null,
                  permutation: null,
                },
              ],
            },
          ),
          ...errors(404, 409),
        },
      },
    },
    async (req) => topography(ctx, req.params.id, req.params.layer),
  );

  app.get(
    '/contrasts/:id/layers/:layer/smoothness.png',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The smoothness curve (mean |Δt| between unit pairs by sheet distance, with the shuffled-position chance curve) as a PNG',
        params: LayerParams,
        response: { 200: Binary('image/png'), ...errors(404, 409, 429) },
      },
    },
    async (req, reply) => reply.type('image/png').send(await contrastSmoothnessPng(ctx, req.params.id, req.params.layer)),
  );

  for (const kind of ['activations', 'activations.rows'] as const) {
    app.get(
      `/contrasts/:id/layers/:layer/${kind}.npy`,
      {
        schema: {
          tags: ['contrasts'],
          summary:
            kind === 'activations'
              ? 'The kept pooled activations: rows × units float32 .npy (only with keepActivations)'
              : 'For each activation row: [stimulus index, token index or −1] as rows × 2 int32 .npy',
          params: LayerParams,
          response: { 200: Binary(), ...errors(404, 409) },
        },
      },
      async (req, reply) => {
        const f = activationsFile(ctx, req.params.id, req.params.layer, kind);
        return reply
          .type('application/octet-stream')
          .header('Content-Disposition', `attachment; filename="${f.name}"`)
          .header('Content-Length', f.size)
          .send(fs.createReadStream(f.path));
      },
    );
  }
};
