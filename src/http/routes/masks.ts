import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { createControlMask, createMaskWithControl, deleteMask, listMaskViews, maskMapPng, MaskRequestSchema, requireMask } from '../../usecases/masks.ts';
import { Binary, IdParam, Page, errors } from '../schemas.ts';
import { Choice, Nullable } from '../../domain/choice.ts';

export const MaskSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    modelId: Type.String(),
    contrast: Nullable(Type.String()),
    kind: Choice(['top-percent', 'significant', 'cluster', 'explicit', 'random-control']),
    spec: Type.Object({}, { additionalProperties: true }),
    controlOf: Nullable(Type.String()),
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
export const maskRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

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
        body: MaskRequestSchema,
        security: [{ bearer: [] }],
        response: { 201: Type.Object({ mask: Type.Ref('Mask'), control: Type.Union([Type.Ref('Mask'), Type.Null()]) }), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const r = createMaskWithControl(ctx, req.body);
      void reply.header('Location', `/v1/masks/${r.mask.id}`);
      return reply.status(201).send(r);
    },
  );

  app.post(
    '/masks/:id/control',
    {
      schema: {
        tags: ['masks'],
        summary: 'Create a matched random control of a mask (same count per layer, from outside it, seeded)',
        params: IdParam,
        body: Type.Object({ seed: Type.Integer({ minimum: 0, maximum: 4294967295 }), name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }, { additionalProperties: false }),
        security: [{ bearer: [] }],
        response: { 201: Type.Ref('Mask'), ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => {
      const m = createControlMask(ctx, req.params.id, req.body.seed, req.body.name);
      return reply.status(201).header('Location', `/v1/masks/${m.id}`).send(m);
    },
  );

  app.get(
    '/masks',
    {
      schema: {
        tags: ['masks'],
        summary: 'List masks',
        querystring: Type.Intersect([Page, Type.Object({ model: Type.Optional(Type.String({ maxLength: 128 })) })]),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('Mask')), total: Type.Integer() }, { examples: [{ items: [], total: 3 }] }), ...errors(400) },
      },
    },
    async (req) => listMaskViews(ctx, req.query),
  );

  app.get(
    '/masks/:id',
    { schema: { tags: ['masks'], summary: 'Get a mask with its units per layer', params: IdParam, response: { 200: Type.Ref('Mask'), ...errors(404) } } },
    async (req) => requireMask(ctx, req.params.id),
  );

  app.get(
    '/masks/:id/layers/:layer/map.png',
    {
      schema: {
        tags: ['masks'],
        summary: "A mask on the sheet: outlined over its contrast's t-map, or as a binary map for explicit masks",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, examples: ['m_0a1b2c3d4e5f6071'] }), layer: Type.String({ minLength: 1, maxLength: 200, examples: ['conv4'] }) }),
        response: { 200: Binary('image/png'), ...errors(404, 429) },
      },
    },
    async (req, reply) => reply.type('image/png').send(await maskMapPng(ctx, req.params.id, req.params.layer)),
  );

  app.delete(
    '/masks/:id',
    {
      schema: { tags: ['masks'], summary: 'Delete a mask (and its controls)', params: IdParam, security: [{ bearer: [] }], response: { 204: Type.Null(), ...errors(401, 404) } },
    },
    async (req, reply) => {
      deleteMask(ctx, req.params.id);
      return reply.status(204).send(null);
    },
  );
};
