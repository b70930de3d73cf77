/**
 * The bad-input catalogue: one row per case, grouped by route. A row is a request (method, url,
 * headers, body), the status the service must answer and, for 400/422, the `field` its error names.
 *
 * - `{name}` in a url or in any string of a body is replaced by the id of that thing in the test's data
 *   directory (see support/world.ts: imgModel, textModel, rangeModel, faces, objects, neutral, tinyA,
 *   tinyB, single, contrast, layer, cancelled, battery, mask, comparison, firstFace).
 * - Writes carry the API key unless `auth` says otherwise; `auth: 'none'` sends no Authorization,
 *   any other string is sent as the header.
 * - A list of statuses means any of them is right (used only where the choice is the implementer's).
 *
 * Adding a route: add a group below; catalogue.test.ts fails while an OpenAPI operation has no row.
 */
import { BLOBS } from './support/images.ts';

export interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: string | Buffer | (() => Buffer);
}

export interface Row {
  name: string;
  method: string;
  url: string;
  /** A JSON body (sent as application/json). */
  json?: unknown;
  /** A body sent as is (set content-type in `headers`). */
  raw?: string | Buffer | (() => Buffer);
  multipart?: Part[];
  /** Bytes cut off the end of the multipart body: an upload that stops short of its closing boundary. */
  truncate?: number;
  headers?: Record<string, string>;
  auth?: 'key' | 'none' | string;
  expect: { status: number | number[]; field?: string; message?: RegExp };
}

type Extra = Partial<Omit<Row, 'name' | 'method' | 'url' | 'expect'>> & { message?: RegExp };

function r(name: string, method: string, url: string, status: number | number[], field?: string, extra: Extra = {}): Row {
  const { message, ...req } = extra;
  return { name, method, url, ...req, expect: { status, field, message } };
}

const JSON_CT = { 'content-type': 'application/json' };
/** An id one longer than the schema's 128, and much longer. */
const L129 = 'x'.repeat(129);
const L2000 = 'x'.repeat(2000);
/** Within the schema (≤ 128) but longer than Fastify's default 100-character parameter limit. */
const L101 = 'x'.repeat(101);

/** The paging parameters, for every list route. */
function paging(group: string, url: string): Row[] {
  const q = url.includes('?') ? '&' : '?';
  return [
    r(`${group}: limit=0`, 'GET', `${url}${q}limit=0`, 400, 'limit'),
    r(`${group}: limit=-1`, 'GET', `${url}${q}limit=-1`, 400, 'limit'),
    r(`${group}: limit=501 (over the maximum)`, 'GET', `${url}${q}limit=501`, 400, 'limit'),
    r(`${group}: limit=abc`, 'GET', `${url}${q}limit=abc`, 400, 'limit'),
    r(`${group}: limit=1.5`, 'GET', `${url}${q}limit=1.5`, 400, 'limit'),
    r(`${group}: limit given twice`, 'GET', `${url}${q}limit=1&limit=2`, 400, 'limit'),
    r(`${group}: offset=-1`, 'GET', `${url}${q}offset=-1`, 400, 'offset'),
    r(`${group}: offset=1e20 (no finite maximum today)`, 'GET', `${url}${q}offset=100000000000000000000`, 400, 'offset'),
    r(`${group}: offset=Infinity`, 'GET', `${url}${q}offset=Infinity`, 400, 'offset'),
  ];
}

const health: Row[] = [
  r('health: GET', 'GET', '/health', 200),
  r('health: POST is not a route', 'POST', '/health', [404, 405], undefined, { json: {} }),
  r('unknown route', 'GET', '/v1/nothing', 404),
  r('unknown method on a known path', 'PUT', '/v1/models', [404, 405], undefined, { json: { path: 'topo-cnn' } }),
  r('malformed percent-encoding in the path', 'GET', '/v1/models/%E0%A4%A', 400),
];

const modelsList: Row[] = [
  ...paging('GET /v1/models', '/v1/models'),
  r('GET /v1/models: modality=audio', 'GET', '/v1/models?modality=audio', 400, 'modality'),
  r('GET /v1/models: modality=IMAGE (case matters)', 'GET', '/v1/models?modality=IMAGE', 400, 'modality'),
  r('GET /v1/models: modality=image', 'GET', '/v1/models?modality=image', 200),
];

