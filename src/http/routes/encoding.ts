/**
 * What a region encodes (issue 10): top stimuli and cross-validated response profiles (async jobs),
 * per-unit selectivity across a stored battery (computed on request and stored), and their figures.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { JOB_STATES } from '../../domain/records.ts';
import {
  cancelOrPurgeEncoding,
  COMPARE_METRICS,
  createSelectivity,
  deleteSelectivity,
  listEncoding,
  listSelectivity,
  profilePng,
  ProfileRequestSchema,
  profileSplits,
  profileSvg,
  profileView,
  SELECTIVITY_STATS,
  selectivityComparePng,
  selectivityLayer,
  selectivityMapPng,
  selectivityMapSvg,
  SelectivityRequestSchema,
  selectivityView,
  submitProfile,
  submitTopStimuli,
  topStimuliHistogramPng,
  topStimuliHistogramSvg,
  TopStimuliRequestSchema,
  topStimuliTokensPng,
  topStimuliTokensSvg,
  topStimuliView,
  unitTopStimuli,
} from '../../usecases/encoding.ts';
import { Binary, Page, errors } from '../schemas.ts';
import { Choice, Nullable } from '../../domain/choice.ts';

const Num = Nullable(Type.Number(), { description: 'null where undefined (NaN).' });
const Free = Type.Object({}, { additionalProperties: true });
const LayerUnits = Type.Object({ layer: Type.String(), units: Type.Array(Type.Integer()) });

const ExampleSchema = Type.Object({
  idx: Type.Integer({ description: "Index in the job's stimulus order (its sets in order, items in position order)." }),
  set: Type.String(),
  setName: Type.String(),
  position: Type.Integer({ description: 'Position in its set: GET /v1/stimulus-sets/:set/items/:position has the item.' }),
  sha256: Type.String(),
  label: Nullable(Type.String()),
  text: Nullable(Type.String()),
  value: Num,
  tokens: Type.Optional(Type.Object({ tokens: Type.Array(Type.String()), values: Type.Array(Num) }, { description: "The region's activation at every token." })),
});

const RegionOut = Type.Object({
  kind: Type.String(),
  label: Type.String(),
  source: Free,
  layers: Type.Array(LayerUnits),
  nUnits: Type.Integer(),
});

const TopStimuliResultSchema = Type.Object({
  region: RegionOut,
  pooling: Type.String(),
  n: Type.Integer(),
  nonFinite: Type.Integer(),
  mean: Num,
  top: Type.Array(ExampleSchema),
  bottom: Type.Array(ExampleSchema),
  histogram: Type.Object(
    { width: Num, lo: Num, counts: Type.Array(Type.Number()), n: Type.Integer(), min: Num, max: Num },
    { description: 'Exact counts on a power-of-two grid: bin j covers [lo + j·width, lo + (j+1)·width).' },
  ),
  quantiles: Type.Array(
    Type.Object({ fromQuantile: Type.Number(), toQuantile: Type.Number(), lo: Num, hi: Num, count: Type.Integer(), examples: Type.Array(ExampleSchema) }),
  ),
  perUnit: Type.Union([Type.Object({ layers: Type.Array(LayerUnits), k: Type.Integer(), bottomK: Type.Integer() }), Type.Null()]),
  tokenCheck: Type.Union([Type.Object({ examples: Type.Integer(), maxAbsDiff: Type.Number() }), Type.Null()]),
});

const CISchema = Type.Object({ mean: Num, lo: Num, hi: Num, se: Num, n: Type.Integer() });
const EffectSchema = Type.Object({ d: Num, lo: Num, hi: Num, se: Num, meanDiff: Num, nA: Type.Integer(), nB: Type.Integer() });
const ProfileResultSchema = Type.Object({
  mode: Choice(['split-half', 'independent']),
  pooling: Type.String(),
  categories: Type.Array(
    Type.Object({
      set: Type.String(),
      name: Type.String(),
      items: Type.Integer(),
      measured: Type.Integer(),
      excluded: Type.Integer(),
      roi: CISchema,
      control: Type.Union([CISchema, Type.Null()]),
    }),
  ),
  roiUnits: Type.Array(Type.Integer()),
  effect: Type.Union([Type.Object({ a: Type.String(), b: Type.String(), roi: EffectSchema, control: Type.Union([EffectSchema, Type.Null()]), t: Num, df: Num, p: Num }), Type.Null()]),
  bootstrap: Type.Object({ resamples: Type.Integer(), level: Type.Number(), seed: Type.Integer(), method: Type.String() }),
  splits: Type.Integer(),
});

function jobSchema(id: string, title: string, result: TSchema, example: Record<string, unknown>) {
  return Type.Object(
    {
      id: Type.String(),
      kind: Type.String(),
      state: Choice(JOB_STATES),
      label: Nullable(Type.String()),
      model: Type.String(),
      params: Free,
      progress: Type.Object({ done: Type.Integer(), total: Type.Integer(), fraction: Type.Number() }),
      error: Nullable(Type.String()),
      timings: Type.Union([Type.Object({}, { additionalProperties: Type.Number() }), Type.Null()]),
      attempts: Type.Integer(),
      createdAt: Type.String({ format: 'date-time' }),
      startedAt: Nullable(Type.String({ format: 'date-time' })),
      finishedAt: Nullable(Type.String({ format: 'date-time' })),
      provenance: Free,
      result: Type.Optional(Type.Union([result, Type.Null()])),
    },
    { $id: id, title, examples: [example] },
  );
}

const exampleJob = (id: string, kind: string) => ({
  id,
  kind,
  state: 'queued',
  label: 'mask toxic over corpus',
  model: '3f2a9c0d1b7e4a55',
  params: {},
  progress: { done: 0, total: 8565, fraction: 0 },
  error: null,
  timings: null,
  attempts: 0,
  createdAt: '2026-11-25T06:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  provenance: {},
  result: null,
});

export const TopStimuliJob = jobSchema('TopStimuliJob', 'Top stimuli job', TopStimuliResultSchema, exampleJob('ts_0a1b2c3d4e5f6071', 'top-stimuli'));
export const ProfileJob = jobSchema('ProfileJob', 'Response profile job', ProfileResultSchema, exampleJob('pf_0a1b2c3d4e5f6071', 'profile'));

export const SelectivitySchema = Type.Object(
  {
    id: Type.String(),
    modelId: Type.String(),
    modelName: Type.String(),
    battery: Type.String(),
    categories: Type.Array(Type.Object({ name: Type.String(), set: Type.String(), contrast: Type.String(), n: Type.Integer() })),
    threshold: Type.Number(),
    layers: Type.Array(
      Type.Object({
        layer: Type.String(),
        units: Type.Integer(),
        preferredCounts: Type.Array(Type.Integer()),
        noPreference: Type.Integer(),
        meanSI: Num,
        medianSI: Num,
        meanSparseness: Num,
        medianSparseness: Num,
        meanNAbove: Num,
        nAboveFractions: Type.Array(Type.Number(), { description: 'Fractions of units with 0, 1 and ≥ 2 categories at d′ ≥ threshold.' }),
        selectiveFraction: Type.Number(),
        neighbourAgreement: Num,
        neighbourChance: Num,
      }),
    ),
    provenance: Free,
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Selectivity', title: 'Selectivity across a battery', examples: [{ id: 'sel_0a1b2c3d4e5f6071', modelId: '3f2a9c0d1b7e4a55', modelName: 'topo-cnn', battery: 'b_5e0c2a7f9d1b3c4e', categories: [], threshold: 0.5, layers: [], provenance: {}, createdAt: '2026-11-25T06:00:00.000Z' }] },
);

const SelectivityLayerSchema = Type.Object(
  {
    selectivity: Type.String(),
    layer: Type.String(),
    categories: Type.Array(Type.String()),
    threshold: Type.Number(),
    rows: Type.Integer(),
    cols: Type.Integer(),
    cellOfUnit: Type.Array(Type.Integer()),
    mean: Type.Array(Type.Array(Num), { description: 'mean[c][u]: category mean responses.' }),
    dprime: Type.Array(Type.Array(Num), { description: 'dprime[c][u]: d′ of category c vs the rest.' }),
    preferred: Type.Array(Type.Integer(), { description: 'Index of the preferred category, −1 for none.' }),
    si: Type.Array(Num),
    sparseness: Type.Array(Num),
    nAbove: Type.Array(Type.Integer()),
    maxDprime: Type.Array(Num),
    summary: Free,
  },
  { examples: [{ selectivity: 'sel_0a1b2c3d4e5f6071', layer: 'conv4', categories: ['faces', 'objects'], threshold: 0.5, rows: 1, cols: 1, cellOfUnit: [0], mean: [[0.1], [0.2]], dprime: [[-0.3], [0.3]], preferred: [1], si: [0.33], sparseness: [0.11], nAbove: [0], maxDprime: [0.3], summary: {} }] },
);

const JobId = (ex: string) => Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, examples: [ex] }) });
const SelLayer = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, examples: ['sel_0a1b2c3d4e5f6071'] }), layer: Type.String({ minLength: 1, maxLength: 200, examples: ['conv4'] }) });
const ListQuery = Type.Intersect([Page, Type.Object({ model: Type.Optional(Type.String({ maxLength: 128 })), state: Type.Optional(Choice(JOB_STATES)) })]);
const Purge = Type.Object({ purge: Type.Optional(Type.Boolean({ default: false })) });
const listOf = (ref: string) =>
  Type.Object({ items: Type.Array(Type.Ref(ref)), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }, { examples: [{ items: [], total: 0, limit: 50, offset: 0 }] });

export const encodingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

  // ── top stimuli ──
  app.post(
    '/top-stimuli',
    {
      schema: {
        tags: ['encoding'],
        summary: 'Submit a top-stimuli job: the stimuli that drive a region most and least, in one streaming pass',
        description:
          'A region is a unit, a cluster of a contrast, a stored mask or a whole layer; its response to a stimulus is the mean of its units. ' +
          'One pass over the sets keeps top-k and bottom-k heaps (per region and, with `perUnit`, per unit), an exact power-of-two histogram and a seeded ' +
          'sample per histogram bin, so memory does not grow with the number of stimuli. Text examples are re-run with `tokens` pooling for per-token activations. ' +
          'Answers 202 with the job; poll `GET /v1/top-stimuli/:id`.',
        body: TopStimuliRequestSchema,
        security: [{ bearer: [] }],
        response: { 202: Type.Ref('TopStimuliJob'), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const v = submitTopStimuli(ctx, app.jobs, req.body);
      return reply.status(202).header('Location', `/v1/top-stimuli/${v.id}`).send(v);
    },
  );

  app.get(
    '/top-stimuli',
    { schema: { tags: ['encoding'], summary: 'List top-stimuli jobs, newest first', querystring: ListQuery, response: { 200: listOf('TopStimuliJob'), ...errors(400) } } },
    async (req) => listEncoding(ctx, 'top-stimuli', req.query),
  );

  app.get(
    '/top-stimuli/:id',
    {
      schema: {
        tags: ['encoding'],
        summary: 'A top-stimuli job: state, and once succeeded the top, bottom and quantile-group examples, the histogram and per-token activations',
        params: JobId('ts_0a1b2c3d4e5f6071'),
        response: { 200: Type.Ref('TopStimuliJob'), ...errors(404) },
      },
    },
    async (req) => topStimuliView(ctx, req.params.id),
  );

  app.get(
    '/top-stimuli/:id/units/:layer/:unit',
    {
      schema: {
        tags: ['encoding'],
        summary: "One unit's top and bottom stimuli (jobs submitted with perUnit)",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, examples: ['ts_0a1b2c3d4e5f6071'] }), layer: Type.String({ minLength: 1, maxLength: 200, examples: ['mlp0'] }), unit: Type.Integer({ minimum: 0, maximum: 1e9 }) }),
        response: { 200: Type.Object({ job: Type.String(), layer: Type.String(), unit: Type.Integer(), top: Type.Array(ExampleSchema), bottom: Type.Array(ExampleSchema) }), ...errors(400, 404, 409) },
      },
    },
    async (req) => unitTopStimuli(ctx, req.params.id, req.params.layer, req.params.unit),
  );

  const HistQuery = Type.Object({ log: Type.Optional(Type.Boolean({ default: false, description: 'A log count axis.' })) });
  app.get(
    '/top-stimuli/:id/histogram.png',
    {
      schema: { tags: ['encoding'], summary: "The region's response histogram with its quantile groups, as PNG", params: JobId('ts_0a1b2c3d4e5f6071'), querystring: HistQuery, response: { 200: Binary('image/png'), ...errors(400, 404, 409) } },
    },
    async (req, reply) => reply.type('image/png').send(await topStimuliHistogramPng(ctx, req.params.id, { log: req.query.log })),
  );
  app.get(
    '/top-stimuli/:id/histogram.svg',
    {
      schema: { tags: ['encoding'], summary: "The region's response histogram as SVG", params: JobId('ts_0a1b2c3d4e5f6071'), querystring: HistQuery, response: { 200: Binary('image/svg+xml'), ...errors(400, 404, 409) } },
    },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').send(topStimuliHistogramSvg(ctx, req.params.id, { log: req.query.log })),
  );

  const TokQuery = Type.Object({
    which: Type.Optional(Choice(['top', 'bottom'], { default: 'top' })),
    n: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'How many examples.' })),
  });
  app.get(
    '/top-stimuli/:id/tokens.png',
    {
      schema: { tags: ['encoding'], summary: "The top (or bottom) text examples with the region's activation at every token, PNG", params: JobId('ts_0a1b2c3d4e5f6071'), querystring: TokQuery, response: { 200: Binary('image/png'), ...errors(400, 404, 409) } },
    },
    async (req, reply) => reply.type('image/png').send(await topStimuliTokensPng(ctx, req.params.id, req.query)),
  );
  app.get(
    '/top-stimuli/:id/tokens.svg',
    {
      schema: { tags: ['encoding'], summary: 'The text examples with per-token activations, SVG', params: JobId('ts_0a1b2c3d4e5f6071'), querystring: TokQuery, response: { 200: Binary('image/svg+xml'), ...errors(400, 404, 409) } },
    },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').send(topStimuliTokensSvg(ctx, req.params.id, req.query)),
  );

  app.delete(
    '/top-stimuli/:id',
    {
      schema: {
        tags: ['encoding'],
        summary: 'Cancel a queued or running top-stimuli job; with purge=true delete a finished one',
        params: JobId('ts_0a1b2c3d4e5f6071'),
        querystring: Purge,
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('TopStimuliJob'), 204: Type.Null({ description: 'Purged.' }), ...errors(401, 404, 409) },
      },
    },
    async (req, reply) => {
      const v = cancelOrPurgeEncoding(ctx, app.jobs, 'top-stimuli', req.params.id, req.query.purge ?? false);
      return v === null ? reply.status(204).send(null) : reply.send(v);
    },
  );

  // ── profiles ──
  app.post(
    '/profiles',
    {
      schema: {
        tags: ['encoding'],
        summary: "Submit a cross-validated response profile of an fROI over categories, with bootstrap CIs and the matched random control",
        description:
          '`localizer`: split-half within it — for each of `splits` seeded splits, half of each localizer set defines the fROI (top `percent` % of units by Welch t) ' +
          'and every other stimulus is measured (items in the definition half never are). `mask`: an independent localizer — a fixed fROI, measured on the sets ' +
          "minus the items of its contrast's sets. Per category: the mean held-out response with a seeded percentile-bootstrap CI over stimuli. The stored splits are at `/splits`.",
        body: ProfileRequestSchema,
        security: [{ bearer: [] }],
        response: { 202: Type.Ref('ProfileJob'), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const v = submitProfile(ctx, app.jobs, req.body);
      return reply.status(202).header('Location', `/v1/profiles/${v.id}`).send(v);
    },
  );

  app.get(
    '/profiles',
    { schema: { tags: ['encoding'], summary: 'List profile jobs, newest first', querystring: ListQuery, response: { 200: listOf('ProfileJob'), ...errors(400) } } },
    async (req) => listEncoding(ctx, 'profile', req.query),
  );

  app.get(
    '/profiles/:id',
    { schema: { tags: ['encoding'], summary: 'A profile job: state, and once succeeded the per-category means with CIs', params: JobId('pf_0a1b2c3d4e5f6071'), response: { 200: Type.Ref('ProfileJob'), ...errors(404) } } },
    async (req) => profileView(ctx, req.params.id),
  );

  app.get(
    '/profiles/:id/splits',
    {
      schema: {
        tags: ['encoding'],
        summary: 'The stored splits: per split the stimuli that defined the fROI, those measured with it, its units and its control',
        params: JobId('pf_0a1b2c3d4e5f6071'),
        response: {
          200: Type.Object({
            profile: Type.String(),
            stimuli: Type.Array(Type.Object({ idx: Type.Integer(), set: Type.String(), position: Type.Integer(), sha256: Type.String() })),
            splits: Type.Array(
              Type.Object({
                split: Type.Integer(),
                definition: Type.Array(Type.Integer()),
                measurement: Type.Array(Type.Integer()),
                definitionItems: Type.Array(Type.String(), { description: "Item hashes that defined the fROI outside this job's stimuli (independent localizer)." }),
                roi: Type.Array(LayerUnits),
                control: Type.Union([Type.Array(LayerUnits), Type.Null()]),
              }),
            ),
          }),
          ...errors(404, 409),
        },
      },
    },
    async (req) => profileSplits(ctx, req.params.id),
  );

  app.get(
    '/profiles/:id/profile.png',
    { schema: { tags: ['encoding'], summary: 'The profile as a bar chart with CIs (fROI and control), PNG', params: JobId('pf_0a1b2c3d4e5f6071'), response: { 200: Binary('image/png'), ...errors(404, 409) } } },
    async (req, reply) => reply.type('image/png').send(await profilePng(ctx, req.params.id)),
  );
  app.get(
    '/profiles/:id/profile.svg',
    { schema: { tags: ['encoding'], summary: 'The profile as a bar chart with CIs, SVG', params: JobId('pf_0a1b2c3d4e5f6071'), response: { 200: Binary('image/svg+xml'), ...errors(404, 409) } } },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').send(profileSvg(ctx, req.params.id)),
  );

  app.delete(
    '/profiles/:id',
    {
      schema: {
        tags: ['encoding'],
        summary: 'Cancel a queued or running profile job; with purge=true delete a finished one',
        params: JobId('pf_0a1b2c3d4e5f6071'),
        querystring: Purge,
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('ProfileJob'), 204: Type.Null({ description: 'Purged.' }), ...errors(401, 404, 409) },
      },
    },
    async (req, reply) => {
      const v = cancelOrPurgeEncoding(ctx, app.jobs, 'profile', req.params.id, req.query.purge ?? false);
      return v === null ? reply.status(204).send(null) : reply.send(v);
    },
  );

  // ── selectivity ──
  app.post(
    '/selectivity',
    {
      schema: {
        tags: ['encoding'],
        summary: 'Per-unit selectivity across a stored battery of categories (d′ each vs rest, preferred category, SI, lifetime sparseness, categories above threshold)',
        description:
          "Computed from the battery's stored per-category means and variances (no inference) and stored with layer summaries for topographic vs flat comparisons.",
        body: SelectivityRequestSchema,
        security: [{ bearer: [] }],
        response: { 201: Type.Ref('Selectivity'), ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const v = createSelectivity(ctx, req.body);
      return reply.status(201).header('Location', `/v1/selectivity/${v.id}`).send(v);
    },
  );

  app.get(
    '/selectivity',
    {
      schema: {
        tags: ['encoding'],
        summary: 'List selectivity results, newest first',
        querystring: Type.Intersect([Page, Type.Object({ model: Type.Optional(Type.String({ maxLength: 128 })) })]),
        response: { 200: listOf('Selectivity'), ...errors(400) },
      },
    },
    async (req) => listSelectivity(ctx, req.query),
  );

  app.get(
    '/selectivity/compare.png',
    {
      schema: {
        tags: ['encoding'],
        summary: 'Layer summaries of several selectivity results side by side (e.g. topographic vs flat), PNG',
        querystring: Type.Object({
          ids: Type.String({ minLength: 1, maxLength: 1100, description: 'Selectivity ids, comma-separated (1 to 8).', examples: ['sel_0a1b2c3d4e5f6071,sel_1b2c3d4e5f607182'] }),
          metric: Type.Optional(Choice(COMPARE_METRICS, { default: 'si' })),
        }),
        response: { 200: Binary('image/png'), ...errors(400, 404) },
      },
    },
    async (req, reply) =>
      reply.type('image/png').send(
        await selectivityComparePng(
          ctx,
          req.query.ids.split(',').map((s) => s.trim()).filter(Boolean),
          req.query.metric ?? 'si',
        ),
      ),
  );

  app.get(
    '/selectivity/:id',
    { schema: { tags: ['encoding'], summary: 'A selectivity result with its layer summaries', params: JobId('sel_0a1b2c3d4e5f6071'), response: { 200: Type.Ref('Selectivity'), ...errors(404) } } },
    async (req) => selectivityView(ctx, req.params.id),
  );

  app.get(
    '/selectivity/:id/layers/:layer',
    { schema: { tags: ['encoding'], summary: 'Per-unit selectivity of one layer', params: SelLayer, response: { 200: SelectivityLayerSchema, ...errors(404) } } },
    async (req) => selectivityLayer(ctx, req.params.id, req.params.layer),
  );

  const MapQ = Type.Object({
    stat: Type.Optional(Choice(SELECTIVITY_STATS, { default: 'preferred', description: '`preferred`: categorical map with a legend; the others are scalar maps.' })),
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'stat=dprime: the category.' })),
  });
  app.get(
    '/selectivity/:id/layers/:layer/map.png',
    { schema: { tags: ['encoding'], summary: 'A selectivity map on the sheet (preferred category, SI, sparseness, categories above threshold, d′), PNG', params: SelLayer, querystring: MapQ, response: { 200: Binary('image/png'), ...errors(400, 404, 422) } } },
    async (req, reply) => reply.type('image/png').send(await selectivityMapPng(ctx, req.params.id, req.params.layer, req.query)),
  );
  app.get(
    '/selectivity/:id/layers/:layer/map.svg',
    { schema: { tags: ['encoding'], summary: 'A selectivity map on the sheet, SVG', params: SelLayer, querystring: MapQ, response: { 200: Binary('image/svg+xml'), ...errors(400, 404, 422) } } },
    async (req, reply) => reply.type('image/svg+xml; charset=utf-8').send(selectivityMapSvg(ctx, req.params.id, req.params.layer, req.query)),
  );

  app.delete(
    '/selectivity/:id',
    { schema: { tags: ['encoding'], summary: 'Delete a selectivity result', params: JobId('sel_0a1b2c3d4e5f6071'), security: [{ bearer: [] }], response: { 204: Type.Null(), ...errors(401, 404) } } },
    async (req, reply) => {
      deleteSelectivity(ctx, req.params.id);
      return reply.status(204).send(null);
    },
  );
};
