import { Readable } from 'node:stream';
import fs from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ValidationError } from '../../domain/errors.ts';
import { blob, passDocument, receiveShard, shardDocument } from '../../usecases/workers.ts';
import { Binary, errors } from '../schemas.ts';

const PassParam = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_.-]+$', examples: ['c_3b91283dcc6bafe7.main'] });
const ShardParam = Type.Integer({ minimum: 0, maximum: 1e7, examples: [0] });
const Loose = (description: string, example: Record<string, unknown>) => Type.Object({}, { additionalProperties: true, description, examples: [example] });

/**
 * The routes `toposcope worker` processes call on their coordinator (distributed mode). Every one
 * needs the API key when TOPOSCOPE_API_KEY is set, reads included: they hand out model files and stimuli.
 */
export const workerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;
  // Partials arrive as raw bytes and are streamed to disk.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  app.get(
    '/passes/:pass',
    {
      schema: {
        tags: ['workers'],
        summary: 'A running pass as workers read it: model files by hash, layers, the fold of its shards',
        params: Type.Object({ pass: PassParam }),
        security: [{ bearer: [] }],
        response: {
          200: Loose('The pass document (see docs/scale-out.md).', { id: 'c_3b91283dcc6bafe7.main', plan: '9f…', name: 'main', shards: 4, stimuli: 512, files: [{ name: 'exposed.onnx', sha256: '5e…', bytes: 1024 }] }),
          ...errors(400, 401, 404, 409),
        },
      },
    },
    async (req) => passDocument(app.jobs, req.params.pass),
  );

  app.get(
    '/passes/:pass/shards/:shard',
    {
      schema: {
        tags: ['workers'],
        summary: "One shard's work: its batches, its stimuli by content hash, their token ids (text)",
        params: Type.Object({ pass: PassParam, shard: ShardParam }),
        security: [{ bearer: [] }],
        response: {
          200: Loose('The shard document.', { shard: 0, batches: [{ index: 0, start: 0, end: 2 }], stimuli: [{ idx: 0, setIndex: 0, sha256: '1c…', position: 0, label: 'face-01.png', classIndex: -1 }], tokens: null }),
          ...errors(400, 401, 404, 409),
        },
      },
    },
    async (req) => shardDocument(app.jobs, req.params.pass, req.params.shard),
  );

  app.get(
    '/blobs/:hash',
    {
      schema: {
        tags: ['workers'],
        summary: 'A file by its sha256: a model file of a running pass, or a stored stimulus item',
        params: Type.Object({ hash: Type.String({ minLength: 1, maxLength: 128, examples: ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'] }) }),
        security: [{ bearer: [] }],
        response: { 200: Binary('The bytes; their sha256 is the hash asked for.'), ...errors(400, 401, 404, 409) },
      },
    },
    async (req, reply) => {
      const b = blob(ctx, app.jobs, req.params.hash);
      void reply.type('application/octet-stream');
      if ('bytes' in b) return reply.send(b.bytes);
      void reply.header('content-length', b.size);
      return reply.send(fs.createReadStream(b.file));
    },
  );

  app.put(
    '/shards/:pass/:shard',
    {
      schema: {
        tags: ['workers'],
        summary: "A worker's partial of one shard (raw bytes, application/octet-stream); stored, then merged in shard order",
        description:
          'The body is the partial (format in src/pipeline/partials.ts), streamed to disk. `stored: false` when the shard had been received ' +
          'already (a stalled shard run twice).',
        consumes: ['application/octet-stream'],
        params: Type.Object({ pass: PassParam, shard: ShardParam }),
        headers: Type.Object({
          'x-toposcope-plan': Type.String({ pattern: '^[0-9a-f]{64}$', description: "The pass document's `plan`.", examples: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] }),
          'x-toposcope-worker': Type.Optional(Type.String({ maxLength: 200, description: 'Who sends it (host:pid).' })),
          'x-toposcope-timings': Type.Optional(Type.String({ maxLength: 4000, description: "JSON object of the worker's times and counts." })),
        }),
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ stored: Type.Boolean() }, { examples: [{ stored: true }] }), ...errors(400, 401, 404, 409, 413) },
      },
    },
    async (req) => {
      const body: unknown = req.body;
      if (!(body instanceof Readable)) throw new ValidationError('send the partial as application/octet-stream', 'body');
      const h = req.headers;
      let timings: Record<string, number> | null = null;
      if (h['x-toposcope-timings'] !== undefined) {
        let j: unknown;
        try {
          j = JSON.parse(h['x-toposcope-timings']);
        } catch {
          throw new ValidationError('header X-Toposcope-Timings must be a JSON object of numbers', 'x-toposcope-timings');
        }
        if (j && typeof j === 'object' && !Array.isArray(j)) timings = Object.fromEntries(Object.entries(j).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
      }
      return receiveShard(app.jobs, req.params.pass, req.params.shard, body, { plan: h['x-toposcope-plan'], worker: h['x-toposcope-worker'] ?? null, timings });
    },
  );
};