const REG = '/v1/models';
const modelsRegister: Row[] = [
  r('POST /v1/models: {}', 'POST', REG, 400, 'path', { json: {} }),
  r('POST /v1/models: path ""', 'POST', REG, 400, 'path', { json: { path: '' } }),
  r('POST /v1/models: path ["topo-cnn"] (array for a string)', 'POST', REG, 400, 'path', { json: { path: ['topo-cnn'] } }),
  r('POST /v1/models: path 123', 'POST', REG, 400, 'path', { json: { path: 123 } }),
  r('POST /v1/models: path null', 'POST', REG, 400, 'path', { json: { path: null } }),
  r('POST /v1/models: path true', 'POST', REG, 400, 'path', { json: { path: true } }),
  r('POST /v1/models: path {}', 'POST', REG, 400, 'path', { json: { path: {} } }),
  r('POST /v1/models: extra field', 'POST', REG, 400, 'extra', { json: { path: 'topo-cnn', extra: 1 } }),
  r('POST /v1/models: path escapes the roots', 'POST', REG, 400, 'path', { json: { path: '../../../../etc' } }),
  r('POST /v1/models: absolute path outside the roots', 'POST', REG, 400, 'path', { json: { path: '/etc' } }),
  r('POST /v1/models: path does not exist', 'POST', REG, 400, 'path', { json: { path: 'no-such-model' } }),
  r('POST /v1/models: path is a file', 'POST', REG, 400, 'path', { json: { path: 'topo-cnn/model.onnx' } }),
  r('POST /v1/models: path with a NUL byte', 'POST', REG, 400, 'path', { json: { path: 'topo-cnn\u0000' } }),
  r('POST /v1/models: 5000-character path', 'POST', REG, 400, 'path', { json: { path: 'p'.repeat(5000) } }),
  r('POST /v1/models: body null', 'POST', REG, 400, undefined, { raw: 'null', headers: JSON_CT }),
  r('POST /v1/models: body []', 'POST', REG, 400, undefined, { raw: '[]', headers: JSON_CT }),
  r('POST /v1/models: body a JSON string', 'POST', REG, 400, undefined, { raw: '"topo-cnn"', headers: JSON_CT }),
  r('POST /v1/models: malformed JSON', 'POST', REG, 400, undefined, { raw: '{"path":', headers: JSON_CT }),
  r('POST /v1/models: empty JSON body', 'POST', REG, 400, undefined, { raw: '', headers: JSON_CT }),
  r('POST /v1/models: 100000-deep JSON nesting', 'POST', REG, 400, undefined, { raw: `{"path":${'['.repeat(100000)}${']'.repeat(100000)}}`, headers: JSON_CT }),
  r('POST /v1/models: __proto__ key', 'POST', REG, 400, undefined, { raw: '{"path":"topo-cnn","__proto__":{"polluted":1}}', headers: JSON_CT }),
  r('POST /v1/models: text/plain body', 'POST', REG, [400, 415], undefined, { raw: '{"path":"topo-cnn"}', headers: { 'content-type': 'text/plain' } }),
  r('POST /v1/models: form-urlencoded body', 'POST', REG, 415, undefined, { raw: 'path=topo-cnn', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
  r('POST /v1/models: no content-type', 'POST', REG, 415, undefined, { raw: () => Buffer.from('{"path":"topo-cnn"}') }),
  r('POST /v1/models: no API key', 'POST', REG, 401, undefined, { json: { path: 'topo-cnn' }, auth: 'none' }),
  r('POST /v1/models: registering again is 200', 'POST', REG, 200, undefined, { json: { path: 'topo-cnn' } }),
];

const UP = '/v1/models/upload';
const rangeFile = (f: 'model.onnx' | 'manifest.json' | 'tokenizer.json') => () => BLOBS.range[f];
const modelsUpload: Row[] = [
  r('POST /v1/models/upload: JSON instead of multipart', 'POST', UP, [400, 415], 'body', { json: { model: 'x' } }),
  r('POST /v1/models/upload: no parts at all', 'POST', UP, 400, 'model', { multipart: [] }),
  r('POST /v1/models/upload: manifest only', 'POST', UP, 400, 'model', { multipart: [{ name: 'manifest', data: rangeFile('manifest.json') }] }),
  r('POST /v1/models/upload: model only', 'POST', UP, 400, 'manifest', { multipart: [{ name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') }] }),
  r('POST /v1/models/upload: model is not ONNX', 'POST', UP, 400, 'model', {
    multipart: [{ name: 'model', filename: 'model.onnx', data: 'this is not a protobuf' }, { name: 'manifest', data: rangeFile('manifest.json') }, { name: 'tokenizer', filename: 'tokenizer.json', data: rangeFile('tokenizer.json') }],
  }),
  r('POST /v1/models/upload: empty model file', 'POST', UP, 400, 'model', {
    multipart: [{ name: 'model', filename: 'model.onnx', data: '' }, { name: 'manifest', data: rangeFile('manifest.json') }],
  }),
  r('POST /v1/models/upload: manifest is not JSON', 'POST', UP, 400, 'manifest', {
    multipart: [{ name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') }, { name: 'manifest', data: '{"name":' }],
  }),
  r('POST /v1/models/upload: manifest without layers', 'POST', UP, 400, 'manifest.layers', {
    multipart: [
      { name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') },
      { name: 'manifest', data: JSON.stringify({ name: 'r', modality: 'text', input: { text: { tokenizer: { type: 'gpt2' }, maxTokens: 8, idsInput: 'input_ids' } } }) },
    ],
  }),
  r('POST /v1/models/upload: tokenizer file not sent', 'POST', UP, 400, 'manifest.input.text.tokenizer.file', {
    multipart: [{ name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') }, { name: 'manifest', data: rangeFile('manifest.json') }],
  }),
  r('POST /v1/models/upload: unknown text field', 'POST', UP, 400, 'foo', { multipart: [{ name: 'foo', data: 'bar' }] }),
  r('POST /v1/models/upload: side file named .hidden', 'POST', UP, 400, 'side', { multipart: [{ name: 'side', filename: '.hidden', data: 'x' }] }),
  r('POST /v1/models/upload: side file named model.onnx', 'POST', UP, 400, 'side', { multipart: [{ name: 'side', filename: 'model.onnx', data: 'x' }] }),
  r('POST /v1/models/upload: a file over the upload limit', 'POST', UP, 413, undefined, { multipart: [{ name: 'model', filename: 'model.onnx', data: () => BLOBS.big }] }),
  r('POST /v1/models/upload: more files than allowed', 'POST', UP, 413, undefined, {
    multipart: Array.from({ length: 9 }, (_, i) => ({ name: `f${i}`, filename: `f${i}.bin`, data: 'x' })),
  }),
  r('POST /v1/models/upload: truncated multipart body', 'POST', UP, 400, undefined, {
    multipart: [{ name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') }, { name: 'manifest', data: rangeFile('manifest.json') }],
    truncate: 600,
  }),
  r('POST /v1/models/upload: multipart without a boundary', 'POST', UP, 400, undefined, { raw: 'whatever', headers: { 'content-type': 'multipart/form-data' } }),
  r('POST /v1/models/upload: multipart body that is not multipart', 'POST', UP, 400, undefined, { raw: 'no parts here', headers: { 'content-type': 'multipart/form-data; boundary=zzz' } }),
  r('POST /v1/models/upload: no API key', 'POST', UP, 401, undefined, { multipart: [{ name: 'manifest', data: '{}' }], auth: 'none' }),
  r('POST /v1/models/upload: the Range model with its tokenizer', 'POST', UP, [200, 201], undefined, {
    multipart: [
      { name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') },
      { name: 'manifest', filename: 'manifest.json', data: rangeFile('manifest.json') },
      { name: 'tokenizer', filename: 'tokenizer.json', data: rangeFile('tokenizer.json') },
    ],
  }),
];

const modelsById: Row[] = [
  r('GET /v1/models/:id: unknown id', 'GET', '/v1/models/0000000000000000', 404),
  r('GET /v1/models/:id: by name', 'GET', '/v1/models/topo-cnn', 200),
  r('GET /v1/models/:id: 101-character id (within the schema)', 'GET', `/v1/models/${L101}`, 404),
  r('GET /v1/models/:id: 129-character id', 'GET', `/v1/models/${L129}`, 400, 'id'),
  r('GET /v1/models/:id: 2000-character id', 'GET', `/v1/models/${L2000}`, 400, 'id'),
  r('GET /v1/models/:id: encoded slashes', 'GET', '/v1/models/..%2F..%2Fetc', 404),
  r('GET /v1/models/:id: encoded NUL', 'GET', '/v1/models/ab%00cd', [400, 404]),
  r('DELETE /v1/models/:id: no API key', 'DELETE', '/v1/models/{imgModel}', 401, undefined, { auth: 'none' }),
  r('DELETE /v1/models/:id: wrong API key', 'DELETE', '/v1/models/{imgModel}', 401, undefined, { auth: 'Bearer wrong' }),
  r('DELETE /v1/models/:id: unknown id', 'DELETE', '/v1/models/0000000000000000', 404),
  r('DELETE /v1/models/:id: stored contrasts, no cascade', 'DELETE', '/v1/models/{imgModel}', 409),
  r('DELETE /v1/models/:id: cascade=maybe', 'DELETE', '/v1/models/{imgModel}?cascade=maybe', 400, 'cascade'),
  r('DELETE /v1/models/:id: 129-character id', 'DELETE', `/v1/models/${L129}`, 400, 'id'),
  r('GET /v1/models/:id/tensors: unknown id', 'GET', '/v1/models/0000000000000000/tensors', 404),
  r('GET /v1/models/:id/tensors: 129-character id', 'GET', `/v1/models/${L129}/tensors`, 400, 'id'),
  r('GET /v1/models/:id/tensors: a shape-dependent Range output (crashes ORT in-process)', 'GET', '/v1/models/{rangeModel}/tensors', 422, undefined, { message: /range-positions/ }),
  r('GET /v1/models/:id/tensors: topo-cnn', 'GET', '/v1/models/{imgModel}/tensors', 200),
];

const SETS = '/v1/stimulus-sets';
const setsJson: Row[] = [
  ...paging('GET /v1/stimulus-sets', SETS),
  r('GET /v1/stimulus-sets: modality=video', 'GET', `${SETS}?modality=video`, 400, 'modality'),
  r('POST /v1/stimulus-sets: {}', 'POST', SETS, 400, undefined, { json: {} }),
  r('POST /v1/stimulus-sets: texts [1, 2] (numbers for strings)', 'POST', SETS, 400, 'texts[0]', { json: { name: 'nums', texts: [1, 2] } }),
  r('POST /v1/stimulus-sets: texts "abc" (string for an array)', 'POST', SETS, 400, 'texts', { json: { name: 'str', texts: 'abc' } }),
  r('POST /v1/stimulus-sets: texts []', 'POST', SETS, 400, 'texts', { json: { name: 'empty', texts: [] } }),
  r('POST /v1/stimulus-sets: texts [""]', 'POST', SETS, 400, 'texts[0]', { json: { name: 'blank', texts: [''] } }),
  r('POST /v1/stimulus-sets: texts ["   "]', 'POST', SETS, 400, 'texts[0]', { json: { name: 'spaces', texts: ['   '] } }),
  r('POST /v1/stimulus-sets: texts [null]', 'POST', SETS, 400, 'texts[0]', { json: { name: 'nul', texts: [null] } }),
  r('POST /v1/stimulus-sets: texts [["a"]]', 'POST', SETS, 400, 'texts[0]', { json: { name: 'nested', texts: [['a']] } }),
  r('POST /v1/stimulus-sets: texts [{}]', 'POST', SETS, 400, 'texts[0]', { json: { name: 'obj', texts: [{}] } }),
  r('POST /v1/stimulus-sets: texts ["ok", 5]', 'POST', SETS, 400, 'texts[1]', { json: { name: 'mixed', texts: ['ok', 5] } }),
  r('POST /v1/stimulus-sets: name 5', 'POST', SETS, 400, 'name', { json: { name: 5, texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: name ""', 'POST', SETS, 400, 'name', { json: { name: '', texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: name with a space', 'POST', SETS, 400, 'name', { json: { name: 'a b', texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: name with a slash', 'POST', SETS, 400, 'name', { json: { name: '../x', texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: 129-character name', 'POST', SETS, 400, 'name', { json: { name: L129, texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: name ["n"]', 'POST', SETS, 400, 'name', { json: { name: ['n'], texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: texts without name', 'POST', SETS, 400, 'name', { json: { texts: ['a b'] } }),
  r('POST /v1/stimulus-sets: extra field', 'POST', SETS, 400, 'extra', { json: { name: 'x', texts: ['a b'], extra: 1 } }),
  r('POST /v1/stimulus-sets: both texts and path', 'POST', SETS, 400, undefined, { json: { name: 'x', texts: ['a b'], path: 'images/faces' } }),
  r('POST /v1/stimulus-sets: path ["images/faces"] (array for a string)', 'POST', SETS, 400, 'path', { json: { path: ['images/faces'] } }),
  r('POST /v1/stimulus-sets: path ""', 'POST', SETS, 400, 'path', { json: { path: '' } }),
  r('POST /v1/stimulus-sets: path 123', 'POST', SETS, 400, 'path', { json: { path: 123 } }),
  r('POST /v1/stimulus-sets: path with name ""', 'POST', SETS, 400, 'name', { json: { path: 'images/faces', name: '' } }),
  r('POST /v1/stimulus-sets: path with name 7', 'POST', SETS, 400, 'name', { json: { path: 'images/faces', name: 7 } }),
  r('POST /v1/stimulus-sets: path escapes the roots', 'POST', SETS, 400, 'path', { json: { path: '../../../../etc/passwd' } }),
  r('POST /v1/stimulus-sets: absolute path outside the roots', 'POST', SETS, 400, 'path', { json: { path: '/etc/passwd' } }),
  r('POST /v1/stimulus-sets: folder without images', 'POST', SETS, 400, 'path', { json: { path: 'images' } }),
  r('POST /v1/stimulus-sets: path does not exist', 'POST', SETS, 400, 'path', { json: { path: 'images/nope' } }),
  r('POST /v1/stimulus-sets: path is one image file', 'POST', SETS, 400, 'path', { json: { path: 'images/faces/{firstFace}' } }),
  r('POST /v1/stimulus-sets: more texts than allowed', 'POST', SETS, 413, undefined, { json: { name: 'many', texts: Array.from({ length: 501 }, (_, i) => `text ${i}`) } }),
  r('POST /v1/stimulus-sets: body over the limit', 'POST', SETS, 413, undefined, { json: { name: 'huge', texts: ['word '.repeat(250_000)] } }),
  r('POST /v1/stimulus-sets: existing file again is 200', 'POST', SETS, 200, undefined, { json: { path: 'text/neutral.txt' } }),
];

// API key: RFC 7235 makes the scheme name case-insensitive.
const auth: Row[] = [
  r('API key: missing', 'POST', SETS, 401, undefined, { json: { name: 'auth-none', texts: ['a b'] }, auth: 'none' }),
  r('API key: wrong key', 'POST', SETS, 401, undefined, { json: { name: 'auth-wrong', texts: ['a b'] }, auth: 'Bearer not-the-key' }),
  r('API key: right key with one character more', 'POST', SETS, 401, undefined, { json: { name: 'auth-longer', texts: ['a b'] }, auth: 'Bearer reliability-keyx' }),
  r('API key: a prefix of the key', 'POST', SETS, 401, undefined, { json: { name: 'auth-prefix', texts: ['a b'] }, auth: 'Bearer reliability' }),
  r('API key: Basic scheme', 'POST', SETS, 401, undefined, { json: { name: 'auth-basic', texts: ['a b'] }, auth: 'Basic reliability-key' }),
  r('API key: key without a scheme', 'POST', SETS, 401, undefined, { json: { name: 'auth-bare', texts: ['a b'] }, auth: 'reliability-key' }),
  r('API key: scheme without a key', 'POST', SETS, 401, undefined, { json: { name: 'auth-scheme', texts: ['a b'] }, auth: 'Bearer' }),
  r('API key: "bearer" lower case is accepted', 'POST', SETS, 201, undefined, { json: { name: 'auth-lower', texts: ['a b'] }, auth: 'bearer reliability-key' }),
  r('API key: "BEARER" upper case is accepted', 'POST', SETS, 201, undefined, { json: { name: 'auth-upper', texts: ['a b'] }, auth: 'BEARER reliability-key' }),
  r('API key: "BeArEr" is accepted on DELETE', 'DELETE', '/v1/contrasts/c_0000000000000000', 404, undefined, { auth: 'BeArEr reliability-key' }),
  r('API key: reads need none', 'GET', SETS, 200, undefined, { auth: 'none' }),
];

const UPS = '/v1/stimulus-sets/upload';
const png = (filename: string, data: () => Buffer): Part => ({ name: 'files', filename, contentType: 'image/png', data });
const setsUpload: Row[] = [
  r('POST /v1/stimulus-sets/upload: JSON instead of multipart', 'POST', UPS, [400, 415], 'body', { json: { name: 'x' } }),
  r('POST /v1/stimulus-sets/upload: no name', 'POST', UPS, 400, 'name', { multipart: [png('a.png', () => BLOBS.goodPng)] }),
  r('POST /v1/stimulus-sets/upload: name, no files', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'nofiles' }] }),
  r('POST /v1/stimulus-sets/upload: name with a slash', 'POST', UPS, 400, 'name', { multipart: [{ name: 'name', data: 'a/b' }, png('a.png', () => BLOBS.goodPng)] }),
  r('POST /v1/stimulus-sets/upload: empty file', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'e' }, png('empty.png', () => Buffer.alloc(0))], message: /empty\.png/ }),
  r('POST /v1/stimulus-sets/upload: text in a .png', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 't' }, png('text.png', () => Buffer.from('not an image'))], message: /text\.png/ }),
  r('POST /v1/stimulus-sets/upload: a WebP image', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'w' }, png('pic.webp', () => BLOBS.webp)], message: /pic\.webp/ }),
  r('POST /v1/stimulus-sets/upload: truncated PNG', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'trunc' }, png('half.png', () => BLOBS.truncatedPng)], message: /half\.png/ }),
  r('POST /v1/stimulus-sets/upload: truncated JPEG', 'POST', UPS, 400, 'files', {
    multipart: [{ name: 'name', data: 'truncj' }, { name: 'files', filename: 'half.jpg', contentType: 'image/jpeg', data: () => BLOBS.truncatedJpeg }],
    message: /half\.jpg/,
  }),
  r('POST /v1/stimulus-sets/upload: PNG header claiming 16000×16000, no pixels', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'h16k' }, png('huge-header.png', () => BLOBS.header16k)], message: /huge-header\.png/ }),
  r('POST /v1/stimulus-sets/upload: PNG header claiming 100000×100000', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'h100k' }, png('giant.png', () => BLOBS.header100k)], message: /giant\.png/ }),
  r('POST /v1/stimulus-sets/upload: 16000×16000 PNG bomb (~30 KB)', 'POST', UPS, 400, 'files', { multipart: [{ name: 'name', data: 'bomb' }, png('bomb.png', () => BLOBS.bomb16k)], message: /bomb\.png/ }),
  r('POST /v1/stimulus-sets/upload: a bad file among good ones is named', 'POST', UPS, 400, 'files', {
    multipart: [{ name: 'name', data: 'mixed' }, png('good.png', () => BLOBS.goodPng), png('bad.png', () => BLOBS.truncatedPng)],
    message: /bad\.png/,
  }),
  r('POST /v1/stimulus-sets/upload: images and texts together', 'POST', UPS, 400, 'files', {
    multipart: [{ name: 'name', data: 'both' }, png('a.png', () => BLOBS.goodPng), { name: 'texts', data: 'one\ntwo' }],
  }),
  r('POST /v1/stimulus-sets/upload: texts file [1, 2]', 'POST', UPS, 400, 'texts', { multipart: [{ name: 'name', data: 'tn' }, { name: 'texts', filename: 't.json', data: '[1, 2]' }] }),
  r('POST /v1/stimulus-sets/upload: texts field with broken JSON', 'POST', UPS, 400, 'texts', { multipart: [{ name: 'name', data: 'tb' }, { name: 'texts', data: '["a", ' }] }),
  r('POST /v1/stimulus-sets/upload: empty texts file', 'POST', UPS, 400, 'texts', { multipart: [{ name: 'name', data: 'te' }, { name: 'texts', filename: 't.txt', data: '' }] }),
  r('POST /v1/stimulus-sets/upload: unknown text field', 'POST', UPS, 400, 'foo', { multipart: [{ name: 'name', data: 'u' }, { name: 'foo', data: 'bar' }] }),
  r('POST /v1/stimulus-sets/upload: unknown file field', 'POST', UPS, 400, 'images', { multipart: [{ name: 'name', data: 'u2' }, { name: 'images', filename: 'a.png', data: () => BLOBS.goodPng }] }),
  r('POST /v1/stimulus-sets/upload: a file over the limit', 'POST', UPS, 413, undefined, { multipart: [{ name: 'name', data: 'big' }, png('big.png', () => BLOBS.big)] }),
  r('POST /v1/stimulus-sets/upload: files over the limit in total', 'POST', UPS, 413, undefined, {
    multipart: [{ name: 'name', data: 'total' }, png('a.png', () => BLOBS.sixHundredK), png('b.png', () => BLOBS.sixHundredK)],
  }),
  r('POST /v1/stimulus-sets/upload: more files than allowed', 'POST', UPS, 413, undefined, {
    multipart: [{ name: 'name', data: 'count' }, ...Array.from({ length: 9 }, (_, i) => png(`f${i}.png`, () => BLOBS.goodPng))],
  }),
  r('POST /v1/stimulus-sets/upload: truncated multipart body', 'POST', UPS, 400, undefined, {
    multipart: [{ name: 'name', data: 'cut' }, png('a.png', () => BLOBS.goodPng), png('b.png', () => BLOBS.goodPng2)],
    truncate: 3000,
  }),
  r('POST /v1/stimulus-sets/upload: multipart without a boundary', 'POST', UPS, 400, undefined, { raw: 'whatever', headers: { 'content-type': 'multipart/form-data' } }),
  r('POST /v1/stimulus-sets/upload: no API key', 'POST', UPS, 401, undefined, { multipart: [{ name: 'name', data: 'x' }], auth: 'none' }),
  r('POST /v1/stimulus-sets/upload: two good images', 'POST', UPS, 201, undefined, { multipart: [{ name: 'name', data: 'two-good' }, png('a.png', () => BLOBS.goodPng), png('b.png', () => BLOBS.goodPng2)] }),
];

