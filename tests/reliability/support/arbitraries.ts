/**
 * fast-check arbitraries that turn one OpenAPI operation into random requests: path parameters from
 * real ids and junk, query strings with valid, wrong and repeated values, and bodies that follow the
 * schema with wrong parts mixed in, arbitrary JSON, or no JSON at all. Valid numbers stay small (so an
 * accepted contrast stays cheap); wrong ones do not.
 */
import fc from 'fast-check';
import { multipart } from '../../support/env.ts';
import { deref, type Operation, type Schema } from './openapi.ts';
import type { HttpRequest } from './server.ts';

export interface Pools {
  /** Ids and names that exist, by kind. */
  models: string[];
  sets: string[];
  contrasts: string[];
  masks: string[];
  comparisons: string[];
  batteries: string[];
  layers: string[];
  paths: string[];
  /** Never DELETEd (the fuzz test compares them before and after). */
  protected: string[];
  apiKey: string;
  png: Buffer;
}

const NASTY_NUMBERS = [-1, 0, -0, 0.5, 1.5, 1e308, -1e308, 5e-324, 1e20, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 4294967296, 100001, 1e6];
const NASTY_QUERY = [
  '', '-1', '0', '-0', '1.5', 'abc', '1e308', '1.7976931348623157e308', '1e300', '1e30', '1e-300', '1e-310', '5e-324', '1e400', '-1e400',
  'Infinity', '-Infinity', 'NaN', '99999999999999999999', '0x10', ' 1', '1 ', 'true', 'null', '[]', '%00', '%E0%A4%A',
];

const junkString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', ' ', '..', '../../etc/passwd', '/etc', 'null', '{}', '\u0000', 'é', '🙂', 'a'.repeat(129), 'b'.repeat(600)),
);

const junkJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, [], {}, '', 0, true, [[[[[]]]]]),
);

/** encodeURIComponent, with lone surrogates (which it refuses) replaced. */
function enc(s: string): string {
  return encodeURIComponent(s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '?'));
}

function pick(pool: string[]): fc.Arbitrary<string> {
  return pool.length ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: junkString }) : junkString;
}

/** The pool of ids of the resource a path is about (`/v1/<resource>/{id}`). */
const RESOURCE: Record<string, keyof Pools> = {
  models: 'models',
  'stimulus-sets': 'sets',
  contrasts: 'contrasts',
  batteries: 'batteries',
  masks: 'masks',
  comparisons: 'comparisons',
};

/** Strings with a meaning get real values most of the time. */
function stringFor(name: string, s: Schema, p: Pools, forDelete: boolean): fc.Arbitrary<string> {
  const without = (pool: string[]) => (forDelete ? pool.filter((x) => !p.protected.includes(x)) : pool);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as string[]));
  switch (name) {
    case 'model':
      return pick(without(p.models));
    case 'a':
    case 'b':
    case 'categories':
      return pick(p.sets);
    case 'contrast':
      return pick(without(p.contrasts));
    case 'layer':
    case 'layers':
      return pick(p.layers);
    case 'path':
      return pick(p.paths);
  }
  const max = typeof s.maxLength === 'number' ? s.maxLength : 24;
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  return fc.oneof(fc.string({ minLength: min, maxLength: Math.min(max, 24) }), fc.stringMatching(/^[A-Za-z0-9_.:+-]{1,16}$/));
}

function numberFor(s: Schema, integer: boolean): fc.Arbitrary<number> {
  const lo = typeof s.minimum === 'number' ? s.minimum : typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : 0;
  const hi = typeof s.maximum === 'number' ? s.maximum : typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : lo + 10;
  // Valid and small: the upper end of a range is for real work, not for a fuzzer.
  const top = Math.min(hi, lo + 10);
  const valid = integer
    ? fc.integer({ min: Math.ceil(lo) + (s.exclusiveMinimum !== undefined ? 1 : 0), max: Math.max(Math.ceil(lo), Math.floor(top)) })
    : fc.double({ min: lo, max: top, noNaN: true, noDefaultInfinity: true, minExcluded: s.exclusiveMinimum !== undefined, maxExcluded: s.exclusiveMaximum !== undefined });
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: fc.constantFrom(...NASTY_NUMBERS) });
}

interface Ctx {
  pools: Pools;
  forDelete: boolean;
  depth: number;
}

