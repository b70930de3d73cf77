import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { deleteModel, inspectUpload, listModelViews, listTensors, modelView, registerModelFromFolder, registerUpload, requireModel, type UploadPart } from '../../usecases/models.ts';
import { multipartParts, uploading } from '../multipart.ts';
import { IdParam, ModelListSchema, Page, RegisterModelBody, TensorSchema, errors } from '../schemas.ts';
import { Choice } from '../../domain/choice.ts';

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List registered models',
        querystring: Type.Intersect([Page, Type.Object({ modality: Type.Optional(Choice(['image', 'text'])) })]),
        response: { 200: ModelListSchema, ...errors(400) },
      },
    },
    async (req) => listModelViews(ctx, req.query),
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
      const { model, created } = await registerModelFromFolder(ctx, req.body.path);
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
      const { model, created } = await uploading(() => registerUpload(ctx, multipartParts<UploadPart>(req)));
      if (created) void reply.header('Location', `/v1/models/${model.id}`);
      return reply.status(created ? 201 : 200).send(modelView(model));
    },
  );

  const Dims = Type.Array(Type.Union([Type.Integer(), Type.String(), Type.Null()]));
  const Io = Type.Array(Type.Object({ name: Type.String(), type: Type.String(), dims: Dims }));
  app.post(
    '/models/inspect',
    {
      schema: {
        tags: ['models'],
        summary: 'List the tensors of a model without registering it',
        description:
          'The same multipart fields as `/v1/models/upload`; the manifest needs `input` but its `layers` may be empty or missing. ' +
          'Answers every intermediate tensor with its op type and the shape ONNX Runtime reports on a probe input (batch of 1). Nothing is stored.',
        consumes: ['multipart/form-data'],
        body: Type.Object({
          model: Type.String({ format: 'binary', description: 'model.onnx' }),
          manifest: Type.String({ format: 'binary', description: 'manifest.json (layers may be empty)' }),
        }),
        security: [{ bearer: [] }],
        response: {
          200: Type.Object(
            { inputs: Io, outputs: Io, tensors: Type.Array(TensorSchema) },
            {
              examples: [
                {
                  inputs: [{ name: 'input', type: 'float32', dims: ['batch', 3, 224, 224] }],
                  outputs: [{ name: 'logits', type: 'float32', dims: ['batch', 1000] }],
                  tensors: [{ name: '/layer4/layer4.1/relu_1/Relu_output_0', opType: 'Relu', node: '/layer4/layer4.1/relu_1/Relu', type: 'float32', shape: [1, 512, 7, 7], isLayer: null }],
                },
              ],
            },
          ),
          ...errors(400, 401, 413, 422),
        },
      },
      validatorCompiler: () => () => true,
    },
    async (req) => {
      return uploading(() => inspectUpload(ctx, multipartParts<UploadPart>(req)));
    },
  );

  app.get(
    '/models/:id',
    { schema: { tags: ['models'], summary: 'Get a model', params: IdParam, response: { 200: Type.Ref('Model'), ...errors(404) } } },
    async (req) => modelView(requireModel(ctx, req.params.id)),
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
      deleteModel(ctx, req.params.id, req.query.cascade ?? false);
      return reply.status(204).send(null);
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
          ...errors(404, 422, 429),
        },
      },
    },
    async (req) => {
      const m = requireModel(ctx, req.params.id);
      return { model: m.id, tensors: await listTensors(ctx, m) };
    },
  );
};
