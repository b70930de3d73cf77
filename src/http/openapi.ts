/**
 * The OpenAPI document generated from the routes, and the manifest's JSON Schema; both are written
 * to `openapi/` by `npm run openapi`, and a test fails when the committed copies are stale.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, PROJECT_ROOT } from '../config.ts';
import { closeService, openService } from '../usecases/service.ts';
import { ManifestSchema } from '../domain/manifest.ts';
import { buildApp } from './app.ts';

export const OPENAPI_FILE = path.join(PROJECT_ROOT, 'openapi', 'openapi.json');
export const MANIFEST_SCHEMA_FILE = path.join(PROJECT_ROOT, 'openapi', 'manifest.schema.json');

export async function generateOpenApi(): Promise<string> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-openapi-'));
  const service = openService(loadConfig({}, { dataDir, registerFixtures: false, apiKey: null }));
  try {
    const app = await buildApp(service, { startQueue: false });
    await app.ready();
    const doc = app.swagger();
    await app.close();
    return JSON.stringify(doc, null, 2) + '\n';
  } finally {
    await closeService(service);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export function generateManifestSchema(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(ManifestSchema)) };
  schema.$id = 'https://github.com/toposcope/toposcope/openapi/manifest.schema.json';
  return JSON.stringify(schema, null, 2) + '\n';
}
