/**
 * The Fastify application: plugins (OpenAPI, Swagger UI, multipart), one error shape, the optional
 * API key, and the routes per resource. Routes are thin: validate, call one plain function, reply.
 */
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import multipart from '@fastify/multipart';
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
import { maskRoutes } from './routes/masks.ts';
import { comparisonRoutes } from './routes/comparisons.ts';
import { encodingRoutes } from './routes/encoding.ts';
import { viewerPlugin } from './plugins/viewer.ts';

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
  500: 'Internal Server Error',
};

export async function buildApp(service: Service, opts: AppOptions = {}): Promise<FastifyInstance> {
  const ctx = service.ctx;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: Math.min(ctx.config.maxUploadBytes, 64 * 1024 * 1024),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('ctx', ctx);
  app.decorate('jobs', service.jobs);

  app.addSchema(ErrorSchema);
  app.addSchema(ManifestSchema);
  app.addSchema(ModelSchema);
  app.addSchema(StimulusSetSchema);
  app.addSchema(ContrastSchema);

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
        { name: 'encoding', description: 'What a region encodes: top stimuli, cross-validated response profiles, selectivity across a battery' },
        { name: 'health', description: 'Liveness' },
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

  // The API key: every write needs it when configured.
  app.addHook('onRequest', async (req) => {
    if (!ctx.config.apiKey) return;
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const h = req.headers.authorization ?? '';
    if (h !== `Bearer ${ctx.config.apiKey}`) throw new UnauthorizedError(h ? 'the API key in Authorization is wrong' : undefined);
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
      const v = fe.validation![0];
      const where = fe.validationContext ?? 'body';
      const path = (v.instancePath || '').replace(/^\//, '').replace(/\//g, '.');
      const missing = (v.params as { missingProperty?: string })?.missingProperty;
      const extra = (v.params as { additionalProperty?: string })?.additionalProperty;
      field = [path, missing ?? extra].filter(Boolean).join('.') || where;
      message = extra
        ? `${where}: unknown field '${extra}'${path ? ` in ${path}` : ''}`
        : `${where}${path ? '.' + path : ''} ${v.message ?? 'is invalid'}${missing ? '' : ''}`;
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
    if (status >= 500) req.log.error({ err }, 'request failed');
    const body: Record<string, unknown> = { statusCode: status, error: REASONS[status] ?? 'Error', code, message };
    if (field) body.field = field;
    void reply.status(status).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  await app.register(healthRoutes);
  await app.register(modelRoutes, { prefix: '/v1' });
  await app.register(stimulusSetRoutes, { prefix: '/v1' });
  await app.register(contrastRoutes, { prefix: '/v1' });
  await app.register(maskRoutes, { prefix: '/v1' });
  await app.register(comparisonRoutes, { prefix: '/v1' });
  await app.register(encodingRoutes, { prefix: '/v1' });
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
