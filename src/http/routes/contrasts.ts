import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { BatteryRequest, ContrastRequest } from '../../jobs/queue.ts';
import { layerDocument, layerMapNpy, layerMapPng, smoothnessPng, STAT_LABELS, type MapStat } from '../../usecases/results.ts';
import { findModel, getModel } from '../../store/models-repo.ts';
import {
  batteryJobs,
  getActivations,
  getJob,
  getLayerResult,
  jobStimuli,
  layerArrays,
  layerClusters,
  layerSummaries,
  listJobs,
  type JobRecord,
  type StoredLayer,
} from '../../store/jobs-repo.ts';
import { rmrf } from '../../store/files.ts';
import { CreateBatteryBody, CreateContrastBody, IdParam, LayerResultSchema, MapQuery, Page, errors } from '../schemas.ts';
import type { Context } from '../../store/context.ts';

export function contrastView(ctx: Context, j: JobRecord) {
  return {
    id: j.id,
    state: j.state,
    label: j.params.label,
    model: j.modelId,
    params: j.params,
    progress: { done: j.progressDone, total: j.progressTotal, fraction: j.progressTotal ? j.progressDone / j.progressTotal : 0 },
    error: j.error,
    timings: j.timings,
    attempts: j.attempts,
    battery: j.batteryId,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    layers: j.state === 'succeeded' ? layerSummaries(ctx.db, j.id).map((l) => ({ ...l.summary, name: l.name })) : [],
    provenance: j.provenance,
  };
}

const LayerParams = Type.Object({ id: Type.String({ minLength: 1, examples: ['c_3b91283dcc6bafe7'] }), layer: Type.String({ minLength: 1, examples: ['conv4'] }) });

function requireJob(ctx: Context, id: string): JobRecord {
  const j = getJob(ctx.db, id);
  if (!j) throw new NotFoundError('contrast', id);
  return j;
}

function requireLayer(ctx: Context, id: string, layer: string): { job: JobRecord; layer: StoredLayer } {
  const job = requireJob(ctx, id);
  if (job.state !== 'succeeded') throw new ConflictError(`contrast '${id}' is ${job.state}; results exist once it has succeeded`);
  const l = getLayerResult(ctx.db, id, layer);
  if (!l) throw new NotFoundError(`layer of contrast ${id}`, layer);
  return { job, layer: l };
}

