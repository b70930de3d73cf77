import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { NotFoundError } from '../../domain/errors.ts';
import { createControlMask, createMask, deleteMask, listMasks, requireMask, type MaskRequest } from '../../usecases/masks.ts';
import { compareMaps, getComparison, type MapRef } from '../../usecases/comparisons.ts';
import { layerMapPng } from '../../usecases/results.ts';
import { getLayerResult, layerSummaries } from '../../store/jobs-repo.ts';
import { findModel } from '../../store/models-repo.ts';
import { renderMapPng } from '../../render/raster.ts';
import { resolveLayout } from '../../sheet/layout.ts';
import { IdParam, Page, errors } from '../schemas.ts';

const MaskSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    modelId: Type.String(),
    contrast: Type.Union([Type.String(), Type.Null()]),
    kind: Type.String(),
    spec: Type.Object({}, { additionalProperties: true }),
    controlOf: Type.Union([Type.String(), Type.Null()]),
    nUnits: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    layers: Type.Array(Type.Object({ layer: Type.String(), nUnits: Type.Integer(), units: Type.Array(Type.Integer()) })),
  },
  {
    $id: 'Mask',
    examples: [
      {
        id: 'm_0a1b2c3d4e5f6071',
        name: 'FFA-like',
        modelId: '3f2a9c0d1b7e4a55',
        contrast: 'c_3b91283dcc6bafe7',
        kind: 'top-percent',
        spec: { kind: 'top-percent', percent: 1, scope: 'all', sign: 'positive', statistic: 't' },
        controlOf: null,
        nUnits: 5,
        createdAt: '2026-11-25T06:00:00.000Z',
        layers: [{ layer: 'conv4', nUnits: 5, units: [17, 18, 33, 34, 50] }],
      },
    ],
  },
);

const CreateMaskBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Type.Union([Type.Literal('top-percent'), Type.Literal('significant'), Type.Literal('cluster'), Type.Literal('explicit')]),
    contrast: Type.Optional(Type.String({ description: 'The contrast to select from (all kinds but explicit).' })),
    layers: Type.Optional(Type.Array(Type.String(), { description: 'Layers to select from; default all of the contrast.' })),
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'top-percent: k in percent of units (default 1).' })),
    scope: Type.Optional(Type.Union([Type.Literal('layer'), Type.Literal('all')], { description: 'top-percent: rank within each layer (default) or across all chosen layers.' })),
    sign: Type.Optional(Type.Union([Type.Literal('positive'), Type.Literal('negative'), Type.Literal('both')], { description: 'Which tail of t (default positive: A > B).' })),
    correction: Type.Optional(Type.Union(['bh', 'by', 'holm', 'bonferroni', 'none'].map((c) => Type.Literal(c)), { description: "significant: correction of the stored p within each layer (default: the contrast's)." })),
    alpha: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 })),
    layer: Type.Optional(Type.String({ description: 'cluster: the layer.' })),
    cluster: Type.Optional(Type.Integer({ minimum: 1, description: 'cluster: the id from the cluster table.' })),
    model: Type.Optional(Type.String({ description: 'explicit: the model.' })),
    units: Type.Optional(Type.Record(Type.String(), Type.Array(Type.Integer({ minimum: 0 })), { description: 'explicit: units per layer.' })),
    control: Type.Optional(Type.Object({ seed: Type.Integer({ minimum: 0 }) }, { description: 'Also create a matched random control mask with this seed.' })),
  },
  { additionalProperties: false, examples: [{ name: 'face units', kind: 'top-percent', contrast: 'c_3b91283dcc6bafe7', percent: 1, scope: 'all', control: { seed: 1 } }] },
);

