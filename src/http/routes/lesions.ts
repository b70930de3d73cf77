import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { JOB_STATES } from '../../domain/records.ts';
import {
  cancelOrPurgeLesion,
  doseResponsePng,
  doseResponseSvg,
  effectsPng,
  effectsSvg,
  lesionConfigsView,
  LesionRequestSchema,
  lesionView,
  listLesions,
  requireLesion,
  stimuliDocument,
  stimulusValuesNpy,
  submitLesion,
} from '../../usecases/lesions.ts';
import { Binary, IdParam, Page, errors } from '../schemas.ts';
import { Choice, Nullable } from '../../domain/choice.ts';

const Num = Nullable(Type.Number());
const Measures = Type.Record(Type.String(), Num, { description: 'lm: ce (nats per token), ppl. classifier: accuracy, logp, agreement, kl. Null where undefined (e.g. accuracy of an unlabelled set).' });
const ControlTestSchema = Type.Object({
  n: Type.Integer({ description: 'Controls with a defined Δ.' }),
  values: Type.Array(Type.Number(), { description: 'Δ of each control, in control order.' }),
  mean: Num,
  sd: Num,
  z: Nullable(Type.Number(), { description: '(Δ_lesion − mean) / sd.' }),
  p: Nullable(Type.Number(), { description: 'Empirical one-sided p = (1 + #{controls with Δ ≥ Δ_lesion}) / (1 + n).' }),
});
const DoseValue = Type.Union([Type.Object({ percent: Type.Number() }), Type.Object({ count: Type.Integer() }), Type.Null()], { description: 'The k of a top-k selection; null for a mask, a cluster, explicit units.' });
const SetSummarySchema = Type.Object({
  set: Type.Integer(),
  name: Type.String(),
  intact: Measures,
  lesion: Measures,
  delta: Type.Record(Type.String(), Num, { description: 'The lesion’s effect per measure, oriented as damage: positive = worse than intact.' }),
  random: Type.Record(Type.String(), ControlTestSchema),
  spatial: Type.Record(Type.String(), ControlTestSchema),
});
const LesionSummarySchema = Type.Object({
  output: Type.Object({ name: Type.String(), kind: Choice(['lm', 'classifier']) }),
  primary: Type.String({ description: 'The measure of the specificity test and the default of the figures.' }),
  measures: Type.Array(Type.String()),
  sets: Type.Array(Type.Object({ index: Type.Integer(), id: Type.String(), name: Type.String(), items: Type.Integer(), labelled: Type.Integer() })),
  doses: Type.Array(
    Type.Object({
      index: Type.Integer(),
      dose: DoseValue,
      configs: Type.Object({ lesion: Type.Integer(), random: Type.Array(Type.Integer()), spatial: Type.Array(Type.Integer()) }),
      sets: Type.Array(SetSummarySchema),
      specificity: Type.Union([
        Type.Object({ a: Type.Integer(), b: Type.Integer(), measure: Type.String(), delta: Num, random: ControlTestSchema, spatial: ControlTestSchema }, { description: 'Δ_A − Δ_B of the lesion against the controls’ own Δ_A − Δ_B.' }),
        Type.Null(),
      ]),
    }),
  ),
});

export const LesionSchema = Type.Object(
  {
    id: Type.String(),
    kind: Type.Literal('lesion'),
    state: Choice(JOB_STATES),
    label: Type.String(),
    model: Type.String(),
    params: Type.Object({}, { additionalProperties: true, description: 'The request with every default filled in.' }),
    progress: Type.Object({ done: Type.Integer(), total: Type.Integer(), fraction: Type.Number() }, { description: 'Stimulus evaluations (a stimulus under one configuration; reference stimuli count once).' }),
    error: Nullable(Type.String()),
    timings: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    attempts: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    configurations: Type.Integer({ description: 'The intact model, then per dose the lesion, its random and its spatial controls.' }),
    doses: Type.Array(
      Type.Object({
        index: Type.Integer(),
        dose: DoseValue,
        lesionConfig: Type.Integer(),
        units: Type.Integer(),
        unitsPerLayer: Type.Record(Type.String(), Type.Integer()),
        controls: Type.Object({ random: Type.Integer(), spatial: Type.Integer() }),
      }),
    ),
    results: Type.Union([LesionSummarySchema, Type.Null()]),
    provenance: Type.Object({}, { additionalProperties: true }),
  },
  {
    $id: 'Lesion',
    examples: [
      {
        id: 'l_5b0c2a7f9d1b3c4e',
        kind: 'lesion',
        state: 'queued',
        label: 'zero lesion of the top 5 % by t of toxic > neutral on toxic, neutral',
        model: '3f2a9c0d1b7e4a55',
        params: {},
        progress: { done: 0, total: 9840, fraction: 0 },
        error: null,
        timings: null,
        attempts: 0,
        createdAt: '2026-11-25T06:00:00.000Z',
        startedAt: null,
        finishedAt: null,
        configurations: 42,
        doses: [{ index: 0, dose: { percent: 5 }, lesionConfig: 1, units: 104, unitsPerLayer: { mlp0: 26, mlp1: 26, mlp2: 26, mlp3: 26 }, controls: { random: 20, spatial: 20 } }],
        results: null,
        provenance: {},
      },
    ],
  },
);

