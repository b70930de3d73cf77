import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { TooLargeError, ValidationError } from '../../domain/errors.ts';
import {
  createImageSet,
  createSetFromPath,
  createTextSet,
  deleteSet,
  listSets,
  parseTextBody,
  readItemBytes,
  requireSet,
  setItems,
} from '../../usecases/stimulus-sets.ts';
import { CreateSetBody, IdParam, ItemSchema, Page, errors } from '../schemas.ts';

export async function stimulusSetRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ctx;

  app.get(
    '/stimulus-sets',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'List stimulus sets',
        querystring: Type.Intersect([Page, Type.Object({ modality: Type.Optional(Type.Union([Type.Literal('image'), Type.Literal('text')])) })]),
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
      const q = req.query as { limit?: number; offset?: number; modality?: string };
      const limit = q.limit ?? 50;
      const offset = q.offset ?? 0;
      return { ...listSets(ctx, { limit, offset, modality: q.modality }), limit, offset };
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
      const body = req.body as { name?: string; texts?: string[]; path?: string };
      const r = body.path !== undefined ? await createSetFromPath(ctx, body.path, body.name) : createTextSet(ctx, body.name!, body.texts!);
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
      if (!req.isMultipart()) throw new ValidationError('send the set as multipart/form-data with fields name and files (or texts)', 'body');
      let name: string | undefined;
      const files: { name: string; data: Buffer }[] = [];
      let texts: string[] | null = null;
      let total = 0;
      for await (const part of req.parts()) {
        if (part.type === 'field') {
          if (part.fieldname === 'name') name = String(part.value);
          else if (part.fieldname === 'texts') texts = parseTextBody(String(part.value));
          else throw new ValidationError(`unknown form field '${part.fieldname}'; send name and files (or texts)`, part.fieldname);
          continue;
        }
        const data = await part.toBuffer();
        total += data.length;
        if (total > ctx.config.maxUploadBytes) throw new TooLargeError(`the upload exceeds ${ctx.config.maxUploadBytes} bytes in total (TOPOSCOPE_MAX_UPLOAD_BYTES)`);
        if (part.fieldname === 'texts') texts = parseTextBody(data.toString('utf8'));
        else if (part.fieldname === 'files' || part.fieldname === 'file') files.push({ name: part.filename || `file${files.length}`, data });
        else throw new ValidationError(`unknown file field '${part.fieldname}'; use 'files' for images or 'texts' for a text file`, part.fieldname);
      }
      if (!name) throw new ValidationError("the upload has no 'name' field", 'name');
      if (texts && files.length) throw new ValidationError('send either image files or a texts file, not both', 'files');
      const r = texts ? createTextSet(ctx, name, texts) : await createImageSet(ctx, name, files);
      if (r.created) void reply.header('Location', `/v1/stimulus-sets/${r.set.id}`);
      return reply.status(r.created ? 201 : 200).send(r.set);
    },
  );

  app.get(
    '/stimulus-sets/:id',
    {
      schema: { tags: ['stimulus-sets'], summary: 'Get a stimulus set', params: IdParam, response: { 200: Type.Ref('StimulusSet'), ...errors(404) } },
    },
    async (req) => requireSet(ctx, (req.params as { id: string }).id),
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
    async (req) => {
      const s = requireSet(ctx, (req.params as { id: string }).id);
      const q = req.query as { limit?: number; offset?: number };
      const all = setItems(ctx, s.id);
      const offset = q.offset ?? 0;
      const items = all.slice(offset, offset + (q.limit ?? 50)).map((i) => ({ position: i.position, sha256: i.sha256, label: i.label, mediaType: i.mediaType, text: i.text }));
      return { items, total: all.length };
    },
  );

  app.get(
    '/stimulus-sets/:id/items/:position',
    {
      schema: {
        tags: ['stimulus-sets'],
        summary: 'The raw bytes of one item (PNG/JPEG or UTF-8 text)',
        params: Type.Object({ id: Type.String({ examples: ['faces'] }), position: Type.Integer({ minimum: 0, examples: [0] }) }),
        response: { 200: Type.String({ format: 'binary' }), ...errors(404) },
      },
    },
    async (req, reply) => {
      const { id, position } = req.params as { id: string; position: number };
      const s = requireSet(ctx, id);
      const item = setItems(ctx, s.id).find((i) => i.position === position);
      if (!item) throw new ValidationError(`set '${id}' has ${s.nItems} items; position ${position} is out of range`, 'position');
      return reply.type(item.mediaType).send(readItemBytes(ctx, item));
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
      deleteSet(ctx, (req.params as { id: string }).id);
      return reply.status(204).send();
    },
  );
}
