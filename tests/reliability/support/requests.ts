/** Turning catalogue rows into HTTP requests: placeholders, bodies, the API key. */
import type { Part, Row } from '../catalogue.ts';
import { multipart } from '../../support/env.ts';
import type { HttpRequest } from './server.ts';
import { API_KEY } from './world.ts';

/** Replaces `{name}` with ids[name] in every string of `v`. Unknown names are left alone. */
export function fill<T>(v: T, ids: Record<string, string>): T {
  if (typeof v === 'string') return v.replace(/\{(\w+)\}/g, (m, k: string) => ids[k] ?? m) as T;
  if (Array.isArray(v)) return v.map((x) => fill(x, ids)) as T;
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, ids)])) as T;
  }
  return v;
}

const data = (d: Part['data']): Buffer | string => (typeof d === 'function' ? d() : d);

export function toRequest(row: Row, ids: Record<string, string>): HttpRequest {
  const headers: Record<string, string> = {};
  let body: string | Buffer | undefined;
  if (row.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(fill(row.json, ids));
  } else if (row.raw !== undefined) {
    const raw = typeof row.raw === 'function' ? row.raw() : row.raw;
    body = typeof raw === 'string' ? fill(raw, ids) : raw;
  } else if (row.multipart) {
    const m = multipart(row.multipart.map((p) => ({ ...p, data: data(p.data) })));
    Object.assign(headers, m.headers);
    body = row.truncate ? m.payload.subarray(0, Math.max(0, m.payload.length - row.truncate)) : m.payload;
  }
  const write = row.method !== 'GET' && row.method !== 'HEAD';
  const auth = row.auth ?? (write ? 'key' : 'none');
  if (auth === 'key') headers.authorization = `Bearer ${API_KEY}`;
  else if (auth !== 'none') headers.authorization = auth;
  Object.assign(headers, row.headers);
  return { method: row.method, path: fill(row.url, ids), headers, body };
}
