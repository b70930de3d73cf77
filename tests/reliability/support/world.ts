/**
 * A data directory with something in it, made once per test file through the real app in this
 * process: the bundled fixtures, the crashing Range model, small sets, one succeeded contrast with
 * kept activations, a cancelled contrast and battery, a mask and a comparison. The servers under test
 * then run on it in their own process.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, PROJECT_ROOT, type Config } from '../../../src/config.ts';
import { closeService, openService } from '../../../src/usecases/service.ts';
import { registerFixtures } from '../../../src/usecases/fixtures.ts';
import { buildApp } from '../../../src/http/app.ts';
import { registerModelFromFolder } from '../../../src/usecases/models.ts';
import { createImageSet, createTextSet, findSet } from '../../../src/usecases/stimulus-sets.ts';
import { imageFiles, MODELS, STIMULI, tempDir, waitForContrast } from '../../support/env.ts';

export const RANGE_ROOT = path.join(PROJECT_ROOT, 'tests', 'data', 'onnx');
export const API_KEY = 'reliability-key';

/** The configuration of the servers under test, without upload limits. */
function baseConfig(dataDir: string): Partial<Config> {
  return {
    dataDir,
    apiKey: API_KEY,
    registerFixtures: false,
    modelsRoots: [MODELS, RANGE_ROOT],
    stimuliRoots: [STIMULI],
    workers: 1,
    intraOpThreads: 1,
    batchSize: 16,
    jobConcurrency: 1,
  };
}

/** Small upload limits, so that the limit rows stay cheap. */
export const LIMITS = { maxUploadBytes: 1024 * 1024, maxUploadFiles: 8, maxTextItems: 500 } satisfies Partial<Config>;

export function serverConfig(dataDir: string): Partial<Config> {
  return { ...baseConfig(dataDir), ...LIMITS };
}

export interface World {
  dataDir: string;
  /** Placeholder → value, for `{name}` in requests. */
  ids: Record<string, string>;
}

async function ok(app: FastifyInstance, method: 'POST' | 'DELETE', url: string, payload?: object): Promise<Record<string, unknown>> {
  const r = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${API_KEY}` } });
  if (r.statusCode >= 300) throw new Error(`setup ${method} ${url}: ${r.statusCode} ${r.body}`);
  return r.json() as Record<string, unknown>;
}

export async function makeWorld(): Promise<World> {
  const dataDir = tempDir('toposcope-reliability-');
  // The fixture sets are bigger than LIMITS allow.
  const service = openService(loadConfig({}, baseConfig(dataDir)));
  const ctx = service.ctx;
  const app = await buildApp(service);
  await app.ready();
  try {
    const fx = await registerFixtures(ctx);
    if (fx.errors.length) throw new Error(`fixtures: ${fx.errors.join('; ')}`);
    const model = (name: string) => fx.models.find((m) => m.name === name)!.id;
    const set = (name: string) => findSet(ctx, name)!.id;
    const range = await registerModelFromFolder(ctx, path.join(RANGE_ROOT, 'range-positions'), { trusted: true });
    const faces = imageFiles('faces');
    const objects = imageFiles('objects');
    const tinyA = await createImageSet(ctx, 'tiny-faces', faces.slice(0, 3).map((f) => ({ name: path.basename(f), data: fs.readFileSync(f) })));
    const tinyB = await createImageSet(ctx, 'tiny-objects', objects.slice(0, 3).map((f) => ({ name: path.basename(f), data: fs.readFileSync(f) })));
    const single = createTextSet(ctx, 'single', ['only one text here']);

    const c = await ok(app, 'POST', '/v1/contrasts', {
      model: 'topo-cnn',
      a: 'faces',
      b: 'objects',
      keepActivations: true,
      label: 'faces > objects',
      analysis: { topography: { permutations: 19 } },
    });
    const done = await waitForContrast(app, c.id as string);
    if (done.state !== 'succeeded') throw new Error(`setup contrast ${String(done.state)}: ${String(done.error)}`);
    const cancelled = await ok(app, 'POST', '/v1/contrasts', { model: 'topo-cnn', a: 'tiny-faces', b: 'tiny-objects' });
    await ok(app, 'DELETE', `/v1/contrasts/${cancelled.id as string}`);
    const battery = await ok(app, 'POST', '/v1/batteries', { model: 'topo-cnn', categories: ['tiny-faces', 'tiny-objects'] });
    await ok(app, 'DELETE', `/v1/batteries/${battery.id as string}`);
    await app.jobs.idle();
    const mask = (await ok(app, 'POST', '/v1/masks', { name: 'top5', kind: 'top-percent', contrast: c.id, percent: 5 })).mask as { id: string };
    const cmp = await ok(app, 'POST', '/v1/comparisons', { maps: [{ contrast: c.id, layer: 'conv3' }, { contrast: c.id, layer: 'conv4' }] });
    return {
      dataDir,
      ids: {
        imgModel: model('topo-cnn'),
        textModel: model('topo-gpt'),
        rangeModel: range.model.id,
        faces: set('faces'),
        objects: set('objects'),
        neutral: set('neutral'),
        tinyA: tinyA.set.id,
        tinyB: tinyB.set.id,
        single: single.set.id,
        contrast: c.id as string,
        layer: 'conv4',
        cancelled: cancelled.id as string,
        battery: battery.id as string,
        mask: mask.id,
        comparison: cmp.id as string,
        firstFace: path.basename(faces[0]),
      },
    };
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  } finally {
    await app.close();
    await closeService(service);
  }
}

/** Just topo-cnn and the faces and objects sets: for tests that run their own jobs. */
export async function makeSmallWorld(): Promise<World> {
  const dataDir = tempDir('toposcope-reliability-');
  const service = openService(loadConfig({}, baseConfig(dataDir)));
  const ctx = service.ctx;
  try {
    const m = await registerModelFromFolder(ctx, path.join(MODELS, 'topo-cnn'), { trusted: true });
    const ids: Record<string, string> = { imgModel: m.model.id };
    for (const name of ['faces', 'objects']) {
      const files = imageFiles(name).map((f) => ({ name: path.basename(f), data: fs.readFileSync(f) }));
      ids[name] = (await createImageSet(ctx, name, files)).set.id;
    }
    return { dataDir, ids };
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  } finally {
    await closeService(service);
  }
}
