/**
 * The Fastify application: plugins (OpenAPI, Swagger UI, multipart), one error shape, the optional
 * API key, and the routes per resource. Routes are thin: validate, call one plain function, reply.
 */
import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import { VERSION } from '../config.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError, UnauthorizedError } from '../domain/errors.ts';
import { ManifestSchema } from '../domain/manifest.ts';
import type { Service } from '../usecases/service.ts';
import { ContrastSchema, ErrorSchema, ModelSchema, StimulusSetSchema } from './schemas.ts';
import { modelRoutes } from './routes/models.ts';
import { stimulusSetRoutes } from './routes/stimulus-sets.ts';
import { contrastRoutes } from './routes/contrasts.ts';
import { healthRoutes } from './routes/health.ts';
import { MaskSchema, maskRoutes } from './routes/masks.ts';
import { ComparisonSchema } from '../usecases/comparisons.ts';
import { comparisonRoutes } from './routes/comparisons.ts';
import { LesionSchema, lesionRoutes } from './routes/lesions.ts';
import { encodingRoutes, ProfileJob, SelectivitySchema, TopStimuliJob } from './routes/encoding.ts';
import { workerRoutes } from './routes/workers.ts';
import { viewerPlugin } from './plugins/viewer.ts';
import { limitHeavyGets } from './plugins/heavy-gets.ts';

declare module 'fastify' {
  interface FastifyInstance {
    ctx: Service['ctx'];
    jobs: Service['jobs'];
  }
}

export interface AppOptions {
  logger?: boolean | object;
  /** Start the job queue (recovery + processing). Off only for the OpenAPI generator. */
  startQueue?: boolean;
}

/** Routes of distributed workers: the API key is required on reads too. */
export const WORKER_ROUTE = /^\/v1\/(passes|blobs|shards)(\/|\?|$)/;

/** Routes whose GET renders a figure or runs the model: rate-limited per client. */
export const HEAVY_GET = /(\/map\.(png|svg)|\/smoothness\.png|\/tensors)$/;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ coerceTypes: coerce, useDefaults: true, removeAdditional: false, allErrors: false, strict: false, verbose: true });
  formats.default(ajv);
  return ajv;
}

/** `Bearer <key>`, the scheme in any case (RFC 7235), the key compared in constant time. */
function bearerMatches(header: string, key: Buffer): boolean {
  const m = /^bearer +(.*)$/i.exec(header.trim());
  if (!m) return false;
  const given = Buffer.from(m[1]);
  return given.length === key.length && crypto.timingSafeEqual(given, key);
}