const ComparisonSchema = Type.Object(
  {
    id: Type.String(),
    maps: Type.Array(Type.Object({ contrast: Type.String(), layer: Type.String(), stat: Type.String(), rows: Type.Integer(), cols: Type.Integer(), label: Type.Union([Type.String(), Type.Null()]) })),
    pearson: Type.Array(Type.Array(Type.Union([Type.Number(), Type.Null()]))),
    ssim: Type.Array(Type.Array(Type.Union([Type.Number(), Type.Null()]))),
    ssimOptions: Type.Object({}, { additionalProperties: true }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Comparison',
    examples: [
      {
        id: 'cmp_1c2d3e4f5a6b7c8d',
        maps: [
          { contrast: 'c_faces', layer: 'conv4', stat: 't', rows: 16, cols: 16, label: 'faces > rest' },
          { contrast: 'c_bodies', layer: 'conv4', stat: 't', rows: 16, cols: 16, label: 'bodies > rest' },
        ],
        pearson: [[1, 0.62], [0.62, 1]],
        ssim: [[1, 0.55], [0.55, 1]],
        ssimOptions: { window: 'gaussian', sigma: 1.5, size: 7 },
        createdAt: '2026-11-25T06:00:00.000Z',
      },
    ],
  },
);

export async function maskRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ctx;
  app.addSchema(MaskSchema);
  app.addSchema(ComparisonSchema);

  app.post(
    '/masks',
    {
      schema: {
        tags: ['masks'],
        summary: 'Create a unit mask (fROI) from a contrast or explicit units, optionally with a matched random control',
        description:
          '`top-percent`: the top k% of units by t (within each layer, or across the chosen layers). `significant`: units with corrected q ≤ alpha ' +
          'on the chosen tail. `cluster`: the units of one cluster. `explicit`: `{model, units: {layer: [unit…]}}`. With `control: {seed}` a random ' +
          'mask with the same count per layer, drawn from outside this one, is created too.',
        body: CreateMaskBody,
        security: [{ bearer: [] }],
        response: { 201: Type.Object({ mask: Type.Ref('Mask'), control: Type.Union([Type.Ref('Mask'), Type.Null()]) }), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const body = req.body as MaskRequest & { control?: { seed: number } };
      const { control, ...spec } = body;
      const mask = createMask(ctx, spec);
      const ctl = control ? createControlMask(ctx, mask.id, control.seed) : null;
      void reply.header('Location', `/v1/masks/${mask.id}`);
      return reply.status(201).send({ mask, control: ctl });
    },
  );

  app.post(
    '/masks/:id/control',
    {
      schema: {
        tags: ['masks'],
        summary: 'Create a matched random control of a mask (same count per layer, from outside it, seeded)',
        params: IdParam,
        body: Type.Object({ seed: Type.Integer({ minimum: 0 }), name: Type.Optional(Type.String({ maxLength: 128 })) }, { additionalProperties: false }),
        security: [{ bearer: [] }],
        response: { 201: Type.Ref('Mask'), ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => {
      const b = req.body as { seed: number; name?: string };
      const m = createControlMask(ctx, (req.params as { id: string }).id, b.seed, b.name);
      return reply.status(201).header('Location', `/v1/masks/${m.id}`).send(m);
    },
  );

  app.get(
    '/masks',
    {
      schema: {
        tags: ['masks'],
        summary: 'List masks',
        querystring: Type.Intersect([Page, Type.Object({ model: Type.Optional(Type.String()) })]),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('Mask')), total: Type.Integer() }, { examples: [{ items: [], total: 3 }] }), ...errors(400) },
      },
    },
    async (req) => {
      const q = req.query as { limit?: number; offset?: number; model?: string };
      const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
      return listMasks(ctx, { model, limit: q.limit ?? 50, offset: q.offset ?? 0 });
    },
  );

  app.get(
    '/masks/:id',
    { schema: { tags: ['masks'], summary: 'Get a mask with its units per layer', params: IdParam, response: { 200: Type.Ref('Mask'), ...errors(404) } } },
    async (req) => requireMask(ctx, (req.params as { id: string }).id),
  );

  app.get(
    '/masks/:id/layers/:layer/map.png',
    {
      schema: {
        tags: ['masks'],
        summary: "A mask on the sheet: outlined over its contrast's t-map, or as a binary map for explicit masks",
        params: Type.Object({ id: Type.String({ examples: ['m_0a1b2c3d4e5f6071'] }), layer: Type.String({ examples: ['conv4'] }) }),
        response: { 200: Type.String({ format: 'binary' }), ...errors(404) },
      },
    },
    async (req, reply) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const m = requireMask(ctx, id);
      const ml = m.layers.find((l) => l.layer === layer);
      if (!ml) throw new NotFoundError(`layer of mask ${id}`, layer);
      const title = `mask ${m.name} / ${layer}: ${ml.nUnits} units (${m.kind})`;
      if (m.contrast && layerSummaries(ctx.db, m.contrast).some((l) => l.name === layer)) {
        const l = getLayerResult(ctx.db, m.contrast, layer)!;
        return reply.type('image/png').send(await layerMapPng(l, 't', { title, subtitle: `outlined over the t-map of ${m.contrast}`, mask: Int32Array.from(ml.units) }));
      }
      const model = findModel(ctx.db, m.modelId)!;
      const info = model.info.layers.find((l) => l.name === layer)!;
      const sheet = resolveLayout(model.manifest.layers.find((l) => l.name === layer)?.layout, info.units);
      const values = new Float64Array(sheet.rows * sheet.cols).fill(NaN);
      for (let u = 0; u < info.units; u++) values[sheet.cellOfUnit[u]] = 0;
      const outline = new Uint8Array(sheet.rows * sheet.cols);
      for (const u of ml.units) {
        values[sheet.cellOfUnit[u]] = 1;
        outline[sheet.cellOfUnit[u]] = 1;
      }
      const png = await renderMapPng({ values, rows: sheet.rows, cols: sheet.cols, title, statLabel: 'in mask', vmax: 1, outlineMask: outline });
      return reply.type('image/png').send(png);
    },
  );

  app.delete(
    '/masks/:id',
    {
      schema: { tags: ['masks'], summary: 'Delete a mask (and its controls)', params: IdParam, security: [{ bearer: [] }], response: { 204: Type.Null(), ...errors(401, 404) } },
    },
    async (req, reply) => {
      deleteMask(ctx, (req.params as { id: string }).id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/comparisons',
    {
      schema: {
        tags: ['comparisons'],
        summary: 'Compare selectivity maps of the same sheet: Pearson r and SSIM, as matrices over all given maps',
        description: 'Maps are `{contrast, layer, stat?}` (stat t by default). Two contrasts on one model, or one contrast on two models whose layers share a sheet shape. Stored.',
        body: Type.Object(
          {
            maps: Type.Array(
              Type.Object({ contrast: Type.String(), layer: Type.String(), stat: Type.Optional(Type.Union(['t', 'd', 'log10p', 'q', 'tfce', 'pfwe'].map((s) => Type.Literal(s)))) }, { additionalProperties: false }),
              { minItems: 2, maxItems: 64 },
            ),
          },
          { additionalProperties: false, examples: [{ maps: [{ contrast: 'c_faces', layer: 'conv4' }, { contrast: 'c_bodies', layer: 'conv4' }] }] },
        ),
        security: [{ bearer: [] }],
        response: { 201: Type.Ref('Comparison'), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const rec = compareMaps(ctx, (req.body as { maps: MapRef[] }).maps);
      return reply.status(201).header('Location', `/v1/comparisons/${rec.id}`).send(rec);
    },
  );

  app.get(
    '/comparisons/:id',
    { schema: { tags: ['comparisons'], summary: 'Get a stored comparison', params: IdParam, response: { 200: Type.Ref('Comparison'), ...errors(404) } } },
    async (req) => getComparison(ctx, (req.params as { id: string }).id),
  );
}
