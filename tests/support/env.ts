/** Test environment: a fresh data folder per suite, the real app, real fixtures. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, PROJECT_ROOT, type Config } from '../../src/config.ts';
import { closeService, openService, type Context, type Service } from '../../src/usecases/service.ts';
import { buildApp } from '../../src/http/app.ts';

export const FIXTURES = path.join(PROJECT_ROOT, 'fixtures');
// TOPOSCOPE_TEST_MODELS lets a developer point the suite at other model folders of the same names.
export const MODELS = process.env.TOPOSCOPE_TEST_MODELS ?? path.join(FIXTURES, 'models');
export const STIMULI = path.join(FIXTURES, 'stimuli');

export function tempDir(prefix = 'toposcope-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function testConfig(over: Partial<Config> = {}): Config {
  return loadConfig(
    {},
    {
      dataDir: tempDir(),
      registerFixtures: false,
      modelsRoots: [MODELS],
      stimuliRoots: [STIMULI],
      workers: 1,
      intraOpThreads: 1,
      batchSize: 16,
      ...over,
    },
  );
}

export interface TestApp {
  ctx: Context;
  service: Service;
  app: FastifyInstance;
  close: () => Promise<void>;
}

export async function startApp(over: Partial<Config> = {}): Promise<TestApp> {
  const service = openService(testConfig(over));
  const ctx = service.ctx;
  const app = await buildApp(service);
  await app.ready();
  return {
    ctx,
    service,
    app,
    close: async () => {
      await app.close();
      await closeService(service);
      fs.rmSync(ctx.config.dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls a contrast until it leaves queued/running. */
export async function waitForContrast(app: FastifyInstance, id: string, timeoutMs = 170_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await app.inject({ method: 'GET', url: `/v1/contrasts/${id}` });
    const body = r.json() as Record<string, unknown>;
    if (body.state !== 'queued' && body.state !== 'running') return body;
    if (Date.now() > until) throw new Error(`contrast ${id} still ${String(body.state)} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export function imageFiles(domain: string): string[] {
  const dir = path.join(STIMULI, 'images', domain);
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export function textLines(name: string): string[] {
  return fs
    .readFileSync(path.join(STIMULI, 'text', `${name}.txt`), 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/** A multipart/form-data body built by hand (no client library needed). */
export function multipart(parts: { name: string; filename?: string; contentType?: string; data: Buffer | string }[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----toposcope${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.filename !== undefined) head += `Content-Type: ${p.contentType ?? 'application/octet-stream'}\r\n`;
    head += '\r\n';
    chunks.push(Buffer.from(head), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