const setsById: Row[] = [
  r('GET /v1/stimulus-sets/:id: unknown id', 'GET', `${SETS}/0000000000000000`, 404),
  r('GET /v1/stimulus-sets/:id: by name', 'GET', `${SETS}/faces`, 200),
  r('GET /v1/stimulus-sets/:id: 101-character id', 'GET', `${SETS}/${L101}`, 404),
  r('GET /v1/stimulus-sets/:id: 129-character id', 'GET', `${SETS}/${L129}`, 400, 'id'),
  ...paging('GET /v1/stimulus-sets/:id/items', `${SETS}/{faces}/items`),
  r('GET /v1/stimulus-sets/:id/items: unknown set', 'GET', `${SETS}/0000000000000000/items`, 404),
  r('GET /v1/stimulus-sets/:id/items: offset past the end', 'GET', `${SETS}/{faces}/items?offset=1000`, 200),
  r('GET /v1/stimulus-sets/:id/items: 129-character id', 'GET', `${SETS}/${L129}/items`, 400, 'id'),
  r('GET …/items/:position: -1', 'GET', `${SETS}/{faces}/items/-1`, 400, 'position'),
  r('GET …/items/:position: abc', 'GET', `${SETS}/{faces}/items/abc`, 400, 'position'),
  r('GET …/items/:position: 1.5', 'GET', `${SETS}/{faces}/items/1.5`, 400, 'position'),
  r('GET …/items/:position: one past the end', 'GET', `${SETS}/{faces}/items/64`, [400, 404], 'position'),
  r('GET …/items/:position: 1e3', 'GET', `${SETS}/{faces}/items/1e3`, [400, 404]),
  r('GET …/items/:position: 1e20', 'GET', `${SETS}/{faces}/items/100000000000000000000`, 400, 'position'),
  r('GET …/items/:position: unknown set', 'GET', `${SETS}/0000000000000000/items/0`, 404),
  r('GET …/items/:position: 129-character id', 'GET', `${SETS}/${L129}/items/0`, 400, 'id'),
  r('GET …/items/:position: 0', 'GET', `${SETS}/{faces}/items/0`, 200),
  r('DELETE /v1/stimulus-sets/:id: no API key', 'DELETE', `${SETS}/{faces}`, 401, undefined, { auth: 'none' }),
  r('DELETE /v1/stimulus-sets/:id: unknown id', 'DELETE', `${SETS}/0000000000000000`, 404),
  r('DELETE /v1/stimulus-sets/:id: used by a contrast', 'DELETE', `${SETS}/{faces}`, 409),
  r('DELETE /v1/stimulus-sets/:id: 129-character id', 'DELETE', `${SETS}/${L129}`, 400, 'id'),
];

const CON = '/v1/contrasts';
/** A valid, cheap contrast (3 vs 3 images); rows change one thing. */
const C = { model: '{imgModel}', a: '{tinyA}', b: '{tinyB}', analysis: { topography: { permutations: 1 } } };
const rawC = (extra: string) => `{"model":"{imgModel}","a":"{tinyA}","b":"{tinyB}",${extra}}`;
const contrastsPost: Row[] = [
  r('POST /v1/contrasts: {}', 'POST', CON, 400, 'model', { json: {} }),
  r('POST /v1/contrasts: no a', 'POST', CON, 400, 'a', { json: { model: '{imgModel}', b: '{tinyB}' } }),
  r('POST /v1/contrasts: no b', 'POST', CON, 400, 'b', { json: { model: '{imgModel}', a: '{tinyA}' } }),
  r('POST /v1/contrasts: model 123', 'POST', CON, 400, 'model', { json: { ...C, model: 123 } }),
  r('POST /v1/contrasts: model ["topo-cnn"]', 'POST', CON, 400, 'model', { json: { ...C, model: ['topo-cnn'] } }),
  r('POST /v1/contrasts: model ""', 'POST', CON, 400, 'model', { json: { ...C, model: '' } }),
  r('POST /v1/contrasts: unknown model', 'POST', CON, 404, undefined, { json: { ...C, model: 'no-such-model' } }),
  r('POST /v1/contrasts: a 1', 'POST', CON, 400, 'a', { json: { ...C, a: 1 } }),
  r('POST /v1/contrasts: a []', 'POST', CON, 400, 'a', { json: { ...C, a: [] } }),
  r('POST /v1/contrasts: a [1]', 'POST', CON, 400, 'a[0]', { json: { ...C, a: [1] } }),
  r('POST /v1/contrasts: a [""]', 'POST', CON, 400, 'a[0]', { json: { ...C, a: [''] } }),
  r('POST /v1/contrasts: a {}', 'POST', CON, 400, 'a', { json: { ...C, a: {} } }),
  r('POST /v1/contrasts: a null', 'POST', CON, 400, 'a', { json: { ...C, a: null } }),
  r('POST /v1/contrasts: unknown set in a', 'POST', CON, 404, undefined, { json: { ...C, a: 'no-such-set' } }),
  r('POST /v1/contrasts: the same set twice in a', 'POST', CON, 422, 'a[1]', { json: { ...C, a: ['{tinyA}', '{tinyA}'] } }),
  r('POST /v1/contrasts: one set in a by id and by name', 'POST', CON, 422, 'a[1]', { json: { ...C, a: ['{tinyA}', 'tiny-faces'] } }),
  r('POST /v1/contrasts: the same set twice in b', 'POST', CON, 422, 'b[1]', { json: { ...C, b: ['{tinyB}', '{tinyB}'] } }),
  r('POST /v1/contrasts: one set in both a and b', 'POST', CON, 422, 'b[0]', { json: { ...C, b: '{tinyA}' } }),
  r('POST /v1/contrasts: a set in both, second in b', 'POST', CON, 422, 'b[1]', { json: { ...C, b: ['{tinyB}', '{tinyA}'] } }),
  r('POST /v1/contrasts: text set on an image model', 'POST', CON, 422, 'a[0]', { json: { ...C, a: '{neutral}' } }),
  r('POST /v1/contrasts: a condition with one stimulus', 'POST', CON, 422, 'a', { json: { model: '{textModel}', a: '{single}', b: '{neutral}' } }),
  r('POST /v1/contrasts: layers "conv4" (string for an array)', 'POST', CON, 400, 'layers', { json: { ...C, layers: 'conv4' } }),
  r('POST /v1/contrasts: layers [4]', 'POST', CON, 400, 'layers[0]', { json: { ...C, layers: [4] } }),
  r('POST /v1/contrasts: unknown layer', 'POST', CON, 422, 'layers[0]', { json: { ...C, layers: ['nope'] } }),
  r('POST /v1/contrasts: pooling median', 'POST', CON, 400, 'pooling', { json: { ...C, pooling: 'median' } }),
  r('POST /v1/contrasts: text pooling on an image model', 'POST', CON, [400, 422], 'pooling', { json: { ...C, pooling: 'tokens' } }),
  r('POST /v1/contrasts: test ttest', 'POST', CON, 400, 'test', { json: { ...C, test: 'ttest' } }),
  r('POST /v1/contrasts: correction BH (case matters)', 'POST', CON, 400, 'correction', { json: { ...C, correction: 'BH' } }),
  r('POST /v1/contrasts: correctionScope global', 'POST', CON, 400, 'correctionScope', { json: { ...C, correctionScope: 'global' } }),
  r('POST /v1/contrasts: alpha 0', 'POST', CON, 400, 'alpha', { json: { ...C, alpha: 0 } }),
  r('POST /v1/contrasts: alpha 1', 'POST', CON, 400, 'alpha', { json: { ...C, alpha: 1 } }),
  r('POST /v1/contrasts: alpha -0.1', 'POST', CON, 400, 'alpha', { json: { ...C, alpha: -0.1 } }),
  r('POST /v1/contrasts: alpha "0.05" (number as string)', 'POST', CON, 400, 'alpha', { json: { ...C, alpha: '0.05' } }),
  r('POST /v1/contrasts: alpha null', 'POST', CON, 400, 'alpha', { json: { ...C, alpha: null } }),
  r('POST /v1/contrasts: alpha 1e400 (Infinity once parsed)', 'POST', CON, 400, 'alpha', { raw: rawC('"alpha":1e400'), headers: JSON_CT }),
  r('POST /v1/contrasts: alpha NaN (not JSON)', 'POST', CON, 400, undefined, { raw: rawC('"alpha":NaN'), headers: JSON_CT }),
  r('POST /v1/contrasts: keepActivations "true"', 'POST', CON, 400, 'keepActivations', { json: { ...C, keepActivations: 'true' } }),
  r('POST /v1/contrasts: keepActivations 1', 'POST', CON, 400, 'keepActivations', { json: { ...C, keepActivations: 1 } }),
  r('POST /v1/contrasts: label 5', 'POST', CON, 400, 'label', { json: { ...C, label: 5 } }),
  r('POST /v1/contrasts: 201-character label', 'POST', CON, 400, 'label', { json: { ...C, label: 'l'.repeat(201) } }),
  r('POST /v1/contrasts: extra field', 'POST', CON, 400, 'extra', { json: { ...C, extra: true } }),
  r('POST /v1/contrasts: battery field categories', 'POST', CON, 400, 'categories', { json: { ...C, categories: ['a', 'b'] } }),
  r('POST /v1/contrasts: analysis "x"', 'POST', CON, 400, 'analysis', { json: { ...C, analysis: 'x' } }),
  r('POST /v1/contrasts: analysis.seed -1', 'POST', CON, 400, 'analysis.seed', { json: { ...C, analysis: { seed: -1 } } }),
  r('POST /v1/contrasts: analysis.seed 2^32', 'POST', CON, 400, 'analysis.seed', { json: { ...C, analysis: { seed: 4294967296 } } }),
  r('POST /v1/contrasts: analysis.seed 1.5', 'POST', CON, 400, 'analysis.seed', { json: { ...C, analysis: { seed: 1.5 } } }),
  r('POST /v1/contrasts: analysis.seed "7"', 'POST', CON, 400, 'analysis.seed', { json: { ...C, analysis: { seed: '7' } } }),
  r('POST /v1/contrasts: analysis extra field', 'POST', CON, 400, 'analysis.extra', { json: { ...C, analysis: { extra: 1 } } }),
  r('POST /v1/contrasts: clusters.threshold 0', 'POST', CON, 400, 'analysis.clusters.threshold', { json: { ...C, analysis: { clusters: { threshold: 0 } } } }),
  r('POST /v1/contrasts: clusters.threshold 2 on the p scale', 'POST', CON, 400, 'analysis.clusters.threshold', { json: { ...C, analysis: { clusters: { threshold: 2 } } } }),
  r('POST /v1/contrasts: clusters.threshold 1e308 on the |t| scale', 'POST', CON, 400, 'analysis.clusters.threshold', { json: { ...C, analysis: { clusters: { scale: 'abs-t', threshold: 1e308 } } } }),
  r('POST /v1/contrasts: clusters.threshold 1e400 on the |t| scale', 'POST', CON, 400, 'analysis.clusters.threshold', {
    raw: rawC('"analysis":{"clusters":{"scale":"abs-t","threshold":1e400}}'),
    headers: JSON_CT,
  }),
  r('POST /v1/contrasts: clusters.scale z', 'POST', CON, 400, 'analysis.clusters.scale', { json: { ...C, analysis: { clusters: { scale: 'z' } } } }),
  r('POST /v1/contrasts: clusters.connectivity 6', 'POST', CON, 400, 'analysis.clusters.connectivity', { json: { ...C, analysis: { clusters: { connectivity: 6 } } } }),
  r('POST /v1/contrasts: clusters.connectivity "8"', 'POST', CON, 400, 'analysis.clusters.connectivity', { json: { ...C, analysis: { clusters: { connectivity: '8' } } } }),
  r('POST /v1/contrasts: clusters.minSize 0', 'POST', CON, 400, 'analysis.clusters.minSize', { json: { ...C, analysis: { clusters: { minSize: 0 } } } }),
  r('POST /v1/contrasts: clusters.minSize 1e12', 'POST', CON, 400, 'analysis.clusters.minSize', { json: { ...C, analysis: { clusters: { minSize: 1e12 } } } }),
  r('POST /v1/contrasts: clusters.tfce "yes"', 'POST', CON, 400, 'analysis.clusters.tfce', { json: { ...C, analysis: { clusters: { tfce: 'yes' } } } }),
  r('POST /v1/contrasts: topography.permutations 0', 'POST', CON, 400, 'analysis.topography.permutations', { json: { ...C, analysis: { topography: { permutations: 0 } } } }),
  r('POST /v1/contrasts: topography.permutations 100001', 'POST', CON, 400, 'analysis.topography.permutations', { json: { ...C, analysis: { topography: { permutations: 100001 } } } }),
  r('POST /v1/contrasts: topography.bins 1', 'POST', CON, 400, 'analysis.topography.bins', { json: { ...C, analysis: { topography: { bins: 1 } } } }),
  r('POST /v1/contrasts: topography.bins 201', 'POST', CON, 400, 'analysis.topography.bins', { json: { ...C, analysis: { topography: { bins: 201 } } } }),
  r('POST /v1/contrasts: topography.contiguity bishop', 'POST', CON, 400, 'analysis.topography.contiguity', { json: { ...C, analysis: { topography: { contiguity: 'bishop' } } } }),
  r('POST /v1/contrasts: permutations {n: 0}', 'POST', CON, 400, 'analysis.permutations.n', { json: { ...C, analysis: { permutations: { n: 0 } } } }),
  r('POST /v1/contrasts: permutations {}', 'POST', CON, 400, 'analysis.permutations.n', { json: { ...C, analysis: { permutations: {} } } }),
  r('POST /v1/contrasts: permutations {n: 1e6}', 'POST', CON, 400, 'analysis.permutations.n', { json: { ...C, analysis: { permutations: { n: 1e6 } } } }),
  r('POST /v1/contrasts: permutations 5 (number for an object)', 'POST', CON, 400, 'analysis.permutations', { json: { ...C, analysis: { permutations: 5 } } }),
  r('POST /v1/contrasts: reliability {splits: 0}', 'POST', CON, 400, 'analysis.reliability.splits', { json: { ...C, analysis: { reliability: { splits: 0 } } } }),
  r('POST /v1/contrasts: reliability {}', 'POST', CON, 400, 'analysis.reliability.splits', { json: { ...C, analysis: { reliability: {} } } }),
  r('POST /v1/contrasts: reliability.threshold 0', 'POST', CON, 400, 'analysis.reliability.threshold', { json: { ...C, analysis: { reliability: { splits: 2, threshold: 0 } } } }),
  r('POST /v1/contrasts: reliability.threshold 1e308', 'POST', CON, 400, 'analysis.reliability.threshold', { json: { ...C, analysis: { reliability: { splits: 2, threshold: 1e308 } } } }),
  r('POST /v1/contrasts: malformed JSON', 'POST', CON, 400, undefined, { raw: '{"model":', headers: JSON_CT }),
  r('POST /v1/contrasts: multipart body', 'POST', CON, [400, 415], undefined, { multipart: [{ name: 'model', data: 'topo-cnn' }] }),
  r('POST /v1/contrasts: no API key', 'POST', CON, 401, undefined, { json: C, auth: 'none' }),
  r('POST /v1/contrasts: a valid small contrast', 'POST', CON, 202, undefined, { json: C }),
];

