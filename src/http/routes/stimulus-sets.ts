import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { createSet, createSetFromUpload, deleteSet, itemBytes, listItems, listSets, requireSet, type SetUploadPart } from '../../usecases/stimulus-sets.ts';
import { multipartParts, uploading } from '../multipart.ts';
import { Binary, CreateSetBody, IdParam, ItemSchema, Page, errors } from '../schemas.ts';
import { Choice } from '../../domain/choice.ts';

export const stimulusSetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.ctx;

  app.get(
    '/stimulus-sets',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'List stimulus sets',
        querystring: Type.Intersect([Page, Type.Object({ modality: Type.Optional(Choice(['image', 'text'])) })]),
        response: {
          200: Type.Object(
            { items: Type.Array(Type.Ref('StimulusSet')), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() },
            { examples: [{ items: [], total: 9, limit: 50, offset: 0 }] },
          ),
          ...errors(400),
        },
      },
    },
    async (req) => {
      const { limit = 50, offset = 0, modality } = req.query;
      return { ...listSets(ctx, { limit, offset, modality }), limit, offset };
    },
  );

  app.post(
    '/stimulus-sets',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'Create a text set from JSON, or a set from a server-side path',
        description:
          '`{name, texts}` makes a text set. `{path, name?}` reads a folder of PNG/JPEG files (an image set, files in name order) or a `.txt` ' +
          '(one text per line) / `.json` (array of strings) file inside TOPOSCOPE_STIMULI_ROOTS. Sets are immutable and content-addressed: ' +
          'creating the same set again returns it with 200.',
        body: CreateSetBody,
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('StimulusSet'), 201: Type.Ref('StimulusSet'), ...errors(400, 401, 413) },
      },
    },
    async (req, reply) => {
      const r = await createSet(ctx, req.body);
      if (r.created) void reply.header('Location', `/v1/stimulus-sets/${r.set.id}`);
      return reply.status(r.created ? 201 : 200).send(r.set);
    },
  );

  app.post(
    '/stimulus-sets/upload',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'Create a set by multipart upload',
        description:
          'Fields: `name` (text), then either many `files` (PNG/JPEG; an image set in upload order) or one `texts` file ' +
          '(a JSON array of strings, or one text per line). Limits: TOPOSCOPE_MAX_UPLOAD_BYTES per file, TOPOSCOPE_MAX_UPLOAD_FILES files.',
        consumes: ['multipart/form-data'],
        body: Type.Object({
          name: Type.String(),
          files: Type.Optional(Type.Array(Type.String({ format: 'binary' }))),
          texts: Type.Optional(Type.String({ format: 'binary' })),
        }),
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('StimulusSet'), 201: Type.Ref('StimulusSet'), ...errors(400, 401, 413) },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const r = await uploading(() => createSetFromUpload(ctx, multipartParts<SetUploadPart>(req)));
      if (r.created) void reply.header('Location', `/v1/stimulus-sets/${r.set.id}`);
      return reply.status(r.created ? 201 : 200).send(r.set);
    },
  );

  app.get(
    '/stimulus-sets/:id',
    {
      schema: { tags: ['stimulus-sets'], summary: 'Get a stimulus set', params: IdParam, response: { 200: Type.Ref('StimulusSet'), ...errors(404) } },
    },
    async (req) => requireSet(ctx, req.params.id),
  );

  app.get(
    '/stimulus-sets/:id/items',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'The items of a set, in order (texts inline, images by hash)',
        params: IdParam,
        querystring: Page,
        response: { 200: Type.Object({ items: Type.Array(ItemSchema), total: Type.Integer() }), ...errors(404) },
      },
    },
    async (req) => listItems(ctx, req.params.id, req.query),
  );

  app.get(
    '/stimulus-sets/:id/items/:position',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'The raw bytes of one item (PNG/JPEG or UTF-8 text)',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, examples: ['faces'] }), position: Type.Integer({ minimum: 0, maximum: 1e9, examples: [0] }) }),
        response: { 200: Binary(), ...errors(404) },
      },
    },
    async (req, reply) => {
      const item = itemBytes(ctx, req.params.id, req.params.position);
      return reply.type(item.mediaType).send(item.data);
    },
  );

  app.delete(
    '/stimulus-sets/:id',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'Delete a set (refused while a stored contrast uses it)',
        params: IdParam,
        security: [{ bearer: [] }],
        response: { 204: Type.Null({ description: 'Deleted.' }), ...errors(401, 404, 409) },
      },
    },
    async (req, reply) => {
      deleteSet(ctx, req.params.id);
      return reply.status(204).send(null);
    },
  );
};