const LesionParams = IdParam;
const Measure = Type.String({ minLength: 1, maxLength: 32, description: 'lm: ce, ceSum, tokens. classifier: correct, logp, agree, kl, pred.' });
const FigureQuery = Type.Object({
  dose: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'Which dose (default 0).' })),
  measure: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'lm: ce, ppl. classifier: accuracy, logp, agreement, kl. Default: the primary measure.' })),
});

export const lesionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

  app.post(
    '/lesions',
    {
      schema: {
        tags: ['lesions'],
        summary: 'Submit a lesion: silence (zero), mean-ablate or scale units and measure the behaviour lost, against random and spatial controls',
        description:
          'Units come from a stored mask, a cluster of a contrast, the top k by a contrast’s t (several k: a dose-response) or explicit lists. ' +
          'Each dose is evaluated with n random controls (the same number of units per layer, drawn from outside the lesion) and n spatial controls ' +
          '(contiguous patches of the same sizes at random places on the sheet, outside the lesion), all seeded and stored with their units. ' +
          'One ONNX Runtime session serves the intact model, the lesion and every control. Answers 202 with the job; poll `GET /v1/lesions/:id`.',
        body: LesionRequestSchema,
        security: [{ bearer: [] }],
        response: { 202: Type.Ref('Lesion'), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const job = submitLesion(ctx, app.jobs, req.body);
      void reply.header('Location', `/v1/lesions/${job.id}`);
      return reply.status(202).send(lesionView(ctx, job));
    },
  );

  app.get(
    '/lesions',
    {
      schema: {
        tags: ['lesions'],
        summary: 'List lesions, newest first',
        querystring: Type.Intersect([Page, Type.Object({ model: Type.Optional(Type.String({ maxLength: 128 })), state: Type.Optional(Choice(JOB_STATES)) })]),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref('Lesion')), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }, { examples: [{ items: [], total: 2, limit: 50, offset: 0 }] }),
          ...errors(400),
        },
      },
    },
    async (req) => listLesions(ctx, req.query),
  );

  app.get(
    '/lesions/:id',
    {
      schema: {
        tags: ['lesions'],
        summary: 'State, progress, and (once succeeded) per dose and set: measures, the lesion’s Δ, the controls’ Δ with mean, sd, z and empirical p, and the specificity',
        params: LesionParams,
        response: { 200: Type.Ref('Lesion'), ...errors(404) },
      },
    },
    async (req) => lesionView(ctx, requireLesion(ctx, req.params.id)),
  );

  app.delete(
    '/lesions/:id',
    {
      schema: {
        tags: ['lesions'],
        summary: 'Cancel a queued or running lesion; with purge=true delete a finished one',
        params: LesionParams,
        querystring: Type.Object({ purge: Type.Optional(Type.Boolean({ default: false })) }),
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('Lesion'), 204: Type.Null({ description: 'Purged.' }), ...errors(401, 404, 409) },
      },
    },
    async (req, reply) => {
      const v = cancelOrPurgeLesion(ctx, app.jobs, req.params.id, req.query.purge ?? false);
      return v === null ? reply.status(204).send(null) : reply.send(v);
    },
  );

  app.get(
    '/lesions/:id/configs',
    {
      schema: {
        tags: ['lesions'],
        summary: 'Every configuration of the lesion with its units per layer: the intact model (0), then per dose the lesion, its random and its spatial controls',
        params: LesionParams,
        querystring: Type.Object({ dose: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })) }),
        response: {
          200: Type.Object({
            lesion: Type.String(),
            mode: Type.String(),
            factor: Num,
            items: Type.Array(
              Type.Object({
                idx: Type.Integer(),
                role: Choice(['intact', 'lesion', 'random', 'spatial']),
                dose: Nullable(Type.Integer()),
                control: Nullable(Type.Integer()),
                seed: Nullable(Type.Integer()),
                nUnits: Type.Integer(),
                layers: Type.Array(Type.Object({ layer: Type.String(), nUnits: Type.Integer(), units: Type.Array(Type.Integer()) })),
              }),
            ),
          }),
          ...errors(400, 404),
        },
      },
    },
    async (req) => lesionConfigsView(ctx, req.params.id, req.query.dose),
  );

  app.get(
    '/lesions/:id/stimuli',
    {
      schema: {
        tags: ['lesions'],
        summary: 'The evaluation order of the stimuli and the configurations; with `measure`, its per-stimulus values (configs × stimuli, row 0 intact; `effect=true`: minus the intact row, oriented as damage)',
        params: LesionParams,
        querystring: Type.Object({ measure: Type.Optional(Measure), effect: Type.Optional(Type.Boolean({ default: false })) }),
        response: {
          200: Type.Object({
            lesion: Type.String(),
            outputKind: Type.String(),
            measures: Type.Array(Type.String()),
            stimuli: Type.Array(
              Type.Object({ idx: Type.Integer(), set: Type.Integer(), setId: Type.String(), sha256: Type.String(), label: Nullable(Type.String()), classLabel: Nullable(Type.String()) }),
            ),
            configs: Type.Array(Type.Object({ idx: Type.Integer(), role: Type.String(), dose: Nullable(Type.Integer()), control: Nullable(Type.Integer()), nUnits: Type.Integer() })),
            measure: Nullable(Type.String()),
            effect: Type.Boolean(),
            values: Type.Union([Type.Array(Type.Array(Num)), Type.Null()]),
          }),
          ...errors(400, 404, 409),
        },
      },
    },
    async (req) => stimuliDocument(ctx, req.params.id, req.query.measure, req.query.effect ?? false),
  );

  app.get(
    '/lesions/:id/values.npy',
    {
      schema: {
        tags: ['lesions'],
        summary: 'Per-stimulus values of one measure as a configs × stimuli float64 .npy (row 0 the intact model; `effect=true`: each row minus the intact row, oriented as damage)',
        params: LesionParams,
        querystring: Type.Object({ measure: Measure, effect: Type.Optional(Type.Boolean({ default: false })) }),
        response: { 200: Binary('application/octet-stream (.npy)'), ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const npy = stimulusValuesNpy(ctx, req.params.id, req.query.measure, req.query.effect ?? false);
      return reply.type('application/octet-stream').header('Content-Disposition', `attachment; filename="${npy.file}"`).send(npy.data);
    },
  );

  app.get(
    '/lesions/:id/effects.png',
    {
      schema: {
        tags: ['lesions'],
        summary: 'The lesion’s effect per set (and the specificity) against the random and the spatial control distributions, as a PNG',
        params: LesionParams,
        querystring: FigureQuery,
        response: { 200: Binary('image/png'), ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => reply.type('image/png').send(await effectsPng(ctx, req.params.id, req.query)),
  );

  app.get(
    '/lesions/:id/effects.svg',
    {
      schema: { tags: ['lesions'], summary: 'The effects figure as an SVG', params: LesionParams, querystring: FigureQuery, response: { 200: Binary('image/svg+xml'), ...errors(400, 404, 409) } },
    },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').send(effectsSvg(ctx, req.params.id, req.query)),
  );

  const DoseQuery = Type.Object({ measure: FigureQuery.properties.measure });
  app.get(
    '/lesions/:id/dose-response.png',
    {
      schema: {
        tags: ['lesions'],
        summary: 'Δ of the lesion per set against k (top-k selections with several k), with the random and spatial controls’ mean ± sd as bands, as a PNG',
        params: LesionParams,
        querystring: DoseQuery,
        response: { 200: Binary('image/png'), ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => reply.type('image/png').send(await doseResponsePng(ctx, req.params.id, req.query)),
  );

  app.get(
    '/lesions/:id/dose-response.svg',
    {
      schema: { tags: ['lesions'], summary: 'The dose-response figure as an SVG', params: LesionParams, querystring: DoseQuery, response: { 200: Binary('image/svg+xml'), ...errors(400, 404, 409) } },
    },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').send(doseResponseSvg(ctx, req.params.id, req.query)),
  );
};