const BAT = '/v1/batteries';
const B = { model: '{imgModel}', categories: ['{tinyA}', '{tinyB}'], analysis: { topography: { permutations: 1 } } };
const batteries: Row[] = [
  r('POST /v1/batteries: {}', 'POST', BAT, 400, 'model', { json: {} }),
  r('POST /v1/batteries: model ["topo-cnn"]', 'POST', BAT, 400, 'model', { json: { ...B, model: ['topo-cnn'] } }),
  r('POST /v1/batteries: unknown model', 'POST', BAT, 404, undefined, { json: { ...B, model: 'no-such-model' } }),
  r('POST /v1/batteries: one category', 'POST', BAT, 400, 'categories', { json: { ...B, categories: ['{tinyA}'] } }),
  r('POST /v1/batteries: categories "faces" (string for an array)', 'POST', BAT, 400, 'categories', { json: { ...B, categories: 'faces' } }),
  r('POST /v1/batteries: categories [1, 2]', 'POST', BAT, 400, 'categories[0]', { json: { ...B, categories: [1, 2] } }),
  r('POST /v1/batteries: the same category twice', 'POST', BAT, 422, 'categories[1]', { json: { ...B, categories: ['{tinyA}', '{tinyA}', '{tinyB}'] } }),
  r('POST /v1/batteries: unknown category', 'POST', BAT, 404, undefined, { json: { ...B, categories: ['{tinyA}', 'no-such-set'] } }),
  r('POST /v1/batteries: neither categories nor contrasts', 'POST', BAT, 400, 'categories', { json: { model: '{imgModel}' } }),
  r('POST /v1/batteries: contrasts []', 'POST', BAT, 400, 'contrasts', { json: { model: '{imgModel}', contrasts: [] } }),
  r('POST /v1/batteries: contrast without b', 'POST', BAT, 400, 'contrasts[0].b', { json: { model: '{imgModel}', contrasts: [{ a: '{tinyA}' }] } }),
  r('POST /v1/batteries: contrast with one set on both sides', 'POST', BAT, 422, 'contrasts[0].b[0]', { json: { model: '{imgModel}', contrasts: [{ a: '{tinyA}', b: '{tinyA}' }] } }),
  r('POST /v1/batteries: keepActivations', 'POST', BAT, 400, 'keepActivations', { json: { ...B, keepActivations: true } }),
  r('POST /v1/batteries: alpha 2', 'POST', BAT, 400, 'alpha', { json: { ...B, alpha: 2 } }),
  r('POST /v1/batteries: extra field', 'POST', BAT, 400, 'extra', { json: { ...B, extra: 1 } }),
  r('POST /v1/batteries: no API key', 'POST', BAT, 401, undefined, { json: B, auth: 'none' }),
  r('GET /v1/batteries/:id: unknown id', 'GET', `${BAT}/b_0000000000000000`, 404),
  r('GET /v1/batteries/:id: 129-character id', 'GET', `${BAT}/${L129}`, 400, 'id'),
  r('GET /v1/batteries/:id: the cancelled battery', 'GET', `${BAT}/{battery}`, 200),
  r('DELETE /v1/batteries/:id: no API key', 'DELETE', `${BAT}/{battery}`, 401, undefined, { auth: 'none' }),
  r('DELETE /v1/batteries/:id: unknown id', 'DELETE', `${BAT}/b_0000000000000000`, 404),
  r('DELETE /v1/batteries/:id: 129-character id', 'DELETE', `${BAT}/${L129}`, 400, 'id'),
];

const contrastsRead: Row[] = [
  ...paging('GET /v1/contrasts', CON),
  r('GET /v1/contrasts: state=done', 'GET', `${CON}?state=done`, 400, 'state'),
  r('GET /v1/contrasts: state=succeeded', 'GET', `${CON}?state=succeeded`, 200),
  r('GET /v1/contrasts: unknown model filter', 'GET', `${CON}?model=nope`, 200),
  r('GET /v1/contrasts/:id: unknown id', 'GET', `${CON}/c_0000000000000000`, 404),
  r('GET /v1/contrasts/:id: 101-character id', 'GET', `${CON}/${L101}`, 404),
  r('GET /v1/contrasts/:id: 129-character id', 'GET', `${CON}/${L129}`, 400, 'id'),
  r('GET /v1/contrasts/:id: the succeeded contrast', 'GET', `${CON}/{contrast}`, 200),
  r('DELETE /v1/contrasts/:id: no API key', 'DELETE', `${CON}/{contrast}`, 401, undefined, { auth: 'none' }),
  r('DELETE /v1/contrasts/:id: unknown id', 'DELETE', `${CON}/c_0000000000000000`, 404),
  r('DELETE /v1/contrasts/:id: a succeeded contrast without purge', 'DELETE', `${CON}/{contrast}`, 409),
  r('DELETE /v1/contrasts/:id: cancel a cancelled contrast', 'DELETE', `${CON}/{cancelled}`, 409),
  r('DELETE /v1/contrasts/:id: purge=perhaps', 'DELETE', `${CON}/{contrast}?purge=perhaps`, 400, 'purge'),
  r('DELETE /v1/contrasts/:id: 129-character id', 'DELETE', `${CON}/${L129}`, 400, 'id'),
  r('GET /v1/contrasts/:id/stimuli: unknown id', 'GET', `${CON}/c_0000000000000000/stimuli`, 404),
  r('GET /v1/contrasts/:id/stimuli: cancelled contrast', 'GET', `${CON}/{cancelled}/stimuli`, 409),
  r('GET /v1/contrasts/:id/stimuli: 129-character id', 'GET', `${CON}/${L129}/stimuli`, 400, 'id'),
  r('GET /v1/contrasts/:id/stimuli: the succeeded contrast', 'GET', `${CON}/{contrast}/stimuli`, 200),
];