export async function contrastRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ctx;

  app.post(
    '/contrasts',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'Submit a contrast job (a vs b on every requested layer)',
        description:
          'Answers 202 with the job and a Location header; poll `GET /v1/contrasts/:id`. Per unit: n, mean and variance per condition, ' +
          'Welch (default) or Student t, df, two-sided p (with log10 p), corrected q, Cohen\'s d and Hedges\' g.',
        body: CreateContrastBody,
        security: [{ bearer: [] }],
        response: { 202: Type.Ref('Contrast'), ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => {
      const job = app.jobs.submit(req.body as ContrastRequest);
      void reply.header('Location', `/v1/contrasts/${job.id}`);
      return reply.status(202).send(contrastView(ctx, job));
    },
  );

  const BatterySchema = Type.Object(
    { id: Type.String(), contrasts: Type.Array(Type.Ref('Contrast')) },
    { examples: [{ id: 'b_5e0c2a7f9d1b3c4e', contrasts: [] }] },
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
        body: CreateBatteryBody,
        security: [{ bearer: [] }],
        response: { 202: BatterySchema, ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => {
      const r = app.jobs.submitBattery(req.body as BatteryRequest);
      void reply.header('Location', `/v1/batteries/${r.id}`);
      return reply.status(202).send({ id: r.id, contrasts: r.jobs.map((j) => contrastView(ctx, j)) });
    },
  );

  app.get(
    '/batteries/:id',
    {
      schema: { tags: ['contrasts'], summary: 'The contrasts of a battery', params: IdParam, response: { 200: BatterySchema, ...errors(404) } },
    },
    async (req) => {
      const id = (req.params as { id: string }).id;
      const jobs = batteryJobs(ctx.db, id);
      if (jobs.length === 0) throw new NotFoundError('battery', id);
      return { id, contrasts: jobs.map((j) => contrastView(ctx, j)) };
    },
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
    async (req) => {
      const id = (req.params as { id: string }).id;
      const jobs = batteryJobs(ctx.db, id);
      if (jobs.length === 0) throw new NotFoundError('battery', id);
      for (const j of jobs) if (j.state === 'queued' || j.state === 'running') app.jobs.cancel(j.id);
      return { id, contrasts: batteryJobs(ctx.db, id).map((j) => contrastView(ctx, j)) };
    },
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
            model: Type.Optional(Type.String()),
            state: Type.Optional(Type.Union(['queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s)))),
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
    async (req) => {
      const q = req.query as { limit?: number; offset?: number; model?: string; state?: string };
      const limit = q.limit ?? 50;
      const offset = q.offset ?? 0;
      const model = q.model ? (findModel(ctx.db, q.model)?.id ?? q.model) : undefined;
      const r = listJobs(ctx.db, { limit, offset, model, state: q.state });
      return { items: r.items.map((j) => contrastView(ctx, j)), total: r.total, limit, offset };
    },
  );

  app.get(
    '/contrasts/:id',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'State, progress, timings, error, and per-layer summaries',
        params: IdParam,
        response: { 200: Type.Ref('Contrast'), ...errors(404) },
      },
    },
    async (req) => contrastView(ctx, requireJob(ctx, (req.params as { id: string }).id)),
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
      const id = (req.params as { id: string }).id;
      const j = requireJob(ctx, id);
      if ((req.query as { purge?: boolean }).purge && j.state !== 'queued' && j.state !== 'running') {
        ctx.db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
        rmrf(path.join(ctx.paths.activations, id));
        return reply.status(204).send();
      }
      return contrastView(ctx, app.jobs.cancel(id));
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
                Type.Object({ idx: Type.Integer(), condition: Type.String(), setId: Type.String(), sha256: Type.String(), label: Type.Union([Type.String(), Type.Null()]) }),
              ),
            },
            { examples: [{ items: [{ idx: 0, condition: 'a', setId: '6f20c8f0d6d1a773', sha256: '1b4f0e98…', label: 'faces-01-grinning-face-noto.png' }] }] },
          ),
          ...errors(404, 409),
        },
      },
    },
    async (req) => {
      const id = (req.params as { id: string }).id;
      const j = requireJob(ctx, id);
      if (j.state !== 'succeeded') throw new ConflictError(`contrast '${id}' is ${j.state}`);
      return { items: jobStimuli(ctx.db, id) };
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'Per-unit statistics of one layer with its sheet layout',
        params: LayerParams,
        response: { 200: LayerResultSchema, ...errors(404, 409) },
      },
    },
    async (req) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const { layer: l } = requireLayer(ctx, id, layer);
      return layerDocument(id, l, layerClusters(ctx.db, id, l.name), layerArrays(ctx.db, id, l.name));
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer/map.png',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The selectivity map as a PNG',
        description:
          'The sheet upscaled with crisp cells, a diverging colormap symmetric about 0, a colorbar with values, outlines of units at or above ' +
          '`threshold` (same scale as `stat`), and a title with model, layer, contrast and statistic.',
        params: LayerParams,
        querystring: MapQuery,
        response: { 200: Type.String({ format: 'binary', description: 'image/png' }), ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const q = req.query as { stat?: MapStat; threshold?: number; vmax?: number; outline?: 'threshold' | 'clusters' };
      const stat = q.stat ?? 't';
      const { job, layer: l } = requireLayer(ctx, id, layer);
      const model = getModel(ctx.db, job.modelId);
      const extras = layerArrays(ctx.db, id, l.name);
      const clusters = q.outline === 'clusters';
      const png = await layerMapPng(
        l,
        stat,
        {
          title: `${model?.name ?? job.modelId} / ${l.name}: ${job.params.label ?? `${job.params.a.join('+')} > ${job.params.b.join('+')}`}`,
          subtitle: `${STAT_LABELS[stat]}, ${job.params.test} test, n=${l.nA} vs ${l.nB}${
            clusters ? `, outlined: clusters` : q.threshold !== undefined ? `, outline |${stat}| >= ${q.threshold}` : ''
          }`,
          threshold: clusters ? undefined : q.threshold,
          vmax: q.vmax,
          clusterLabels: clusters ? (extras.cluster_label as Int32Array | undefined) : undefined,
        },
        extras,
      );
      return reply.type('image/png').header('Cache-Control', 'private, max-age=3600').send(png);
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer/map.npy',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The statistic on the sheet as a rows × cols float32 .npy (NaN where no unit sits)',
        params: LayerParams,
        querystring: Type.Object({ stat: MapQuery.properties.stat }),
        response: { 200: Type.String({ format: 'binary', description: 'application/octet-stream (.npy)' }), ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const stat = (req.query as { stat?: MapStat }).stat ?? 't';
      const { layer: l } = requireLayer(ctx, id, layer);
      return reply
        .type('application/octet-stream')
        .header('Content-Disposition', `attachment; filename="${id}-${l.name}-${stat}.npy"`)
        .send(layerMapNpy(l, stat, layerArrays(ctx.db, id, l.name)));
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
          200: Type.Object({
            contrast: Type.String(),
            layer: Type.String(),
            params: Type.Object({}, { additionalProperties: true }),
            clusters: Type.Array(
              Type.Object({
                id: Type.Integer(),
                sign: Type.Integer(),
                size: Type.Integer(),
                mass: Type.Number(),
                peakT: Type.Number(),
                peakUnit: Type.Integer(),
                peakRow: Type.Integer(),
                peakCol: Type.Integer(),
                centroidRow: Type.Number(),
                centroidCol: Type.Number(),
                pMass: Type.Union([Type.Number(), Type.Null()]),
                pSize: Type.Union([Type.Number(), Type.Null()]),
              }),
            ),
          }, { examples: [{ contrast: 'c_3b91283dcc6bafe7', layer: 'conv4', params: { scale: 'p', threshold: 0.001, connectivity: 8, minSize: 1, tfce: false }, clusters: [{ id: 1, sign: 1, size: 84, mass: 512.3, peakT: 22.2, peakUnit: 37, peakRow: 2, peakCol: 5, centroidRow: 3.1, centroidCol: 5.4, pMass: 0.001, pSize: 0.001 }] }] }),
          ...errors(404, 409),
        },
      },
    },
    async (req) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const { layer: l } = requireLayer(ctx, id, layer);
      return { contrast: id, layer: l.name, params: (l.analysis.clusterParams as object) ?? {}, clusters: layerClusters(ctx.db, id, l.name) };
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer/topography',
    {
      schema: {
        tags: ['contrasts'],
        summary: "Topography of the t-map: Moran's I (unsmoothed) with its spatial-permutation p, the smoothness curve, and reliability / permutation summaries when computed",
        params: LayerParams,
        response: {
          200: Type.Object({
            contrast: Type.String(),
            layer: Type.String(),
            moran: Type.Object({}, { additionalProperties: true }),
            smoothness: Type.Object({}, { additionalProperties: true }),
            reliability: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
            permutation: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
          }, { examples: [{ contrast: 'c_3b91283dcc6bafe7', layer: 'conv4', moran: { statistic: 't', contiguity: 'queen', smoothed: false, I: 0.744, p: 0.001, permutations: 999 }, smoothness: { binCenters: [0.5, 1.5], meanAbsDiff: [1.2, 2.9], chanceMean: [4.1, 4.1] }, reliability: null, permutation: null }] }),
          ...errors(404, 409),
        },
      },
    },
    async (req) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const { layer: l } = requireLayer(ctx, id, layer);
      const a = l.analysis as Record<string, object | undefined>;
      return { contrast: id, layer: l.name, moran: a.moran ?? {}, smoothness: a.smoothness ?? {}, reliability: a.reliability ?? null, permutation: a.permutation ?? null };
    },
  );

  app.get(
    '/contrasts/:id/layers/:layer/smoothness.png',
    {
      schema: {
        tags: ['contrasts'],
        summary: 'The smoothness curve (mean |Δt| between unit pairs by sheet distance, with the shuffled-position chance curve) as a PNG',
        params: LayerParams,
        response: { 200: Type.String({ format: 'binary', description: 'image/png' }), ...errors(404, 409) },
      },
    },
    async (req, reply) => {
      const { id, layer } = req.params as { id: string; layer: string };
      const { job, layer: l } = requireLayer(ctx, id, layer);
      const model = getModel(ctx.db, job.modelId);
      return reply.type('image/png').send(await smoothnessPng(l, `${model?.name ?? job.modelId} / ${l.name}: ${job.params.label ?? ''} - smoothness`));
    },
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
          response: { 200: Type.String({ format: 'binary' }), ...errors(404, 409) },
        },
      },
      async (req, reply) => {
        const { id, layer } = req.params as { id: string; layer: string };
        requireLayer(ctx, id, layer);
        const a = getActivations(ctx.db, id, layer);
        if (!a) throw new NotFoundError(`kept activations of contrast ${id} (submit with keepActivations: true)`, layer);
        const file = path.join(ctx.paths.data, kind === 'activations' ? a.path : a.rowIndexPath);
        return reply
          .type('application/octet-stream')
          .header('Content-Disposition', `attachment; filename="${id}-${layer}-${kind}.npy"`)
          .header('Content-Length', fs.statSync(file).size)
          .send(fs.createReadStream(file));
      },
    );
  }
}