/** A value shaped by the schema, wrong in places. */
function valueFor(name: string, schema: Schema | undefined, c: Ctx): fc.Arbitrary<unknown> {
  const s = deref(schema);
  const shaped = shapedFor(name, s, c);
  return fc.oneof({ weight: 8, arbitrary: shaped }, { weight: 1, arbitrary: junkJson });
}

function shapedFor(name: string, s: Schema, c: Ctx): fc.Arbitrary<unknown> {
  if (c.depth > 6) return junkJson;
  const deeper: Ctx = { ...c, depth: c.depth + 1 };
  const branches = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (branches) return fc.oneof(...branches.map((b) => shapedFor(name, deref(b), deeper)));
  if ('const' in s) return fc.constant(s.const);
  switch (s.type) {
    case 'string':
      return stringFor(name, s, c.pools, c.forDelete);
    case 'integer':
      return numberFor(s, true);
    case 'number':
      return numberFor(s, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const max = Math.min(typeof s.maxItems === 'number' ? s.maxItems : 4, 4);
      const min = Math.min(typeof s.minItems === 'number' ? s.minItems : 0, max);
      return fc.array(valueFor(name, s.items as Schema, deeper), { minLength: min, maxLength: max });
    }
    case 'object':
      return objectFor(s, deeper);
  }
  return junkJson;
}

function objectFor(s: Schema, c: Ctx): fc.Arbitrary<unknown> {
  const props = (s.properties ?? {}) as Record<string, Schema>;
  const required = new Set((s.required ?? []) as string[]);
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, v] of Object.entries(props)) record[k] = valueFor(k, v, c);
  const keys = Object.keys(record);
  const base = fc.record(record, { requiredKeys: keys.filter((k) => required.has(k)) });
  const pattern = s.patternProperties ? Object.values(s.patternProperties as Record<string, Schema>)[0] : undefined;
  const withPattern = pattern ? fc.tuple(base, fc.dictionary(fc.constantFrom(...c.pools.layers, 'nope'), valueFor('units', pattern, c), { maxKeys: 2 })).map(([a, b]) => ({ ...(a as object), ...b })) : base;
  // Sometimes a required key goes missing, sometimes an unknown one turns up.
  return fc
    .tuple(withPattern, fc.option(fc.constantFrom(...(keys.length ? keys : ['x'])), { freq: 6 }), fc.option(fc.tuple(junkString, junkJson), { freq: 6 }))
    .map(([o, drop, extra]) => {
      const out = { ...(o as Record<string, unknown>) };
      if (drop !== null) delete out[drop];
      if (extra !== null) out[extra[0] || 'extra'] = extra[1];
      return out;
    });
}

function queryFor(op: Operation, c: Ctx): fc.Arbitrary<string> {
  const params = (op.op.parameters ?? []).filter((p) => p.in === 'query');
  const one = (p: (typeof params)[number]) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constant<string[]>([]) },
      { weight: 3, arbitrary: shapedFor(p.name, deref(p.schema), c).map((v) => [`${p.name}=${enc(String(v))}`]) },
      { weight: 3, arbitrary: fc.constantFrom(...NASTY_QUERY).map((v) => [`${p.name}=${v}`]) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NASTY_QUERY), fc.constantFrom(...NASTY_QUERY)).map(([x, y]) => [`${p.name}=${x}`, `${p.name}=${y}`]) },
    );
  const extra = fc.option(fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), junkString).map(([k, v]) => [`${k}=${enc(v)}`]), { freq: 5 });
  return fc.tuple(fc.tuple(...params.map(one)), extra).map(([parts, x]) => {
    const all = [...parts.flat(), ...(x ?? [])];
    return all.length ? `?${all.join('&')}` : '';
  });
}

function pathFor(op: Operation, c: Ctx): fc.Arbitrary<string> {
  const names = [...op.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const param = (name: string): fc.Arbitrary<string> => {
    if (name === 'position') return fc.oneof(fc.integer({ min: -3, max: 70 }).map(String), fc.constantFrom(...NASTY_QUERY.filter(Boolean)));
    const resource = RESOURCE[op.template.split('/')[2]];
    // Resources the world makes none of (lesions, top stimuli, profiles, selectivity): well-formed unknown ids.
    const known = resource ? (c.pools[resource] as string[]) : ['x_0000000000000000', 'unknown-id'];
    const pool = known.filter((x) => !c.forDelete || !c.pools.protected.includes(x));
    const real = (name === 'id' ? pick(pool) : stringFor(name, {}, c.pools, c.forDelete)).map(enc);
    return fc.oneof({ weight: 6, arbitrary: real }, { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '..', 'x'.repeat(3000)) });
  };
  return fc.tuple(...names.map(param)).map((vals) => {
    let i = 0;
    return op.template.replace(/\{(\w+)\}/g, () => vals[i++]);
  });
}