const LAY = `${CON}/{contrast}/layers/{layer}`;
const layer: Row[] = [
  r('GET …/layers/:layer: unknown contrast', 'GET', `${CON}/c_0000000000000000/layers/conv4`, 404),
  r('GET …/layers/:layer: unknown layer', 'GET', `${CON}/{contrast}/layers/nope`, 404),
  r('GET …/layers/:layer: cancelled contrast', 'GET', `${CON}/{cancelled}/layers/conv4`, 409),
  r('GET …/layers/:layer: 129-character contrast id', 'GET', `${CON}/${L129}/layers/conv4`, 400, 'id'),
  r('GET …/layers/:layer: 2000-character layer', 'GET', `${CON}/{contrast}/layers/${L2000}`, 400, 'layer'),
  r('GET …/layers/:layer: the layer', 'GET', LAY, 200),
  r('GET map.png: vmax=1e308', 'GET', `${LAY}/map.png?vmax=1e308`, 400, 'vmax'),
  r('GET map.png: vmax=1.7976931348623157e308', 'GET', `${LAY}/map.png?vmax=1.7976931348623157e308`, 400, 'vmax'),
  r('GET map.png: vmax=Infinity', 'GET', `${LAY}/map.png?vmax=Infinity`, 400, 'vmax'),
  r('GET map.png: vmax=NaN', 'GET', `${LAY}/map.png?vmax=NaN`, 400, 'vmax'),
  r('GET map.png: vmax=-1', 'GET', `${LAY}/map.png?vmax=-1`, 400, 'vmax'),
  r('GET map.png: vmax=0', 'GET', `${LAY}/map.png?vmax=0`, 400, 'vmax'),
  r('GET map.png: vmax=abc', 'GET', `${LAY}/map.png?vmax=abc`, 400, 'vmax'),
  r('GET map.png: vmax given twice', 'GET', `${LAY}/map.png?vmax=1&vmax=2`, 400, 'vmax'),
  r('GET map.png: vmax=1e30 (finite, huge)', 'GET', `${LAY}/map.png?vmax=1e30`, [200, 400], 'vmax'),
  r('GET map.png: vmax=1e-300 (tiny)', 'GET', `${LAY}/map.png?vmax=1e-300`, [200, 400], 'vmax'),
  r('GET map.png: vmax=5e-324 (smallest double)', 'GET', `${LAY}/map.png?vmax=5e-324`, [200, 400], 'vmax'),
  r('GET map.png: vmax=3', 'GET', `${LAY}/map.png?vmax=3`, 200),
  r('GET map.png: threshold=-1', 'GET', `${LAY}/map.png?threshold=-1`, 400, 'threshold'),
  r('GET map.png: threshold=1e308', 'GET', `${LAY}/map.png?threshold=1e308`, 400, 'threshold'),
  r('GET map.png: threshold=Infinity', 'GET', `${LAY}/map.png?threshold=Infinity`, 400, 'threshold'),
  r('GET map.png: threshold=NaN', 'GET', `${LAY}/map.png?threshold=NaN`, 400, 'threshold'),
  r('GET map.png: threshold=abc', 'GET', `${LAY}/map.png?threshold=abc`, 400, 'threshold'),
  r('GET map.png: threshold=3', 'GET', `${LAY}/map.png?threshold=3`, 200),
  r('GET map.png: stat=z', 'GET', `${LAY}/map.png?stat=z`, 400, 'stat'),
  r('GET map.png: stat=tfce not computed', 'GET', `${LAY}/map.png?stat=tfce`, 409),
  r('GET map.png: stat=pfwe not computed', 'GET', `${LAY}/map.png?stat=pfwe`, 409),
  r('GET map.png: outline=circle', 'GET', `${LAY}/map.png?outline=circle`, 400, 'outline'),
  r('GET map.png: outline=clusters', 'GET', `${LAY}/map.png?outline=clusters`, 200),
  r('GET map.png: cancelled contrast', 'GET', `${CON}/{cancelled}/layers/conv4/map.png`, 409),
  r('GET map.png: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/map.png`, 404),
  r('GET map.npy: stat=z', 'GET', `${LAY}/map.npy?stat=z`, 400, 'stat'),
  r('GET map.npy: stat given twice', 'GET', `${LAY}/map.npy?stat=t&stat=d`, 400, 'stat'),
  r('GET map.npy: stat=tfce not computed', 'GET', `${LAY}/map.npy?stat=tfce`, 409),
  r('GET map.npy: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/map.npy`, 404),
  r('GET map.npy: the layer', 'GET', `${LAY}/map.npy?stat=log10p`, 200),
  r('GET clusters: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/clusters`, 404),
  r('GET clusters: cancelled contrast', 'GET', `${CON}/{cancelled}/layers/conv4/clusters`, 409),
  r('GET clusters: the layer', 'GET', `${LAY}/clusters`, 200),
  r('GET topography: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/topography`, 404),
  r('GET topography: the layer', 'GET', `${LAY}/topography`, 200),
  r('GET smoothness.png: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/smoothness.png`, 404),
  r('GET smoothness.png: the layer', 'GET', `${LAY}/smoothness.png`, 200),
  r('GET activations.npy: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/activations.npy`, 404),
  r('GET activations.npy: cancelled contrast', 'GET', `${CON}/{cancelled}/layers/conv4/activations.npy`, 409),
  r('GET activations.npy: the layer', 'GET', `${LAY}/activations.npy`, 200),
  r('GET activations.rows.npy: unknown layer', 'GET', `${CON}/{contrast}/layers/nope/activations.rows.npy`, 404),
  r('GET activations.rows.npy: the layer', 'GET', `${LAY}/activations.rows.npy`, 200),
];

const MASKS = '/v1/masks';
const M = { name: 'm', kind: 'top-percent', contrast: '{contrast}' };
const masks: Row[] = [
  r('POST /v1/masks: {}', 'POST', MASKS, 400, 'name', { json: {} }),
  r('POST /v1/masks: name ""', 'POST', MASKS, 400, 'name', { json: { ...M, name: '' } }),
  r('POST /v1/masks: name 5', 'POST', MASKS, 400, 'name', { json: { ...M, name: 5 } }),
  r('POST /v1/masks: 129-character name', 'POST', MASKS, 400, 'name', { json: { ...M, name: L129 } }),
  r('POST /v1/masks: kind blob', 'POST', MASKS, 400, 'kind', { json: { ...M, kind: 'blob' } }),
  r('POST /v1/masks: top-percent without contrast', 'POST', MASKS, 400, 'contrast', { json: { name: 'm', kind: 'top-percent' } }),
  r('POST /v1/masks: unknown contrast', 'POST', MASKS, 404, undefined, { json: { ...M, contrast: 'c_0000000000000000' } }),
  r('POST /v1/masks: cancelled contrast', 'POST', MASKS, 409, undefined, { json: { ...M, contrast: '{cancelled}' } }),
  r('POST /v1/masks: percent 0', 'POST', MASKS, 400, 'percent', { json: { ...M, percent: 0 } }),
  r('POST /v1/masks: percent 101', 'POST', MASKS, 400, 'percent', { json: { ...M, percent: 101 } }),
  r('POST /v1/masks: percent "5" (number as string)', 'POST', MASKS, 400, 'percent', { json: { ...M, percent: '5' } }),
  r('POST /v1/masks: layers "conv4" (string for an array)', 'POST', MASKS, 400, 'layers', { json: { ...M, layers: 'conv4' } }),
  r('POST /v1/masks: unknown layer', 'POST', MASKS, 422, 'layers[0]', { json: { ...M, layers: ['nope'] } }),
  r('POST /v1/masks: sign up', 'POST', MASKS, 400, 'sign', { json: { ...M, sign: 'up' } }),
  r('POST /v1/masks: scope world', 'POST', MASKS, 400, 'scope', { json: { ...M, scope: 'world' } }),
  r('POST /v1/masks: significant with alpha 0', 'POST', MASKS, 400, 'alpha', { json: { ...M, kind: 'significant', alpha: 0 } }),
  r('POST /v1/masks: significant with alpha 1', 'POST', MASKS, 400, 'alpha', { json: { ...M, kind: 'significant', alpha: 1 } }),
  r('POST /v1/masks: cluster without cluster id', 'POST', MASKS, 400, 'cluster', { json: { ...M, kind: 'cluster', layer: 'conv4' } }),
  r('POST /v1/masks: cluster 0', 'POST', MASKS, 400, 'cluster', { json: { ...M, kind: 'cluster', layer: 'conv4', cluster: 0 } }),
  r('POST /v1/masks: cluster 1.5', 'POST', MASKS, 400, 'cluster', { json: { ...M, kind: 'cluster', layer: 'conv4', cluster: 1.5 } }),
  r('POST /v1/masks: cluster that does not exist', 'POST', MASKS, 422, 'cluster', { json: { ...M, kind: 'cluster', layer: 'conv4', cluster: 9999 } }),
  r('POST /v1/masks: explicit without model', 'POST', MASKS, 400, 'model', { json: { name: 'e', kind: 'explicit', units: { conv4: [1] } } }),
  r('POST /v1/masks: explicit, unknown model', 'POST', MASKS, 404, undefined, { json: { name: 'e', kind: 'explicit', model: 'no-such-model', units: { conv4: [1] } } }),
  r('POST /v1/masks: explicit, units {}', 'POST', MASKS, 400, 'units', { json: { name: 'e', kind: 'explicit', model: '{imgModel}', units: {} } }),
  r('POST /v1/masks: explicit, unknown layer', 'POST', MASKS, 422, 'units.nope', { json: { name: 'e', kind: 'explicit', model: '{imgModel}', units: { nope: [1] } } }),
  r('POST /v1/masks: explicit, unit -1', 'POST', MASKS, 400, 'units.conv4[0]', { json: { name: 'e', kind: 'explicit', model: '{imgModel}', units: { conv4: [-1] } } }),
  r('POST /v1/masks: explicit, unit out of range', 'POST', MASKS, 422, 'units.conv4', { json: { name: 'e', kind: 'explicit', model: '{imgModel}', units: { conv4: [99999] } } }),
  r('POST /v1/masks: explicit, units "x"', 'POST', MASKS, 400, 'units.conv4', { json: { name: 'e', kind: 'explicit', model: '{imgModel}', units: { conv4: 'x' } } }),
  r('POST /v1/masks: explicit, unit "1" (number as string)', 'POST', MASKS, 400, 'units.conv4[0]', { json: { name: 'e', kind: 'explicit', model: '{imgModel}', units: { conv4: ['1'] } } }),
  r('POST /v1/masks: control.seed -1', 'POST', MASKS, 400, 'control.seed', { json: { ...M, control: { seed: -1 } } }),
  r('POST /v1/masks: control {}', 'POST', MASKS, 400, 'control.seed', { json: { ...M, control: {} } }),
  r('POST /v1/masks: extra field', 'POST', MASKS, 400, 'extra', { json: { ...M, extra: 1 } }),
  r('POST /v1/masks: no API key', 'POST', MASKS, 401, undefined, { json: M, auth: 'none' }),
  r('POST /v1/masks/:id/control: unknown mask', 'POST', `${MASKS}/m_0000000000000000/control`, 404, undefined, { json: { seed: 1 } }),
  r('POST /v1/masks/:id/control: {}', 'POST', `${MASKS}/{mask}/control`, 400, 'seed', { json: {} }),
  r('POST /v1/masks/:id/control: seed -1', 'POST', `${MASKS}/{mask}/control`, 400, 'seed', { json: { seed: -1 } }),
  r('POST /v1/masks/:id/control: seed 1.5', 'POST', `${MASKS}/{mask}/control`, 400, 'seed', { json: { seed: 1.5 } }),
  r('POST /v1/masks/:id/control: seed "3" (number as string)', 'POST', `${MASKS}/{mask}/control`, 400, 'seed', { json: { seed: '3' } }),
  r('POST /v1/masks/:id/control: seed 1e20 (no finite maximum today)', 'POST', `${MASKS}/{mask}/control`, 400, 'seed', { json: { seed: 1e20 } }),
  r('POST /v1/masks/:id/control: 129-character name', 'POST', `${MASKS}/{mask}/control`, 400, 'name', { json: { seed: 1, name: L129 } }),
  r('POST /v1/masks/:id/control: extra field', 'POST', `${MASKS}/{mask}/control`, 400, 'extra', { json: { seed: 1, extra: 1 } }),
  r('POST /v1/masks/:id/control: 129-character id', 'POST', `${MASKS}/${L129}/control`, 400, 'id', { json: { seed: 1 } }),
  r('POST /v1/masks/:id/control: no API key', 'POST', `${MASKS}/{mask}/control`, 401, undefined, { json: { seed: 1 }, auth: 'none' }),
  ...paging('GET /v1/masks', MASKS),
  r('GET /v1/masks: unknown model filter', 'GET', `${MASKS}?model=nope`, 200),
  r('GET /v1/masks/:id: unknown id', 'GET', `${MASKS}/m_0000000000000000`, 404),
  r('GET /v1/masks/:id: 129-character id', 'GET', `${MASKS}/${L129}`, 400, 'id'),
  r('GET /v1/masks/:id: the mask', 'GET', `${MASKS}/{mask}`, 200),
  r('GET /v1/masks/:id/layers/:layer/map.png: unknown mask', 'GET', `${MASKS}/m_0000000000000000/layers/conv4/map.png`, 404),
  r('GET /v1/masks/:id/layers/:layer/map.png: unknown layer', 'GET', `${MASKS}/{mask}/layers/nope/map.png`, 404),
  r('GET /v1/masks/:id/layers/:layer/map.png: 2000-character id', 'GET', `${MASKS}/${L2000}/layers/conv4/map.png`, 400, 'id'),
  r('GET /v1/masks/:id/layers/:layer/map.png: the mask', 'GET', `${MASKS}/{mask}/layers/conv4/map.png`, 200),
  r('DELETE /v1/masks/:id: no API key', 'DELETE', `${MASKS}/{mask}`, 401, undefined, { auth: 'none' }),
  r('DELETE /v1/masks/:id: unknown id', 'DELETE', `${MASKS}/m_0000000000000000`, 404),
  r('DELETE /v1/masks/:id: 129-character id', 'DELETE', `${MASKS}/${L129}`, 400, 'id'),
];

const CMP = '/v1/comparisons';
const m3 = { contrast: '{contrast}', layer: 'conv3' };
const m4 = { contrast: '{contrast}', layer: 'conv4' };
const comparisons: Row[] = [
  r('POST /v1/comparisons: {}', 'POST', CMP, 400, 'maps', { json: {} }),
  r('POST /v1/comparisons: maps "x"', 'POST', CMP, 400, 'maps', { json: { maps: 'x' } }),
  r('POST /v1/comparisons: maps []', 'POST', CMP, 400, 'maps', { json: { maps: [] } }),
  r('POST /v1/comparisons: one map', 'POST', CMP, 400, 'maps', { json: { maps: [m4] } }),
  r('POST /v1/comparisons: 65 maps', 'POST', CMP, 400, 'maps', { json: { maps: Array.from({ length: 65 }, () => m4) } }),
  r('POST /v1/comparisons: map without layer', 'POST', CMP, 400, 'maps[0].layer', { json: { maps: [{ contrast: '{contrast}' }, m4] } }),
  r('POST /v1/comparisons: map contrast 5', 'POST', CMP, 400, 'maps[0].contrast', { json: { maps: [{ contrast: 5, layer: 'conv4' }, m4] } }),
  r('POST /v1/comparisons: map stat z', 'POST', CMP, 400, 'maps[0].stat', { json: { maps: [{ ...m3, stat: 'z' }, m4] } }),
  r('POST /v1/comparisons: map extra field', 'POST', CMP, 400, 'maps[0].extra', { json: { maps: [{ ...m3, extra: 1 }, m4] } }),
  r('POST /v1/comparisons: unknown contrast', 'POST', CMP, 404, undefined, { json: { maps: [{ contrast: 'c_0000000000000000', layer: 'conv4' }, m4] } }),
  r('POST /v1/comparisons: cancelled contrast', 'POST', CMP, 409, undefined, { json: { maps: [{ contrast: '{cancelled}', layer: 'conv4' }, m4] } }),
  r('POST /v1/comparisons: unknown layer', 'POST', CMP, 404, undefined, { json: { maps: [{ contrast: '{contrast}', layer: 'nope' }, m4] } }),
  r('POST /v1/comparisons: stat tfce not computed', 'POST', CMP, 409, undefined, { json: { maps: [{ ...m3, stat: 'tfce' }, m4] } }),
  r('POST /v1/comparisons: no API key', 'POST', CMP, 401, undefined, { json: { maps: [m3, m4] }, auth: 'none' }),
  r('POST /v1/comparisons: two layers of one contrast', 'POST', CMP, 201, undefined, { json: { maps: [m3, m4] } }),
  r('GET /v1/comparisons/:id: unknown id', 'GET', `${CMP}/cmp_0000000000000000`, 404),
  r('GET /v1/comparisons/:id: 129-character id', 'GET', `${CMP}/${L129}`, 400, 'id'),
  r('GET /v1/comparisons/:id: the comparison', 'GET', `${CMP}/{comparison}`, 200),
];

const INS = '/v1/models/inspect';
const inspect: Row[] = [
  r('POST /v1/models/inspect: JSON instead of multipart', 'POST', INS, [400, 415], 'body', { json: { model: 'x' } }),
  r('POST /v1/models/inspect: no parts at all', 'POST', INS, 400, 'model', { multipart: [] }),
  r('POST /v1/models/inspect: model only', 'POST', INS, 400, 'manifest', { multipart: [{ name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') }] }),
  r('POST /v1/models/inspect: model is not ONNX', 'POST', INS, 400, 'model', {
    multipart: [
      { name: 'model', filename: 'model.onnx', data: 'not onnx' },
      { name: 'manifest', data: rangeFile('manifest.json') },
      { name: 'tokenizer.json', filename: 'tokenizer.json', data: rangeFile('tokenizer.json') },
    ],
  }),
  r('POST /v1/models/inspect: manifest is not JSON', 'POST', INS, 400, 'manifest', {
    multipart: [
      { name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') },
      { name: 'manifest', data: '{nope' },
    ],
  }),
  r('POST /v1/models/inspect: manifest without input', 'POST', INS, 400, 'manifest.input', {
    multipart: [
      { name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') },
      { name: 'manifest', data: JSON.stringify({ name: 'x', modality: 'text' }) },
    ],
  }),
  r('POST /v1/models/inspect: truncated multipart body', 'POST', INS, 400, undefined, {
    multipart: [{ name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') }],
    truncate: 40,
  }),
  r('POST /v1/models/inspect: the crashing Range graph is a 422 naming the model, not a crash', 'POST', INS, 422, undefined, {
    multipart: [
      { name: 'model', filename: 'model.onnx', data: rangeFile('model.onnx') },
      { name: 'manifest', data: rangeFile('manifest.json') },
      { name: 'tokenizer.json', filename: 'tokenizer.json', data: rangeFile('tokenizer.json') },
    ],
    message: /range-positions/,
  }),
  r('POST /v1/models/inspect: no API key', 'POST', INS, 401, undefined, { multipart: [{ name: 'manifest', data: '{}' }], auth: 'none' }),
];

const svg: Row[] = [
  r('GET map.svg: vmax=1e308', 'GET', `${LAY}/map.svg?vmax=1e308`, 400, 'vmax'),
  r('GET map.svg: threshold=-1', 'GET', `${LAY}/map.svg?threshold=-1`, 400, 'threshold'),
  r('GET map.svg: stat z', 'GET', `${LAY}/map.svg?stat=z`, 400, 'stat'),
  r('GET map.svg: unknown query field', 'GET', `${LAY}/map.svg?colour=red`, 400, 'colour'),
  r('GET map.svg: tfce not computed', 'GET', `${LAY}/map.svg?stat=tfce`, 409),
  r('GET map.svg: 2000-character layer', 'GET', `${CON}/{contrast}/layers/${L2000}/map.svg`, 400, 'layer'),
  r('GET map.svg: the map', 'GET', `${LAY}/map.svg?threshold=3`, 200),
];

const LES = '/v1/lesions';
const LT = { from: 'top', contrast: '{contrast}', percent: [5], sets: ['{tinyA}', '{tinyB}'], controls: { random: 1, spatial: 1 } };
const LX = { from: 'explicit', model: '{imgModel}', units: { conv4: [1, 2] }, sets: '{tinyA}', controls: { random: 1, spatial: 1 } };
const LID = 'l_0000000000000000';
const lesions: Row[] = [
  r('POST /v1/lesions: {}', 'POST', LES, 400, 'from', { json: {} }),
  r('POST /v1/lesions: from blob', 'POST', LES, 400, 'from', { json: { ...LT, from: 'blob' } }),
  r('POST /v1/lesions: no sets', 'POST', LES, 400, 'sets', { json: { from: 'top', contrast: '{contrast}', percent: [5] } }),
  r('POST /v1/lesions: sets []', 'POST', LES, 400, 'sets', { json: { ...LT, sets: [] } }),
  r('POST /v1/lesions: sets 5', 'POST', LES, 400, 'sets', { json: { ...LT, sets: 5 } }),
  r('POST /v1/lesions: unknown set', 'POST', LES, 404, undefined, { json: { ...LT, sets: ['no-such-set'] } }),
  r('POST /v1/lesions: the same set twice', 'POST', LES, 422, 'sets[1]', { json: { ...LT, sets: ['{tinyA}', 'tiny-faces'] } }),
  r('POST /v1/lesions: text set on an image model', 'POST', LES, 422, 'sets[0]', { json: { ...LT, sets: ['{neutral}'] } }),
  r('POST /v1/lesions: top without contrast', 'POST', LES, 400, 'contrast', { json: { from: 'top', percent: [5], sets: '{tinyA}' } }),
  r('POST /v1/lesions: top without percent or count', 'POST', LES, 400, 'percent', { json: { from: 'top', contrast: '{contrast}', sets: '{tinyA}' } }),
  r('POST /v1/lesions: top with percent and count', 'POST', LES, 400, 'count', { json: { ...LT, count: [3] } }),
  r('POST /v1/lesions: unknown contrast', 'POST', LES, 404, undefined, { json: { ...LT, contrast: 'c_0000000000000000' } }),
  r('POST /v1/lesions: cancelled contrast', 'POST', LES, 409, undefined, { json: { ...LT, contrast: '{cancelled}' } }),
  r('POST /v1/lesions: percent [0]', 'POST', LES, 400, 'percent[0]', { json: { ...LT, percent: [0] } }),
  r('POST /v1/lesions: percent [101]', 'POST', LES, 400, 'percent[0]', { json: { ...LT, percent: [101] } }),
  r('POST /v1/lesions: percent 5 (number for a list)', 'POST', LES, 400, 'percent', { json: { ...LT, percent: 5 } }),
  r('POST /v1/lesions: percent ["5"] (number as string)', 'POST', LES, 400, 'percent[0]', { json: { ...LT, percent: ['5'] } }),
  r('POST /v1/lesions: 21 doses', 'POST', LES, 400, 'percent', { json: { ...LT, percent: Array.from({ length: 21 }, (_, i) => i + 1) } }),
  r('POST /v1/lesions: count [0]', 'POST', LES, 400, 'count[0]', { json: { ...LT, percent: undefined, count: [0] } }),
  r('POST /v1/lesions: count [1.5]', 'POST', LES, 400, 'count[0]', { json: { ...LT, percent: undefined, count: [1.5] } }),
  r('POST /v1/lesions: unknown layer', 'POST', LES, 422, 'layers[0]', { json: { ...LT, layers: ['nope'] } }),
  r('POST /v1/lesions: sign up', 'POST', LES, 400, 'sign', { json: { ...LT, sign: 'up' } }),
  r('POST /v1/lesions: mode erase', 'POST', LES, 400, 'mode', { json: { ...LT, mode: 'erase' } }),
  r('POST /v1/lesions: scale without factor', 'POST', LES, 400, 'factor', { json: { ...LT, mode: 'scale' } }),
  r('POST /v1/lesions: factor without scale', 'POST', LES, 400, 'factor', { json: { ...LT, factor: 2 } }),
  r('POST /v1/lesions: factor 1e7 (over the maximum)', 'POST', LES, 400, 'factor', { json: { ...LT, mode: 'scale', factor: 1e7 } }),
  r('POST /v1/lesions: factor "2" (number as string)', 'POST', LES, 400, 'factor', { json: { ...LT, mode: 'scale', factor: '2' } }),
  r('POST /v1/lesions: reference without mean mode', 'POST', LES, 400, 'reference', { json: { ...LT, reference: '{tinyB}' } }),
  r('POST /v1/lesions: controls.random -1', 'POST', LES, 400, 'controls.random', { json: { ...LT, controls: { random: -1 } } }),
  r('POST /v1/lesions: controls.spatial 1001', 'POST', LES, 400, 'controls.spatial', { json: { ...LT, controls: { spatial: 1001 } } }),
  r('POST /v1/lesions: controls.seed 1e20 (no finite maximum)', 'POST', LES, 400, 'controls.seed', { json: { ...LT, controls: { seed: 1e20 } } }),
  r('POST /v1/lesions: controls extra field', 'POST', LES, 400, 'controls.extra', { json: { ...LT, controls: { extra: 1 } } }),
  r('POST /v1/lesions: too many configurations', 'POST', LES, 422, 'controls', { json: { ...LT, percent: [1, 2, 3], controls: { random: 1000, spatial: 1000 } } }),
  r('POST /v1/lesions: cluster 0', 'POST', LES, 400, 'cluster', { json: { from: 'cluster', contrast: '{contrast}', cluster: 0, layer: 'conv4', sets: '{tinyA}' } }),
  r('POST /v1/lesions: cluster "biggest"', 'POST', LES, 400, 'cluster', { json: { from: 'cluster', contrast: '{contrast}', cluster: 'biggest', sets: '{tinyA}' } }),
  r('POST /v1/lesions: cluster id without layer', 'POST', LES, 400, 'layer', { json: { from: 'cluster', contrast: '{contrast}', cluster: 1, sets: '{tinyA}' } }),
  r('POST /v1/lesions: cluster that does not exist', 'POST', LES, 422, 'cluster', { json: { from: 'cluster', contrast: '{contrast}', cluster: 9999, layer: 'conv4', sets: '{tinyA}' } }),
  r('POST /v1/lesions: percent with from cluster', 'POST', LES, 400, 'percent', { json: { from: 'cluster', contrast: '{contrast}', cluster: 'largest', percent: [5], sets: '{tinyA}' } }),
  r('POST /v1/lesions: explicit without model', 'POST', LES, 400, 'model', { json: { ...LX, model: undefined } }),
  r('POST /v1/lesions: explicit, unknown layer', 'POST', LES, 422, 'units.nope', { json: { ...LX, units: { nope: [1] } } }),
  r('POST /v1/lesions: explicit, unit out of range', 'POST', LES, 422, 'units.conv4', { json: { ...LX, units: { conv4: [99999] } } }),
  r('POST /v1/lesions: explicit, unit -1', 'POST', LES, 400, 'units.conv4[0]', { json: { ...LX, units: { conv4: [-1] } } }),
  r('POST /v1/lesions: explicit, model without outputs', 'POST', LES, 422, 'model', { json: { from: 'explicit', model: '{rangeModel}', units: { mlp: [1] }, sets: '{neutral}' } }),
  r('POST /v1/lesions: explicit on a layer of every unit (no room for controls)', 'POST', LES, 422, 'controls', { json: { ...LX, units: { conv4: Array.from({ length: 256 }, (_, i) => i) } } }),
  r('POST /v1/lesions: unknown mask', 'POST', LES, 404, undefined, { json: { from: 'mask', mask: 'm_0000000000000000', sets: '{tinyA}' } }),
  r('POST /v1/lesions: unknown output', 'POST', LES, 422, 'output', { json: { ...LX, output: 'nope' } }),
  r('POST /v1/lesions: specificity of one set', 'POST', LES, 400, 'specificity', { json: { ...LT, specificity: ['{tinyA}'] } }),
  r('POST /v1/lesions: specificity naming another set', 'POST', LES, 422, 'specificity[1]', { json: { ...LT, specificity: ['{tinyA}', '{faces}'] } }),
  r('POST /v1/lesions: 201-character label', 'POST', LES, 400, 'label', { json: { ...LT, label: 'l'.repeat(201) } }),
  r('POST /v1/lesions: extra field', 'POST', LES, 400, 'extra', { json: { ...LT, extra: 1 } }),
  r('POST /v1/lesions: no API key', 'POST', LES, 401, undefined, { json: LT, auth: 'none' }),
  r('POST /v1/lesions: explicit units with controls', 'POST', LES, 202, undefined, { json: LX }),
  ...paging('GET /v1/lesions', LES),
  r('GET /v1/lesions: state done', 'GET', `${LES}?state=done`, 400, 'state'),
  r('GET /v1/lesions: unknown model filter', 'GET', `${LES}?model=nope`, 200),
  r('GET /v1/lesions/:id: unknown id', 'GET', `${LES}/${LID}`, 404),
  r('GET /v1/lesions/:id: a contrast id', 'GET', `${LES}/{contrast}`, 404),
  r('GET /v1/lesions/:id: 129-character id', 'GET', `${LES}/${L129}`, 400, 'id'),
  r('DELETE /v1/lesions/:id: no API key', 'DELETE', `${LES}/${LID}`, 401, undefined, { auth: 'none' }),
  r('DELETE /v1/lesions/:id: unknown id', 'DELETE', `${LES}/${LID}`, 404),
  r('DELETE /v1/lesions/:id: purge "yes"', 'DELETE', `${LES}/${LID}?purge=yes`, 400, 'purge'),
  r('GET /v1/lesions/:id/configs: unknown id', 'GET', `${LES}/${LID}/configs`, 404),
  r('GET /v1/lesions/:id/configs: dose -1', 'GET', `${LES}/${LID}/configs?dose=-1`, 400, 'dose'),
  r('GET /v1/lesions/:id/stimuli: unknown id', 'GET', `${LES}/${LID}/stimuli`, 404),
  r('GET /v1/lesions/:id/stimuli: measure ""', 'GET', `${LES}/${LID}/stimuli?measure=`, 400, 'measure'),
  r('GET /v1/lesions/:id/values.npy: no measure', 'GET', `${LES}/${LID}/values.npy`, 400, 'measure'),
  r('GET /v1/lesions/:id/values.npy: unknown id', 'GET', `${LES}/${LID}/values.npy?measure=ce`, 404),
  r('GET /v1/lesions/:id/effects.png: unknown id', 'GET', `${LES}/${LID}/effects.png`, 404),
  r('GET /v1/lesions/:id/effects.png: dose 1001', 'GET', `${LES}/${LID}/effects.png?dose=1001`, 400, 'dose'),
  r('GET /v1/lesions/:id/effects.svg: unknown id', 'GET', `${LES}/${LID}/effects.svg`, 404),
  r('GET /v1/lesions/:id/dose-response.png: unknown id', 'GET', `${LES}/${LID}/dose-response.png`, 404),
  r('GET /v1/lesions/:id/dose-response.svg: 33-character measure', 'GET', `${LES}/${LID}/dose-response.svg?measure=${'m'.repeat(33)}`, 400, 'measure'),
  r('POST /v1/contrasts: unknown lesion', 'POST', CON, 404, undefined, { json: { ...C, lesion: LID } }),
  r('POST /v1/contrasts: lesion {}', 'POST', CON, 400, 'lesion.id', { json: { ...C, lesion: {} } }),
  r('POST /v1/contrasts: lesion 5', 'POST', CON, 400, 'lesion', { json: { ...C, lesion: 5 } }),
];

// What a region encodes (issue 10): top stimuli, profiles, selectivity.
const TS = '/v1/top-stimuli';
const TSB = { model: '{imgModel}', region: { kind: 'unit', layer: 'conv4', unit: 3 }, sets: '{tinyA}' };
const PF = '/v1/profiles';
const PFB = { model: '{imgModel}', localizer: { a: '{faces}', b: '{objects}', layers: ['conv4'] }, measure: ['{tinyA}'], splits: 2, resamples: 100 };
const SEL = '/v1/selectivity';
const encoding: Row[] = [
  r('POST /v1/top-stimuli: {}', 'POST', TS, 400, 'region', { json: {} }),
  r('POST /v1/top-stimuli: no sets', 'POST', TS, 400, 'sets', { json: { model: '{imgModel}', region: TSB.region } }),
  r('POST /v1/top-stimuli: region kind blob', 'POST', TS, 400, 'region.kind', { json: { ...TSB, region: { kind: 'blob' } } }),
  r('POST /v1/top-stimuli: region extra field', 'POST', TS, 400, 'region.extra', { json: { ...TSB, region: { ...TSB.region, extra: 1 } } }),
  r('POST /v1/top-stimuli: k 0', 'POST', TS, 400, 'k', { json: { ...TSB, k: 0 } }),
  r('POST /v1/top-stimuli: k 1001', 'POST', TS, 400, 'k', { json: { ...TSB, k: 1001 } }),
  r('POST /v1/top-stimuli: k "5" (number as string)', 'POST', TS, 400, 'k', { json: { ...TSB, k: '5' } }),
  r('POST /v1/top-stimuli: k 2.5', 'POST', TS, 400, 'k', { json: { ...TSB, k: 2.5 } }),
  r('POST /v1/top-stimuli: bottomK -1', 'POST', TS, 400, 'bottomK', { json: { ...TSB, bottomK: -1 } }),
  r('POST /v1/top-stimuli: bins 4', 'POST', TS, 400, 'bins', { json: { ...TSB, bins: 4 } }),
  r('POST /v1/top-stimuli: seed -1', 'POST', TS, 400, 'seed', { json: { ...TSB, seed: -1 } }),
  r('POST /v1/top-stimuli: seed 1e20 (no finite maximum today)', 'POST', TS, 400, 'seed', { json: { ...TSB, seed: 1e20 } }),
  r('POST /v1/top-stimuli: sets []', 'POST', TS, 400, 'sets', { json: { ...TSB, sets: [] } }),
  r('POST /v1/top-stimuli: pooling tokens', 'POST', TS, 400, 'pooling', { json: { ...TSB, pooling: 'tokens' } }),
  r('POST /v1/top-stimuli: extra field', 'POST', TS, 400, 'extra', { json: { ...TSB, extra: 1 } }),
  r('POST /v1/top-stimuli: unit region without unit', 'POST', TS, 400, 'region.unit', { json: { ...TSB, region: { kind: 'unit', layer: 'conv4' } } }),
  r('POST /v1/top-stimuli: layer region without model', 'POST', TS, 400, 'model', { json: { region: { kind: 'layer', layer: 'conv4' }, sets: '{tinyA}' } }),
  r('POST /v1/top-stimuli: unknown model', 'POST', TS, 404, undefined, { json: { ...TSB, model: 'no-such-model' } }),
  r('POST /v1/top-stimuli: unknown set', 'POST', TS, 404, undefined, { json: { ...TSB, sets: 'no-such-set' } }),
  r('POST /v1/top-stimuli: unknown layer', 'POST', TS, 422, 'region.layer', { json: { ...TSB, region: { kind: 'unit', layer: 'nope', unit: 0 } } }),
  r('POST /v1/top-stimuli: unit out of range', 'POST', TS, 422, 'region.unit', { json: { ...TSB, region: { kind: 'unit', layer: 'conv4', unit: 99999 } } }),
  r('POST /v1/top-stimuli: unknown mask', 'POST', TS, 404, undefined, { json: { region: { kind: 'mask', mask: 'm_0000000000000000' }, sets: '{tinyA}' } }),
  r('POST /v1/top-stimuli: mask of another model', 'POST', TS, 422, 'model', { json: { model: '{textModel}', region: { kind: 'mask', mask: '{mask}' }, sets: '{neutral}' } }),
  r('POST /v1/top-stimuli: cluster of a cancelled contrast', 'POST', TS, 409, undefined, { json: { region: { kind: 'cluster', contrast: '{cancelled}', layer: 'conv4', cluster: 1 }, sets: '{tinyA}' } }),
  r('POST /v1/top-stimuli: cluster that does not exist', 'POST', TS, 422, 'region.cluster', { json: { region: { kind: 'cluster', contrast: '{contrast}', layer: 'conv4', cluster: 9999 }, sets: '{tinyA}' } }),
  r('POST /v1/top-stimuli: text set for an image model', 'POST', TS, 422, 'sets', { json: { ...TSB, sets: '{neutral}' } }),
  r('POST /v1/top-stimuli: the same set twice', 'POST', TS, 422, 'sets[1]', { json: { ...TSB, sets: ['{tinyA}', '{tinyA}'] } }),
  r('POST /v1/top-stimuli: no API key', 'POST', TS, 401, undefined, { json: TSB, auth: 'none' }),
  r('POST /v1/top-stimuli: a small job is accepted', 'POST', TS, 202, undefined, { json: TSB }),
  ...paging('GET /v1/top-stimuli', TS),
  r('GET /v1/top-stimuli: state bogus', 'GET', `${TS}?state=bogus`, 400, 'state'),
  r('GET /v1/top-stimuli/:id: unknown id', 'GET', `${TS}/ts_0000000000000000`, 404),
  r('GET /v1/top-stimuli/:id: a contrast id is not a top-stimuli job', 'GET', `${TS}/{contrast}`, 404),
  r('GET /v1/top-stimuli/:id: 129-character id', 'GET', `${TS}/${L129}`, 400, 'id'),
  r('GET /v1/top-stimuli/:id/units/:layer/:unit: unknown id', 'GET', `${TS}/ts_0000000000000000/units/conv4/0`, 404),
  r('GET /v1/top-stimuli/:id/units/:layer/:unit: unit -1', 'GET', `${TS}/ts_0000000000000000/units/conv4/-1`, 400, 'unit'),
  r('GET /v1/top-stimuli/:id/units/:layer/:unit: unit x', 'GET', `${TS}/ts_0000000000000000/units/conv4/x`, 400, 'unit'),
  r('GET /v1/top-stimuli/:id/histogram.png: unknown id', 'GET', `${TS}/ts_0000000000000000/histogram.png`, 404),
  r('GET /v1/top-stimuli/:id/histogram.png: log maybe', 'GET', `${TS}/ts_0000000000000000/histogram.png?log=maybe`, 400, 'log'),
  r('GET /v1/top-stimuli/:id/histogram.svg: unknown id', 'GET', `${TS}/ts_0000000000000000/histogram.svg`, 404),
  r('GET /v1/top-stimuli/:id/tokens.png: unknown id', 'GET', `${TS}/ts_0000000000000000/tokens.png`, 404),
  r('GET /v1/top-stimuli/:id/tokens.png: which middle', 'GET', `${TS}/ts_0000000000000000/tokens.png?which=middle`, 400, 'which'),
  r('GET /v1/top-stimuli/:id/tokens.png: n 0', 'GET', `${TS}/ts_0000000000000000/tokens.png?n=0`, 400, 'n'),
  r('GET /v1/top-stimuli/:id/tokens.svg: unknown id', 'GET', `${TS}/ts_0000000000000000/tokens.svg`, 404),
  r('DELETE /v1/top-stimuli/:id: unknown id', 'DELETE', `${TS}/ts_0000000000000000`, 404),
  r('DELETE /v1/top-stimuli/:id: no API key', 'DELETE', `${TS}/ts_0000000000000000`, 401, undefined, { auth: 'none' }),
  r('DELETE /v1/top-stimuli/:id: purge maybe', 'DELETE', `${TS}/ts_0000000000000000?purge=maybe`, 400, 'purge'),

  r('POST /v1/profiles: {}', 'POST', PF, 400, 'measure', { json: {} }),
  r('POST /v1/profiles: measure []', 'POST', PF, 400, 'measure', { json: { ...PFB, measure: [] } }),
  r('POST /v1/profiles: measure "x" (string for an array)', 'POST', PF, 400, 'measure', { json: { ...PFB, measure: 'x' } }),
  r('POST /v1/profiles: neither localizer nor mask', 'POST', PF, 400, 'localizer', { json: { model: '{imgModel}', measure: ['{tinyA}'] } }),
  r('POST /v1/profiles: both localizer and mask', 'POST', PF, 400, 'mask', { json: { ...PFB, mask: '{mask}' } }),
  r('POST /v1/profiles: localizer without b', 'POST', PF, 400, 'localizer.b', { json: { ...PFB, localizer: { a: '{faces}' } } }),
  r('POST /v1/profiles: localizer percent 0', 'POST', PF, 400, 'localizer.percent', { json: { ...PFB, localizer: { ...PFB.localizer, percent: 0 } } }),
  r('POST /v1/profiles: localizer percent 51', 'POST', PF, 400, 'localizer.percent', { json: { ...PFB, localizer: { ...PFB.localizer, percent: 51 } } }),
  r('POST /v1/profiles: localizer scope world', 'POST', PF, 400, 'localizer.scope', { json: { ...PFB, localizer: { ...PFB.localizer, scope: 'world' } } }),
  r('POST /v1/profiles: splits 0', 'POST', PF, 400, 'splits', { json: { ...PFB, splits: 0 } }),
  r('POST /v1/profiles: resamples 10', 'POST', PF, 400, 'resamples', { json: { ...PFB, resamples: 10 } }),
  r('POST /v1/profiles: level 1', 'POST', PF, 400, 'level', { json: { ...PFB, level: 1 } }),
  r('POST /v1/profiles: control "yes"', 'POST', PF, 400, 'control', { json: { ...PFB, control: 'yes' } }),
  r('POST /v1/profiles: effect without b', 'POST', PF, 400, 'effect.b', { json: { ...PFB, effect: { a: '{tinyA}' } } }),
  r('POST /v1/profiles: extra field', 'POST', PF, 400, 'extra', { json: { ...PFB, extra: 1 } }),
  r('POST /v1/profiles: split-half without model', 'POST', PF, 400, 'model', { json: { ...PFB, model: undefined } }),
  r('POST /v1/profiles: unknown mask', 'POST', PF, 404, undefined, { json: { mask: 'm_0000000000000000', measure: ['{tinyA}'] } }),
  r('POST /v1/profiles: unknown set', 'POST', PF, 404, undefined, { json: { ...PFB, measure: ['no-such-set'] } }),
  r('POST /v1/profiles: unknown layer', 'POST', PF, 422, 'localizer.layers[0]', { json: { ...PFB, localizer: { ...PFB.localizer, layers: ['nope'] } } }),
  r('POST /v1/profiles: text set measured on an image model', 'POST', PF, 422, 'measure[0]', { json: { ...PFB, measure: ['{neutral}'] } }),
  r('POST /v1/profiles: the same set in a and b', 'POST', PF, 422, 'localizer.b', { json: { ...PFB, localizer: { a: '{faces}', b: '{faces}' } } }),
  r('POST /v1/profiles: a condition with 3 stimuli', 'POST', PF, 422, 'localizer.a', { json: { ...PFB, localizer: { a: '{tinyA}', b: '{objects}' } } }),
  r('POST /v1/profiles: effect on a set not measured', 'POST', PF, 422, 'effect.a', { json: { ...PFB, effect: { a: '{faces}', b: '{tinyA}' } } }),
  r('POST /v1/profiles: effect a = b', 'POST', PF, 422, 'effect.b', { json: { ...PFB, effect: { a: '{tinyA}', b: '{tinyA}' } } }),
  r('POST /v1/profiles: no API key', 'POST', PF, 401, undefined, { json: PFB, auth: 'none' }),
  r('POST /v1/profiles: an independent localizer is accepted', 'POST', PF, 202, undefined, { json: { mask: '{mask}', measure: ['{tinyA}', '{tinyB}'], resamples: 100 } }),
  ...paging('GET /v1/profiles', PF),
  r('GET /v1/profiles/:id: unknown id', 'GET', `${PF}/pf_0000000000000000`, 404),
  r('GET /v1/profiles/:id: 129-character id', 'GET', `${PF}/${L129}`, 400, 'id'),
  r('GET /v1/profiles/:id/splits: unknown id', 'GET', `${PF}/pf_0000000000000000/splits`, 404),
  r('GET /v1/profiles/:id/profile.png: unknown id', 'GET', `${PF}/pf_0000000000000000/profile.png`, 404),
  r('GET /v1/profiles/:id/profile.svg: unknown id', 'GET', `${PF}/pf_0000000000000000/profile.svg`, 404),
  r('DELETE /v1/profiles/:id: unknown id', 'DELETE', `${PF}/pf_0000000000000000`, 404),
  r('DELETE /v1/profiles/:id: no API key', 'DELETE', `${PF}/pf_0000000000000000`, 401, undefined, { auth: 'none' }),

  r('POST /v1/selectivity: {}', 'POST', SEL, 400, 'battery', { json: {} }),
  r('POST /v1/selectivity: battery 5', 'POST', SEL, 400, 'battery', { json: { battery: 5 } }),
  r('POST /v1/selectivity: threshold 11', 'POST', SEL, 400, 'threshold', { json: { battery: '{battery}', threshold: 11 } }),
  r('POST /v1/selectivity: threshold "1" (number as string)', 'POST', SEL, 400, 'threshold', { json: { battery: '{battery}', threshold: '1' } }),
  r('POST /v1/selectivity: extra field', 'POST', SEL, 400, 'extra', { json: { battery: '{battery}', extra: 1 } }),
  r('POST /v1/selectivity: unknown battery', 'POST', SEL, 404, undefined, { json: { battery: 'b_0000000000000000' } }),
  r('POST /v1/selectivity: a cancelled battery', 'POST', SEL, 409, undefined, { json: { battery: '{battery}' } }),
  r('POST /v1/selectivity: no API key', 'POST', SEL, 401, undefined, { json: { battery: '{battery}' }, auth: 'none' }),
  ...paging('GET /v1/selectivity', SEL),
  r('GET /v1/selectivity/:id: unknown id', 'GET', `${SEL}/sel_0000000000000000`, 404),
  r('GET /v1/selectivity/:id: 129-character id', 'GET', `${SEL}/${L129}`, 400, 'id'),
  r('GET /v1/selectivity/:id/layers/:layer: unknown id', 'GET', `${SEL}/sel_0000000000000000/layers/conv4`, 404),
  r('GET /v1/selectivity/:id/layers/:layer/map.png: unknown id', 'GET', `${SEL}/sel_0000000000000000/layers/conv4/map.png`, 404),
  r('GET /v1/selectivity/:id/layers/:layer/map.png: stat bogus', 'GET', `${SEL}/sel_0000000000000000/layers/conv4/map.png?stat=bogus`, 400, 'stat'),
  r('GET /v1/selectivity/:id/layers/:layer/map.svg: unknown id', 'GET', `${SEL}/sel_0000000000000000/layers/conv4/map.svg`, 404),
  r('GET /v1/selectivity/compare.png: no ids', 'GET', `${SEL}/compare.png`, 400, 'ids'),
  r('GET /v1/selectivity/compare.png: unknown id', 'GET', `${SEL}/compare.png?ids=sel_0000000000000000`, 404),
  r('GET /v1/selectivity/compare.png: nine ids', 'GET', `${SEL}/compare.png?ids=${Array(9).fill('sel_0000000000000000').join(',')}`, 400, 'ids'),
  r('GET /v1/selectivity/compare.png: metric bogus', 'GET', `${SEL}/compare.png?ids=x&metric=bogus`, 400, 'metric'),
  r('DELETE /v1/selectivity/:id: unknown id', 'DELETE', `${SEL}/sel_0000000000000000`, 404),
  r('DELETE /v1/selectivity/:id: no API key', 'DELETE', `${SEL}/sel_0000000000000000`, 401, undefined, { auth: 'none' }),
];

// The routes of distributed workers: the key is required on reads too; this server runs embedded
// (no TOPOSCOPE_REDIS_URL), so a well-formed request with the key is a 409.
const PASS = '/v1/passes/c_0000000000000000.main';
const HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const PARTIAL = { raw: Buffer.alloc(16), headers: { 'content-type': 'application/octet-stream', 'x-toposcope-plan': 'a'.repeat(64) } };
const workers: Row[] = [
  r('GET /v1/passes/:pass: no API key (needed on worker reads)', 'GET', PASS, 401),
  r('GET /v1/passes/:pass: wrong API key', 'GET', PASS, 401, undefined, { auth: 'Bearer nope' }),
  r('GET /v1/passes/:pass: not a coordinator', 'GET', PASS, 409, undefined, { auth: 'key' }),
  r('GET /v1/passes/:pass: a space in the id', 'GET', '/v1/passes/a%20b', 400, 'pass', { auth: 'key' }),
  r('GET /v1/passes/:pass: 257-character id', 'GET', `/v1/passes/${'x'.repeat(257)}`, 400, 'pass', { auth: 'key' }),
  r('GET /v1/passes/:pass/shards/:shard: no API key', 'GET', `${PASS}/shards/0`, 401),
  r('GET /v1/passes/:pass/shards/:shard: shard -1', 'GET', `${PASS}/shards/-1`, 400, 'shard', { auth: 'key' }),
  r('GET /v1/passes/:pass/shards/:shard: shard "x"', 'GET', `${PASS}/shards/x`, 400, 'shard', { auth: 'key' }),
  r('GET /v1/passes/:pass/shards/:shard: not a coordinator', 'GET', `${PASS}/shards/0`, 409, undefined, { auth: 'key' }),
  r('GET /v1/blobs/:hash: no API key', 'GET', `/v1/blobs/${HASH}`, 401),
  r('GET /v1/blobs/:hash: not a sha256', 'GET', '/v1/blobs/abc', 400, 'hash', { auth: 'key' }),
  r('GET /v1/blobs/:hash: 129 characters', 'GET', `/v1/blobs/${L129}`, 400, 'hash', { auth: 'key' }),
  r('GET /v1/blobs/:hash: not a coordinator', 'GET', `/v1/blobs/${HASH}`, 409, undefined, { auth: 'key' }),
  r('PUT /v1/shards/:pass/:shard: no API key', 'PUT', '/v1/shards/c_0000000000000000.main/0', 401, undefined, { ...PARTIAL, auth: 'none' }),
  r('PUT /v1/shards/:pass/:shard: not a coordinator', 'PUT', '/v1/shards/c_0000000000000000.main/0', 409, undefined, PARTIAL),
  r('PUT /v1/shards/:pass/:shard: no X-Toposcope-Plan', 'PUT', '/v1/shards/c_0000000000000000.main/0', 400, 'x-toposcope-plan', { raw: Buffer.alloc(16), headers: { 'content-type': 'application/octet-stream' } }),
  r('PUT /v1/shards/:pass/:shard: X-Toposcope-Timings not JSON', 'PUT', '/v1/shards/c_0000000000000000.main/0', 400, 'x-toposcope-timings', { ...PARTIAL, headers: { ...PARTIAL.headers, 'x-toposcope-timings': '{' } }),
  r('PUT /v1/shards/:pass/:shard: a JSON body', 'PUT', '/v1/shards/c_0000000000000000.main/0', 400, 'body', { json: { partial: 1 }, headers: { 'x-toposcope-plan': 'a'.repeat(64) } }),
  r('PUT /v1/shards/:pass/:shard: X-Toposcope-Plan not 64 hex digits', 'PUT', '/v1/shards/c_0000000000000000.main/0', 400, 'x-toposcope-plan', { ...PARTIAL, headers: { ...PARTIAL.headers, 'x-toposcope-plan': 'xyz' } }),
  r('PUT /v1/shards/:pass/:shard: shard "x"', 'PUT', '/v1/shards/c_0000000000000000.main/x', 400, 'shard', PARTIAL),
  r('PUT /v1/shards/:pass/:shard: shard 1e8', 'PUT', '/v1/shards/c_0000000000000000.main/100000000', 400, 'shard', PARTIAL),
  r('PUT /v1/shards/:pass/:shard: text/plain body', 'PUT', '/v1/shards/c_0000000000000000.main/0', 400, 'body', { raw: 'x', headers: { 'content-type': 'text/plain', 'x-toposcope-plan': 'a'.repeat(64) } }),
];

export const CATALOGUE: Row[] = [
  ...health,
  ...inspect,
  ...svg,
  ...modelsList,
  ...modelsRegister,
  ...modelsUpload,
  ...modelsById,
  ...setsJson,
  ...auth,
  ...setsUpload,
  ...setsById,
  ...contrastsPost,
  ...batteries,
  ...contrastsRead,
  ...layer,
  ...masks,
  ...comparisons,
  ...lesions,
  ...encoding,
  ...workers,
];
