/** Stimulus sets and the model registry as use cases, below HTTP, on a real data directory. */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveLayout } from '../../src/sheet/layout.ts';
import { backfillSheets, registerModelFromFolder, sheetOf } from '../../src/usecases/models.ts';
import { closeService, openService, type Service } from '../../src/usecases/service.ts';
import { createImageSet, createTextSet, deleteSet, requireSet, setItems } from '../../src/usecases/stimulus-sets.ts';
import { imageFiles, MODELS, testConfig } from '../support/env.ts';

let s: Service;
beforeAll(() => {
  s = openService(testConfig());
});
afterAll(async () => {
  const dir = s.ctx.config.dataDir;
  await closeService(s);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('stimulus sets', () => {
  it('are content-addressed: the same texts give the same set; items keep their order', () => {
    const a = createTextSet(s.ctx, 'words', ['one two', 'three four']);
    const b = createTextSet(s.ctx, 'words', ['one two', 'three four']);
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, set: { id: a.set.id } });
    expect(setItems(s.ctx, a.set.id).map((i) => i.text)).toEqual(['one two', 'three four']);
  });

  it('store image blobs once, whole, and refuse a truncated file before anything is stored', async () => {
    const faces = imageFiles('faces').slice(0, 2).map((f) => ({ name: path.basename(f), data: fs.readFileSync(f) }));
    const r = await createImageSet(s.ctx, 'two-faces', faces);
    const items = setItems(s.ctx, r.set.id);
    for (const [i, it] of items.entries()) expect(fs.readFileSync(path.join(s.ctx.paths.data, it.path!))).toEqual(faces[i].data);
    const good = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer();
    const cut = good.subarray(0, good.length - 20);
    const before = fs.readdirSync(path.join(s.ctx.paths.stimuli), { recursive: true }).length;
    await expect(createImageSet(s.ctx, 'bad', [{ name: 'ok.png', data: good }, { name: 'cut.png', data: cut }])).rejects.toMatchObject({ statusCode: 400, field: 'files' });
    expect(fs.readdirSync(path.join(s.ctx.paths.stimuli), { recursive: true }).length).toBe(before);
  });

  it('a set a job uses cannot be deleted; an unused one can', () => {
    const t = createTextSet(s.ctx, 'gone', ['x y']);
    deleteSet(s.ctx, t.set.id);
    expect(() => requireSet(s.ctx, t.set.id)).toThrow(/does not exist/);
  });
});

describe('model registry', () => {
  it('stores each layer sheet at registration, equal to the layout resolved from the manifest', async () => {
    const { model } = await registerModelFromFolder(s.ctx, path.join(MODELS, 'topo-gpt'), { trusted: true });
    for (const l of model.info.layers) {
      const stored = sheetOf(s.ctx, model, l.name);
      const resolved = resolveLayout(model.manifest.layers.find((x) => x.name === l.name)?.layout, l.units);
      expect(Array.from(stored.cellOfUnit)).toEqual(Array.from(resolved.cellOfUnit));
      expect([stored.rows, stored.cols]).toEqual([resolved.rows, resolved.cols]);
    }
    // A model stored before sheets were kept gets them back at start-up.
    s.ctx.db.prepare('DELETE FROM model_sheets WHERE model_id = ?').run(model.id);
    expect(() => sheetOf(s.ctx, model, model.info.layers[0].name)).toThrow();
    expect(backfillSheets(s.ctx)).toBe(model.info.layers.length);
    expect(sheetOf(s.ctx, model, model.info.layers[0].name).rows).toBe(model.info.layers[0].rows);
  });
});
