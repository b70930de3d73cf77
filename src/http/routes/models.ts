import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ValidationError } from '../../domain/errors.ts';
import {
  MANIFEST_FILE,
  MODEL_FILE,
  deleteModel,
  listTensors,
  registerModelFromFolder,
  registerStagedModel,
  requireModel,
} from '../../usecases/models.ts';
import { listModels, type ModelRecord } from '../../store/models-repo.ts';
import { rmrf, tmpDir } from '../../store/files.ts';
import { IdParam, ModelListSchema, Page, RegisterModelBody, TensorSchema, errors } from '../schemas.ts';

export function modelView(m: ModelRecord) {
  return {
    id: m.id,
    hash: m.hash,
    name: m.name,
    modality: m.modality,
    source: m.source,
    sizeBytes: m.sizeBytes,
    createdAt: m.createdAt,
    manifest: m.manifest,
    inputs: m.info.inputs,
    dynamicBatch: m.info.dynamicBatch,
    layers: m.info.layers,
    files: m.info.files,
  };
}

const SAFE_NAME = /^[A-Za-z0-9_.-]{1,200}$/;

/** Streams a multipart model upload into a staging folder. */
async function stageUpload(req: FastifyRequest, staging: string): Promise<void> {
  let sawModel = false;
  let sawManifest = false;
  for await (const part of req.parts()) {
    if (part.type === 'field') {
      if (part.fieldname === 'manifest') {
        fs.writeFileSync(path.join(staging, MANIFEST_FILE), String(part.value));
        sawManifest = true;
        continue;
      }
      throw new ValidationError(`unknown form field '${part.fieldname}'; send 'model' (file), 'manifest' (file or text) and side files`, part.fieldname);
    }
    let name: string;
    if (part.fieldname === 'model') name = MODEL_FILE;
    else if (part.fieldname === 'manifest') name = MANIFEST_FILE;
    else {
      name = path.basename(part.filename || part.fieldname);
      if (!SAFE_NAME.test(name) || name === MODEL_FILE || name === MANIFEST_FILE || name.startsWith('.')) {
        throw new ValidationError(`side file name '${part.filename}' is not allowed: use letters, digits, '.', '_' and '-'`, part.fieldname);
      }
    }
    await pipeline(part.file, fs.createWriteStream(path.join(staging, name)));
    if (name === MODEL_FILE) sawModel = true;
    if (name === MANIFEST_FILE) sawManifest = true;
  }
  if (!sawModel) throw new ValidationError("the upload has no 'model' file (model.onnx)", 'model');
  if (!sawManifest) throw new ValidationError("the upload has no 'manifest' (manifest.json)", 'manifest');
  if (fs.statSync(path.join(staging, MODEL_FILE)).size === 0) throw new ValidationError('the uploaded model file is empty', 'model');
  if (fs.statSync(path.join(staging, MANIFEST_FILE)).size === 0) throw new ValidationError('the uploaded manifest is empty', 'manifest');
}

export async function modelRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ctx;

  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List registered models',
        querystring: Type.Intersect([Page, Type.Object({ modality: Type.Optional(Type.Union([Type.Literal('image'), Type.Literal('text')])) })]),
        response: { 200: ModelListSchema, ...errors(400) },
      },
    },
    async (req) => {
      const q = req.query as { limit?: number; offset?: number; modality?: string };
      const limit = q.limit ?? 50;
      const offset = q.offset ?? 0;
      const r = listModels(ctx.db, { limit, offset, modality: q.modality });
      return { items: r.items.map(modelView), total: r.total, limit, offset };
    },
  );

  app.post(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Register a model from a server-side folder',
        description:
          'The folder (inside TOPOSCOPE_MODELS_ROOTS) holds `model.onnx`, `manifest.json` and side files (tokenizer, external data). ' +
          'The ONNX must load, every layer tensor must exist and its unit count must fit the layout. Registering the same files again returns the existing model with 200.',
        body: RegisterModelBody,
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('Model'), 201: Type.Ref('Model'), ...errors(400, 401, 413) },
      },
    },
    async (req, reply) => {
      const { path: p } = req.body as { path: string };
      const { model, created } = await registerModelFromFolder(ctx, p);
      if (created) void reply.header('Location', `/v1/models/${model.id}`);
      return reply.status(created ? 201 : 200).send(modelView(model));
    },
  );

  app.post(
    '/models/upload',
    {
      schema: {
        tags: ['models'],
        summary: 'Register a model by multipart upload',
        description:
          "Form fields: `model` (the ONNX file), `manifest` (manifest.json, as a file or a text field), and any side files under their own file names " +
          '(e.g. `tokenizer.json`, external data files). Limits: TOPOSCOPE_MAX_UPLOAD_BYTES per file, TOPOSCOPE_MAX_UPLOAD_FILES files.',
        consumes: ['multipart/form-data'],
        body: Type.Object({
          model: Type.String({ format: 'binary', description: 'model.onnx' }),
          manifest: Type.String({ format: 'binary', description: 'manifest.json' }),
          tokenizer: Type.Optional(Type.String({ format: 'binary', description: 'Side file, stored under its file name (e.g. tokenizer.json).' })),
        }),
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('Model'), 201: Type.Ref('Model'), ...errors(400, 401, 413) },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw new ValidationError('send the model as multipart/form-data with fields model and manifest', 'body');
      const staging = tmpDir(ctx.paths.tmp, 'upload-');
      try {
        await stageUpload(req, staging);
      } catch (e) {
        rmrf(staging);
        throw e;
      }
      const { model, created } = await registerStagedModel(ctx, staging, 'upload');
      if (created) void reply.header('Location', `/v1/models/${model.id}`);
      return reply.status(created ? 201 : 200).send(modelView(model));
    },
  );

  app.get(
    '/models/:id',
    { schema: { tags: ['models'], summary: 'Get a model', params: IdParam, response: { 200: Type.Ref('Model'), ...errors(404) } } },
    async (req) => modelView(requireModel(ctx, (req.params as { id: string }).id)),
  );

  app.delete(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'Delete a model',
        description: 'Refused (409) while a queued or running contrast uses it. With stored contrasts, `cascade=true` deletes them too.',
        params: IdParam,
        querystring: Type.Object({ cascade: Type.Optional(Type.Boolean({ default: false })) }),
        security: [{ bearer: [] }],
        response: { 204: Type.Null({ description: 'Deleted.' }), ...errors(401, 404, 409) },
      },
    },
    async (req, reply) => {
      deleteModel(ctx, (req.params as { id: string }).id, (req.query as { cascade?: boolean }).cascade ?? false);
      return reply.status(204).send();
    },
  );

  app.get(
    '/models/:id/tensors',
    {
      schema: {
        tags: ['models'],
        summary: 'Every intermediate tensor, with its op type and the shape ONNX Runtime reports on a probe input',
        description: 'Use it to pick layer tensors for a manifest. The probe input is built from the manifest (batch of 1).',
        params: IdParam,
        response: {
          200: Type.Object({ model: Type.String(), tensors: Type.Array(TensorSchema) }),
          ...errors(404, 422),
        },
      },
    },
    async (req) => {
      const m = requireModel(ctx, (req.params as { id: string }).id);
      return { model: m.id, tensors: await listTensors(ctx, m) };
    },
  );
}
