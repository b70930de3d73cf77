/**
 * The bad-input catalogue (catalogue.ts) against a real server process on a real data directory:
 * each row must get its status and, for 400/422, the field it names, in the service's error shape;
 * and the server must still answer /health after every row (a hang or a crash is restarted and the
 * row fails). The rows that fail are listed at the end with what came back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE, type Row } from './catalogue.ts';
import { BLOBS, prepareBlobs } from './support/images.ts';
import { operationOf, operations } from './support/openapi.ts';
import { fill, toRequest } from './support/requests.ts';
import { TestServer, type HttpOutcome } from './support/server.ts';
import { LIMITS, makeWorld, RANGE_ROOT, serverConfig, type World } from './support/world.ts';

/** Per request; generous for a loaded 2-core CI machine, far below a hang. */
const DEADLINE_MS = 10_000;

let world: World;
let server: TestServer;
const failures: { row: Row; actual: string }[] = [];

function expected(row: Row): string {
  const s = Array.isArray(row.expect.status) ? row.expect.status.join('|') : String(row.expect.status);
  return `${s}${row.expect.field ? ` field=${row.expect.field}` : ''}${row.expect.message ? ` message~${row.expect.message}` : ''}`;
}

function actualOf(o: HttpOutcome): string {
  if (o.kind !== 'response') return TestServer.describe(o);
  let field = '';
  try {
    const b = JSON.parse(o.body.toString('utf8')) as { field?: string; message?: string };
    field = `${b.field !== undefined ? ` field=${b.field}` : ''}${b.message ? ` "${b.message.slice(0, 160)}"` : ''}`;
  } catch {
    // not JSON (a PNG, an .npy)
  }
  return `${o.status}${field}`;
}

/** Why the outcome does not satisfy the row, or null. */
function mismatch(row: Row, o: HttpOutcome): string | null {
  if (o.kind !== 'response') return TestServer.describe(o);
  const statuses = Array.isArray(row.expect.status) ? row.expect.status : [row.expect.status];
  if (!statuses.includes(o.status)) return `status ${o.status}`;
  if (o.status < 400) return null;
  let body: { statusCode?: unknown; error?: unknown; code?: unknown; message?: unknown; field?: unknown };
  try {
    body = JSON.parse(o.body.toString('utf8'));
  } catch {
    return 'the error body is not JSON';
  }
  if (body.statusCode !== o.status || typeof body.error !== 'string' || typeof body.code !== 'string' || typeof body.message !== 'string') {
    return 'the error body is not {statusCode, error, code, message}';
  }
  if (row.expect.field && (o.status === 400 || o.status === 422) && body.field !== row.expect.field) return `field ${JSON.stringify(body.field)}`;
  if (row.expect.message && !row.expect.message.test(body.message)) return 'message';
  return null;
}

beforeAll(async () => {
  await prepareBlobs(LIMITS.maxUploadBytes, path.join(RANGE_ROOT, 'range-positions'));
  world = await makeWorld();
  server = await TestServer.start(serverConfig(world.dataDir));
});

afterAll(async () => {
  await server?.stop();
  if (world) fs.rmSync(world.dataDir, { recursive: true, force: true });
  if (failures.length) {
    const lines = failures.map((f) => `  - ${f.row.name}\n      expected ${expected(f.row)}\n      actual   ${f.actual}`);
    process.stdout.write(`\ncatalogue: ${failures.length} of ${CATALOGUE.length} rows fail\n${lines.join('\n')}\n`);
    if (server?.events.length) process.stdout.write(`server restarts:\n${server.events.map((e) => `  - after "${e.after}": ${e.what}`).join('\n')}\n`);
  }
});

describe('the catalogue itself', () => {
  it('has at least 150 rows with unique names, and a row for every operation of the OpenAPI document', () => {
    expect(CATALOGUE.length).toBeGreaterThanOrEqual(150);
    const names = CATALOGUE.map((r) => r.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    const ops = operations();
    const covered = new Set<string>();
    for (const row of CATALOGUE) {
      const o = operationOf(row.method, fill(row.url, world.ids), ops);
      if (o) covered.add(`${o.method} ${o.template}`);
    }
    expect(ops.map((o) => `${o.method} ${o.template}`).filter((k) => !covered.has(k))).toEqual([]);
    expect(BLOBS.bomb16k.length).toBeLessThan(64 * 1024);
  });
});

describe('bad-input catalogue', () => {
  for (const row of CATALOGUE) {
    it(row.name, async () => {
      server.takeLoggedErrors();
      const outcome = await server.send(toRequest(row, world.ids), DEADLINE_MS);
      let problem = mismatch(row, outcome);
      const logged = server.takeLoggedErrors();
      if (outcome.kind !== 'response' || !(await server.healthy())) {
        problem ??= 'the server stopped answering /health after this request';
        await server.restart(row.name, actualOf(outcome));
      }
      const actual = `${actualOf(outcome)}${logged.length ? ` [server log: ${logged.join('; ').slice(0, 200)}]` : ''}`;
      if (problem) failures.push({ row, actual });
      expect(problem, `expected ${expected(row)}, got ${actual}`).toBeNull();
    });
  }
});