/** A JSON pointer as the field names the service uses: `/texts/0/x` → `texts[0].x`. */
function fieldPath(pointer: string): string {
  let out = '';
  for (const part of pointer.split('/').filter(Boolean)) out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

/** How deep in the body an error's field is (a missing property counts as one level below its object). */
function depth(e: { instancePath?: string; keyword?: string }): number {
  const d = (e.instancePath ?? '').split('/').filter(Boolean).length;
  if (e.keyword === 'required' || e.keyword === 'additionalProperties') return d + 1;
  return e.keyword === 'anyOf' || e.keyword === 'oneOf' ? d - 0.5 : d;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

function isStorageError(err: unknown): boolean {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' && ['SQLITE_FULL', 'ENOSPC', 'SQLITE_READONLY', 'EROFS', 'SQLITE_IOERR', 'EDQUOT'].some((x) => c.startsWith(x));
}

function storageProblem(err: unknown, dir: string): { status: number; code: string; message: string } {
  const c = String((err as { code?: unknown }).code);
  if (c.startsWith('SQLITE_FULL') || c === 'ENOSPC' || c === 'EDQUOT') {
    return { status: 507, code: 'STORAGE_FULL', message: `the data directory ${dir} is full; free space there (nothing stored was changed by this request)` };
  }
  return { status: 503, code: 'STORAGE_UNAVAILABLE', message: `the data directory ${dir} cannot be written (${c}); check its permissions and file system` };
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
  500: 'Internal Server Error',
};

export async function buildApp(service: Service, opts: AppOptions = {}): Promise<FastifyInstance> {
  const ctx = service.ctx;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: Math.min(ctx.config.maxUploadBytes, 64 * 1024 * 1024),
    // Long enough that an over-long id reaches its schema (a 400 naming the field), not a 414.
    routerOptions: { maxParamLength: 8192 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Bodies are JSON: a wrong type is refused, never coerced. Query strings and path parameters are
  // text and are read as the scalar types their schema states (arrays are never made from scalars).
  const validators = { body: makeAjv(false), other: makeAjv(true) };
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? validators.body : validators.other).compile(schema));
  app.decorate('ctx', ctx);
  app.decorate('jobs', service.jobs);

  app.addSchema(ErrorSchema);
  app.addSchema(ManifestSchema);
  app.addSchema(ModelSchema);
  app.addSchema(StimulusSetSchema);
  app.addSchema(ContrastSchema);
  // Shared schemas are added here, never inside a route plugin: a plugin's own addSchema would give its
  // routes a schema controller without the validator compilers set above.
  app.addSchema(MaskSchema);
  app.addSchema(ComparisonSchema);
  app.addSchema(LesionSchema);
  app.addSchema(TopStimuliJob);
  app.addSchema(ProfileJob);
  app.addSchema(SelectivitySchema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'toposcope',
        version: VERSION,
        description:
          'Functional localizers on topographic neural networks: register an ONNX model and its manifest, register two stimulus sets, ' +
          'POST a contrast, watch it run, and fetch per-unit statistics and selectivity maps on the cortical sheet.',
      },
      tags: [
        { name: 'models', description: 'Topographic ONNX models and their manifests' },
        { name: 'stimulus-sets', description: 'Immutable, content-addressed image and text sets' },
        { name: 'contrasts', description: 'Contrast jobs, per-unit statistics and maps' },
        { name: 'masks', description: 'Unit masks (functional ROIs) and matched random controls' },
        { name: 'comparisons', description: 'Pearson r and SSIM between selectivity maps' },
        { name: 'lesions', description: 'Lesions of units against random and spatial controls: behaviour lost, specificity, dose-response' },
        { name: 'encoding', description: 'What a region encodes: top stimuli, cross-validated response profiles, selectivity across a battery' },
        { name: 'health', description: 'Liveness' },
        { name: 'workers', description: 'Distributed mode: what `toposcope worker` processes fetch from and send to their coordinator (the API key is required on every one)' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Required for writes when TOPOSCOPE_API_KEY is set.' } },
      },
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(multipart, {
    limits: {
      fileSize: ctx.config.maxUploadBytes,
      files: ctx.config.maxUploadFiles,
      fields: 32,
      parts: ctx.config.maxUploadFiles + 32,
    },
  });

  // CPU-heavy GETs (renderings, tensor listings) are rate-limited per client (the hook marks the routes
  // before the plugin's own onRoute hook reads the marks).
  if (ctx.config.heavyGetsPerMinute > 0) {
    app.addHook('onRoute', (route) => {
      if (route.method === 'GET' && HEAVY_GET.test(route.url)) {
        route.config = { ...(route.config ?? {}), rateLimit: { max: ctx.config.heavyGetsPerMinute, timeWindow: 60_000, groupId: 'heavy-get' } };
      }
    });
    await app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_req, c) => ({
        statusCode: 429,
        error: 'Too Many Requests',
        code: 'RATE_LIMITED',
        message: `more than ${c.max} map renderings or tensor listings per minute from this client (TOPOSCOPE_HEAVY_GETS_PER_MINUTE); retry in ${c.after}`,
      }),
    });
  }

  // The API key: every write needs it when configured, and with TOPOSCOPE_API_KEY_READS every /v1 read too;
  // the routes of distributed workers (model files, stimuli, partials) always.
  const key = ctx.config.apiKey ? Buffer.from(ctx.config.apiKey) : null;
  app.addHook('onRequest', async (req) => {
    if (!key) return;
    const read = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
    if (read && !(ctx.config.apiKeyReads && req.url.startsWith('/v1/')) && !WORKER_ROUTE.test(req.url)) return;
    const h = req.headers.authorization;
    if (!h) throw new UnauthorizedError();
    if (!bearerMatches(h, key)) throw new UnauthorizedError('the API key in Authorization is wrong (expected "Bearer <key>")');
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    let status = 500;
    let code = 'INTERNAL';
    let message = 'internal error';
    let field: string | undefined;
    if (err instanceof AppError) {
      status = err.statusCode;
      code = err.code;
      message = err.message;
      field = err.field;
    } else if ((err as FastifyError).validation) {
      const fe = err as FastifyError;
      status = 400;
      code = 'VALIDATION';
      // The most precise error: the deepest field, and a wrong value before a missing one (a union's
      // other branch would only report what it misses).
      const v = [...fe.validation!].sort((x, y) => depth(y) - depth(x) || Number(x.keyword === 'required') - Number(y.keyword === 'required'))[0];
      const where = fe.validationContext ?? 'body';
      const at = fieldPath(v.instancePath || '');
      const params = (v.params ?? {}) as Record<string, unknown>;
      const missing = typeof params.missingProperty === 'string' ? params.missingProperty : undefined;
      const extra = typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined;
      field = [at, missing ?? extra].filter(Boolean).join('.') || where;
      message = extra
        ? `${where}: unknown field '${extra}'${at ? ` in ${at}` : ''}`
        : missing
          ? `${where}${at ? '.' + at : ''}: '${missing}' is required`
          : Array.isArray(params.allowedValues)
            ? `${where}.${field} must be one of ${params.allowedValues.map((x) => JSON.stringify(x)).join(', ')} (found ${describe((v as { data?: unknown }).data)})`
            : `${where}.${field} ${v.message ?? 'is invalid'}${typeof params.type === 'string' ? ` (found ${describe((v as { data?: unknown }).data)})` : ''}`;
    } else if (isStorageError(err)) {
      const io = storageProblem(err, ctx.paths.data);
      status = io.status;
      code = io.code;
      message = io.message;
    } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500) {
      const fe = err as FastifyError;
      status = fe.statusCode!;
      code = fe.code ?? 'BAD_REQUEST';
      message = fe.message;
      if (fe.code === 'FST_REQ_FILE_TOO_LARGE') message = `an uploaded file exceeds the limit of ${ctx.config.maxUploadBytes} bytes (TOPOSCOPE_MAX_UPLOAD_BYTES)`;
      if (fe.code === 'FST_FILES_LIMIT') message = `too many files: the limit is ${ctx.config.maxUploadFiles} per upload (TOPOSCOPE_MAX_UPLOAD_FILES)`;
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `the request body exceeds the limit of ${app.initialConfig.bodyLimit} bytes`;
      if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') message = 'the JSON body is empty';
    }
    if (status >= 500 && status !== 507 && status !== 503) req.log.error({ err }, 'request failed');
    const body: Record<string, unknown> = { statusCode: status, error: REASONS[status] ?? 'Error', code, message };
    if (field) body.field = field;
    void reply.status(status).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  limitHeavyGets(app, ctx.config);
  await app.register(healthRoutes);
  await app.register(modelRoutes, { prefix: '/v1' });
  await app.register(stimulusSetRoutes, { prefix: '/v1' });
  await app.register(contrastRoutes, { prefix: '/v1' });
  await app.register(maskRoutes, { prefix: '/v1' });
  await app.register(comparisonRoutes, { prefix: '/v1' });
  await app.register(lesionRoutes, { prefix: '/v1' });
  await app.register(encodingRoutes, { prefix: '/v1' });
  await app.register(workerRoutes, { prefix: '/v1' });
  await app.register(viewerPlugin);

  if (opts.startQueue !== false) {
    app.addHook('onReady', async () => {
      const r = app.jobs.start();
      if (r.resumed.length || r.failed.length) app.log.info(r, 'recovered interrupted jobs');
    });
    app.addHook('onClose', async () => {
      await app.jobs.stop();
    });
  }
  return app;
}
