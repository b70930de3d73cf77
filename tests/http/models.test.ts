/** Model registration over HTTP: folder and upload, idempotency, every validation error, tensors, delete. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, multipart, startApp, tempDir, waitForContrast, type TestApp } from '../support/env.ts';
import { readManifest } from '../support/ort-direct.ts';
import { inspectModel, producedTensors } from '../../src/onnx/model.ts';

function modelUpload(dir: string, manifest?: object | string, extra: { name: string; file: string }[] = []) {
  const m = manifest === undefined ? fs.readFileSync(path.join(dir, 'manifest.json')) : typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  return multipart([
    { name: 'model', filename: 'model.onnx', data: fs.readFileSync(path.join(dir, 'model.onnx')) },
    { name: 'manifest', filename: 'manifest.json', contentType: 'application/json', data: m },
    ...extra.map((e) => ({ name: 'files', filename: e.name, data: fs.readFileSync(e.file) })),
  ]);
}

describe('model registration', () => {
  let t: TestApp;
  const cnnDir = path.join(MODELS, 'topo-cnn');
  const gptDir = path.join(MODELS, 'topo-gpt');
  const cnn = readManifest(cnnDir);
  let cnnId = '';

  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => t?.close());

  async function upload(manifest: object | string, dir = cnnDir) {
    const u = modelUpload(dir, manifest);
    return t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: u.payload, headers: u.headers });
  }

  it('registers from a folder inside the models root, idempotently', async () => {
    const r1 = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-cnn' } });
    expect(r1.statusCode, r1.body).toBe(201);
    const body = r1.json();
    cnnId = body.id;
    expect(body).toMatchObject({ name: cnn.name, modality: 'image', dynamicBatch: true });
    expect(body.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(body.layers.map((l: { name: string }) => l.name)).toEqual(cnn.layers.map((l) => l.name));
    for (const l of body.layers) expect(l.rows * l.cols).toBeGreaterThanOrEqual(l.units);
    const r2 = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'topo-cnn' } });
    expect(r2.statusCode).toBe(200);
    expect(r2.json().id).toBe(cnnId);
    const byName = await t.app.inject({ method: 'GET', url: `/v1/models/${cnn.name}` });
    expect(byName.json().id).toBe(cnnId);
  });

  it('registers by multipart upload; the same files give the same model', async () => {
    const r = await upload(cnn);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().id).toBe(cnnId);
    const gpt = modelUpload(gptDir, undefined, [{ name: 'tokenizer.json', file: path.join(gptDir, 'tokenizer.json') }]);
    const g = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: gpt.payload, headers: gpt.headers });
    expect(g.statusCode, g.body).toBe(201);
    expect(g.json()).toMatchObject({ modality: 'text' });
    expect(g.json().files.map((f: { name: string }) => f.name).sort()).toEqual(['model.onnx', 'tokenizer.json']);
  });

  it('lists every intermediate tensor with op type and probe shape', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/models/${cnnId}/tensors` });
    expect(r.statusCode, r.body).toBe(200);
    const tensors = r.json().tensors as { name: string; opType: string; shape: number[]; isLayer: string | null }[];
    expect(tensors.length).toBeGreaterThan(3);
    const layer = cnn.layers[cnn.layers.length - 1];
    const hit = tensors.find((x) => x.name === layer.tensor)!;
    expect(hit.isLayer).toBe(layer.name);
    expect(hit.shape[0]).toBe(1);
    // The op type is the one of the node that produces the tensor in the file.
    const fileInfo = inspectModel(fs.readFileSync(path.join(cnnDir, 'model.onnx')));
    expect(hit.opType).toBe(producedTensors(fileInfo).get(layer.tensor)!.opType);
    expect(tensors.every((x) => x.shape.every((d) => Number.isInteger(d)))).toBe(true);
  });

  describe('validation errors name the field and what was found; nothing is stored', () => {
    it('invalid ONNX bytes', async () => {
      const u = multipart([
        { name: 'model', filename: 'model.onnx', data: Buffer.from('this is not a protobuf at all, just text\n') },
        { name: 'manifest', filename: 'manifest.json', data: JSON.stringify(cnn) },
      ]);
      const r = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: u.payload, headers: u.headers });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ code: 'VALIDATION', field: 'model' });
      expect(r.json().message).toMatch(/not an ONNX model/);
    });

    it('a manifest that names a tensor the model lacks', async () => {
      const bad = structuredClone(cnn);
      bad.name = 'bad-tensor';
      bad.layers[0].tensor = `${cnn.layers[0].tensor}_typo`;
      const r = await upload(bad);
      expect(r.statusCode).toBe(400);
      expect(r.json().field).toBe('manifest.layers[0].tensor');
      expect(r.json().message).toContain(`no tensor '${bad.layers[0].tensor}'`);
      expect(r.json().message).toContain(cnn.layers[0].tensor); // suggested as the closest name
    });

    it('a layout whose size does not match the unit count', async () => {
      const bad = structuredClone(cnn);
      bad.name = 'bad-layout';
      bad.layers[0].layout = { type: 'grid', rows: 3, cols: 5 };
      const r = await upload(bad);
      expect(r.statusCode).toBe(400);
      expect(r.json().field).toMatch(/^manifest\.layers\[0\]\.layout/);
      expect(r.json().message).toMatch(/units/);
    });

    it('a unit axis out of range', async () => {
      const bad = structuredClone(cnn);
      bad.name = 'bad-axis';
      bad.layers[0].unitAxis = 7;
      const r = await upload(bad);
      expect(r.statusCode).toBe(400);
      expect(r.json().field).toBe('manifest.layers[0].unitAxis');
    });

    it('an input name the model does not have', async () => {
      const bad = structuredClone(cnn);
      bad.name = 'bad-input';
      bad.input.image!.name = 'pixels';
      const r = await upload(bad);
      expect(r.statusCode).toBe(400);
      expect(r.json().field).toBe('manifest.input.image.name');
      expect(r.json().message).toMatch(/no input 'pixels'/);
    });

    it('a manifest that breaks the schema or is not JSON', async () => {
      const r1 = await upload({ ...cnn, modality: 'audio' });
      expect(r1.statusCode).toBe(400);
      expect(r1.json().field).toBe('manifest.modality');
      const r2 = await upload('{"name": ');
      expect(r2.statusCode).toBe(400);
      expect(r2.json().message).toMatch(/not valid JSON/);
      const r3 = await upload({ ...cnn, modality: 'text' });
      expect(r3.statusCode).toBe(400);
      expect(r3.json().field).toMatch(/^manifest\.input/);
    });

    it('a text model without its tokenizer file', async () => {
      const u = modelUpload(gptDir, { ...readManifest(gptDir), name: 'no-tokenizer' });
      const r = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: u.payload, headers: u.headers });
      expect(r.statusCode).toBe(400);
      expect(r.json().field).toBe('manifest.input.text.tokenizer.file');
    });

    it('empty and incomplete uploads', async () => {
      const none = multipart([{ name: 'manifest', filename: 'manifest.json', data: JSON.stringify(cnn) }]);
      const r1 = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: none.payload, headers: none.headers });
      expect(r1.statusCode).toBe(400);
      expect(r1.json().field).toBe('model');
      const empty = multipart([
        { name: 'model', filename: 'model.onnx', data: Buffer.alloc(0) },
        { name: 'manifest', filename: 'manifest.json', data: JSON.stringify(cnn) },
      ]);
      const r2 = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: empty.payload, headers: empty.headers });
      expect(r2.statusCode).toBe(400);
      expect(r2.json().message).toMatch(/empty/);
      const json = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: { path: 'x' } });
      expect(json.statusCode).toBe(400);
    });

    it('paths outside the models root', async () => {
      const r1 = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: '../../package.json' } });
      expect(r1.statusCode).toBe(400);
      expect(r1.json().field).toBe('path');
      const r2 = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: '/etc' } });
      expect(r2.statusCode).toBe(400);
      expect(r2.json().message).toMatch(/outside the configured roots/);
      const r3 = await t.app.inject({ method: 'POST', url: '/v1/models', payload: { path: 'no-such-model' } });
      expect(r3.statusCode).toBe(400);
    });

    it('left nothing behind', async () => {
      const list = await t.app.inject({ method: 'GET', url: '/v1/models' });
      expect(list.json().total).toBe(2);
      expect(fs.readdirSync(path.join(t.ctx.paths.data, 'models')).length).toBe(2);
      expect(fs.readdirSync(t.ctx.paths.tmp)).toEqual([]);
    });
  });

  it('answers 404 for unknown ids', async () => {
    for (const url of ['/v1/models/0000000000000000', '/v1/models/0000000000000000/tensors']) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    }
  });

  it('refuses to delete a model while a job uses it; cascade deletes its contrasts', async () => {
    const s1 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: 'images/faces' } });
    const s2 = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets', payload: { path: 'images/places' } });
    expect(s1.statusCode).toBe(201);
    expect(s2.statusCode).toBe(201);
    const c = await t.app.inject({ method: 'POST', url: '/v1/contrasts', payload: { model: cnnId, a: 'faces', b: 'places' } });
    expect(c.statusCode).toBe(202);
    const d1 = await t.app.inject({ method: 'DELETE', url: `/v1/models/${cnnId}` });
    expect(d1.statusCode).toBe(409);
    expect(d1.json().message).toMatch(/queued or running/);
    expect((await waitForContrast(t.app, c.json().id)).state).toBe('succeeded');
    const d2 = await t.app.inject({ method: 'DELETE', url: `/v1/models/${cnnId}` });
    expect(d2.statusCode).toBe(409);
    expect(d2.json().message).toMatch(/cascade=true/);
    const d3 = await t.app.inject({ method: 'DELETE', url: `/v1/models/${cnnId}?cascade=true` });
    expect(d3.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `/v1/models/${cnnId}` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `/v1/contrasts/${c.json().id}` })).statusCode).toBe(404);
  });
});

describe('upload limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ maxUploadBytes: 4096, maxUploadFiles: 3 });
  });
  afterAll(async () => t?.close());

  it('413 for a file over the size limit, with the setting to change', async () => {
    const u = modelUpload(path.join(MODELS, 'topo-cnn'));
    const r = await t.app.inject({ method: 'POST', url: '/v1/models/upload', payload: u.payload, headers: u.headers });
    expect(r.statusCode).toBe(413);
    expect(r.json().message).toMatch(/TOPOSCOPE_MAX_UPLOAD_BYTES/);
    expect(fs.readdirSync(t.ctx.paths.tmp)).toEqual([]);
  });

  it('413 for too many files', async () => {
    const png = fs.readFileSync(path.join(tempDirPng()));
    const u = multipart([{ name: 'name', data: 'many' }, ...[0, 1, 2, 3, 4].map((i) => ({ name: 'files', filename: `f${i}.png`, data: png }))]);
    const r = await t.app.inject({ method: 'POST', url: '/v1/stimulus-sets/upload', payload: u.payload, headers: u.headers });
    expect(r.statusCode).toBe(413);
    expect(r.json().message).toMatch(/TOPOSCOPE_MAX_UPLOAD_FILES/);
  });
});

/** A smallest valid PNG (1×1), written once. */
function tempDirPng(): string {
  const p = path.join(tempDir(), 'one.png');
  fs.writeFileSync(
    p,
    Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082', 'hex'),
  );
  return p;
}
