/** The committed OpenAPI document as a list of operations, and matching concrete paths to them. */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/config.ts';

export interface Operation {
  method: string;
  /** OpenAPI template, e.g. `/v1/models/{id}`. */
  template: string;
  op: {
    parameters?: { in: string; name: string; required?: boolean; schema: Schema }[];
    requestBody?: { content: Record<string, { schema: Schema }> };
    security?: unknown[];
  };
}

export type Schema = Record<string, unknown>;

export const OPENAPI = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'openapi', 'openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Operation['op']>>;
  components: { schemas: Record<string, Schema> };
};

export function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [template, ops] of Object.entries(OPENAPI.paths)) {
    for (const [method, op] of Object.entries(ops)) out.push({ method: method.toUpperCase(), template, op });
  }
  return out;
}

/** The operation a concrete request path belongs to (the most literal template wins), or null. */
export function operationOf(method: string, urlPath: string, ops: Operation[]): Operation | null {
  const segs = urlPath.split('?')[0].split('/');
  let best: Operation | null = null;
  let bestLiteral = -1;
  for (const o of ops) {
    if (o.method !== method) continue;
    const t = o.template.split('/');
    if (t.length !== segs.length) continue;
    let literal = 0;
    let ok = true;
    for (let i = 0; i < t.length && ok; i++) {
      if (/^\{.+\}$/.test(t[i])) ok = segs[i].length > 0;
      else if (t[i] === segs[i]) literal++;
      else ok = false;
    }
    if (ok && literal > bestLiteral) {
      best = o;
      bestLiteral = literal;
    }
  }
  return best;
}

/** Resolves `$ref`s of the document's components. */
export function deref(s: Schema | undefined): Schema {
  let cur = s ?? {};
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) cur = OPENAPI.components.schemas[(cur.$ref as string).split('/').pop()!] ?? {};
  return cur;
}