const RAW_BODIES = ['', '{', '{"a":', 'null', '[]', '"x"', '1e400', '{"alpha":1e400}', 'NaN', '{"__proto__":{"x":1}}', `${'['.repeat(5000)}${']'.repeat(5000)}`, '\u0000', 'a=b'];
const CONTENT_TYPES = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/octet-stream', 'application/json; charset=latin1'];

function jsonBodyFor(op: Operation, schema: Schema, c: Ctx): fc.Arbitrary<{ body: string | Buffer | undefined; type: string | undefined }> {
  return fc.oneof(
    { weight: 6, arbitrary: valueFor('body', schema, c).map((v) => ({ body: JSON.stringify(v) ?? 'null', type: 'application/json' })) },
    { weight: 2, arbitrary: junkJson.map((v) => ({ body: JSON.stringify(v) ?? 'null', type: 'application/json' })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...RAW_BODIES), fc.constantFrom(...CONTENT_TYPES)).map(([body, type]) => ({ body, type })) },
    { weight: 1, arbitrary: fc.constant({ body: undefined, type: undefined }) },
  );
}

function multipartBodyFor(op: Operation, c: Ctx): fc.Arbitrary<{ body: string | Buffer | undefined; type: string | undefined }> {
  const schema = deref(op.op.requestBody!.content['multipart/form-data'].schema);
  const fields = [...Object.keys((schema.properties ?? {}) as object), 'file', 'junk'];
  const data = fc.oneof(fc.uint8Array({ maxLength: 2048 }).map((u) => Buffer.from(u)), fc.constant(c.pools.png), junkString.map((s) => Buffer.from(s)), fc.constant(Buffer.from('[1, 2]')));
  const part = fc.record({
    name: fc.constantFrom(...fields),
    filename: fc.option(fc.oneof(fc.constantFrom('a.png', 'model.onnx', 'tokenizer.json', '.hidden', '../x', 'x'.repeat(300)), junkString), { freq: 2 }),
    data,
  });
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.tuple(fc.array(part, { maxLength: 5 }), fc.option(fc.integer({ min: 1, max: 400 }), { freq: 4 })).map(([parts, cut]) => {
        const m = multipart(parts.map((p) => ({ name: p.name, filename: p.filename ?? undefined, data: p.data })));
        return { body: cut ? m.payload.subarray(0, Math.max(0, m.payload.length - cut)) : m.payload, type: m.headers['content-type'] };
      }),
    },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...RAW_BODIES), fc.constantFrom(...CONTENT_TYPES, 'multipart/form-data; boundary=x')).map(([body, type]) => ({ body, type })) },
  );
}

/** Random requests for one operation. */
export function requestsFor(op: Operation, pools: Pools): fc.Arbitrary<HttpRequest> {
  const c: Ctx = { pools, forDelete: op.method === 'DELETE', depth: 0 };
  const content = op.op.requestBody?.content ?? {};
  const body = content['multipart/form-data']
    ? multipartBodyFor(op, c)
    : content['application/json']
      ? jsonBodyFor(op, deref(content['application/json'].schema), c)
      : fc.constant({ body: undefined, type: undefined });
  const write = op.method !== 'GET';
  const auth = write
    ? fc.oneof({ weight: 17, arbitrary: fc.constant(`Bearer ${pools.apiKey}`) }, { weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: junkString.map((s) => `Bearer ${s}`) })
    : fc.constant(undefined);
  return fc.tuple(pathFor(op, c), queryFor(op, c), body, auth).map(([p, q, b, a]) => {
    const headers: Record<string, string> = {};
    if (b.type) headers['content-type'] = b.type;
    if (a !== undefined) headers.authorization = a.replace(/[^\t\x20-\x7e]/g, '?');
    return { method: op.method, path: p + q, headers, body: b.body };
  });
}
