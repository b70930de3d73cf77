/** Request and response schemas (TypeBox → JSON Schema) shared by the routes and the OpenAPI document. */
import { Type, type TSchema } from '@sinclair/typebox';
import { AnalysisSummarySchema, ClusterRowSchema } from '../domain/analysis.ts';
import { DEFAULT_ANALYSIS } from '../domain/defaults.ts';
import { ContrastParamsSchema, LayerSummarySchema } from '../domain/records.ts';
import { MapStatSchema } from '../domain/stats.ts';
import { Choice, Nullable } from '../domain/choice.ts';

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String({ description: 'HTTP reason phrase.' }),
    code: Type.String({ description: 'Machine-readable error code.' }),
    message: Type.String({ description: 'What went wrong and what to fix.' }),
    field: Type.Optional(Type.String({ description: 'The request field at fault, when there is one.' })),
  },
  { $id: 'Error', title: 'Error', examples: [{ statusCode: 404, error: 'Not Found', code: 'NOT_FOUND', message: "model 'abc' does not exist" }] },
);

const errRef = Type.Ref('Error');

/** Error responses documented on a route: 400/401/404/409/413/422 as applicable, always 500. */
export function errors(...codes: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  const desc: Record<number, string> = {
    400: 'Invalid request: a field is missing or malformed (see `field`).',
    401: 'API key required or wrong.',
    404: 'Unknown id.',
    409: 'Conflicts with the current state.',
    413: 'Upload too large or too many files.',
    422: 'Well-formed but cannot run (wrong modality, unknown layer, empty set).',
    429: 'Too many CPU-heavy requests from this client (TOPOSCOPE_HEAVY_GETS_PER_MINUTE).',
    500: 'Internal error (no internals disclosed).',
  };
  for (const c of [...codes, 500]) out[c] = Type.Unsafe({ ...errRef, description: desc[c] });
  return out;
}

/** A binary response body (PNG, .npy, raw item bytes), documented as a binary string. */
export const Binary = (description?: string) => Type.Unsafe<Buffer | NodeJS.ReadableStream | string>({ type: 'string', format: 'binary', ...(description ? { description } : {}) });

export const Page = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e9, default: 0 })),
});

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, examples: ['c_3b91283dcc6bafe7'], description: 'Id (models and sets also accept their name).' }) });

const Dims = Type.Array(Type.Union([Type.Integer(), Type.String(), Type.Null()]));

export const LayerInfoSchema = Type.Object({
  name: Type.String(),
  tensor: Type.String(),
  unitAxis: Type.Integer(),
  pooling: Type.String(),
  units: Type.Integer(),
  rows: Type.Integer(),
  cols: Type.Integer(),
  probeShape: Type.Array(Type.Integer()),
});

export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    hash: Type.String(),
    name: Type.String(),
    modality: Choice(['image', 'text']),
    source: Type.String(),
    sizeBytes: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    manifest: Type.Ref('Manifest'),
    inputs: Type.Array(Type.Object({ name: Type.String(), type: Type.String(), dims: Dims })),
    dynamicBatch: Type.Boolean(),
    layers: Type.Array(LayerInfoSchema),
    files: Type.Array(Type.Object({ name: Type.String(), sha256: Type.String(), bytes: Type.Integer() })),
  },
  {
    $id: 'Model',
    title: 'Model',
    examples: [
      {
        id: '3f2a9c0d1b7e4a55',
        hash: '3f2a9c0d1b7e4a55c2d0f1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9',
        name: 'topo-cnn',
        modality: 'image',
        source: 'fixture:topo-cnn',
        sizeBytes: 4210112,
        createdAt: '2026-11-25T06:00:00.000Z',
        manifest: { name: 'topo-cnn', modality: 'image', input: { image: { name: 'input', size: [64, 64], channels: 3, mean: [0.5], std: [0.5] } }, layers: [{ name: 'conv4', tensor: '/conv4/Relu_output_0', unitAxis: 1, pooling: 'mean' }] },
        inputs: [{ name: 'input', type: 'float32', dims: ['batch', 3, 64, 64] }],
        dynamicBatch: true,
        layers: [{ name: 'conv4', tensor: '/conv4/Relu_output_0', unitAxis: 1, pooling: 'mean', units: 256, rows: 16, cols: 16, probeShape: [2, 256, 4, 4] }],
        files: [{ name: 'model.onnx', sha256: '9b0c…', bytes: 4210112 }],
      },
    ],
  },
);

export const ModelListSchema = Type.Object(
  {
    items: Type.Array(Type.Ref('Model')),
    total: Type.Integer(),
    limit: Type.Integer(),
    offset: Type.Integer(),
  },
  { examples: [{ items: [], total: 4, limit: 50, offset: 0 }] },
);

export const RegisterModelBody = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'A folder inside the configured models root holding model.onnx, manifest.json and side files.' }),
  },
  { additionalProperties: false, examples: [{ path: 'topo-cnn' }] },
);

export const TensorSchema = Type.Object(
  {
  name: Type.String(),
  opType: Type.String(),
  node: Type.String(),
  type: Type.String(),
  shape: Type.Array(Type.Integer()),
  isLayer: Nullable(Type.String(), { description: 'Manifest layer name when this tensor is a topographic layer.' }),
  },
  { examples: [{ name: '/conv4/act/Relu_output_0', opType: 'Relu', node: '/conv4/act/Relu', type: 'float32', shape: [1, 256, 4, 4], isLayer: 'conv4' }] },
);

export const StimulusSetSchema = Type.Object(
  {
    id: Type.String(),
    hash: Type.String(),
    name: Type.String(),
    modality: Choice(['image', 'text']),
    nItems: Type.Integer(),
    source: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'StimulusSet',
    title: 'StimulusSet',
    examples: [{ id: '6f20c8f0d6d1a773', hash: '6f20c8f0d6d1a773…', name: 'faces', modality: 'image', nItems: 64, source: 'fixture:images/faces', createdAt: '2026-11-25T06:00:00.000Z' }],
  },
);

export const CreateSetBody = Type.Union(
  [
    Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 128 }),
        texts: Type.Array(Type.String(), { minItems: 1, description: 'The texts of a text set, in order.' }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        path: Type.String({ minLength: 1, description: 'A folder of PNG/JPEG files or a .txt/.json file inside the configured stimuli root.' }),
      },
      { additionalProperties: false },
    ),
  ],
  { examples: [{ name: 'greetings', texts: ['hello there', 'good morning to you'] }, { path: 'images/faces' }] },
);

export const ItemSchema = Type.Object(
  {
  position: Type.Integer(),
  sha256: Type.String(),
  label: Nullable(Type.String()),
  classLabel: Nullable(Type.String(), { description: 'The class name of the item (from labels.json of an image folder), or null.' }),
  mediaType: Type.String(),
  text: Nullable(Type.String()),
  },
  { examples: [{ position: 0, sha256: '9f86d081884c7d65…', label: null, classLabel: null, mediaType: 'text/plain', text: 'you are a worthless idiot' }] },
);

const Provenance = Type.Object(
  {
    service: Type.Literal('toposcope'),
    version: Type.String(),
    model: Type.Object({ id: Type.String(), name: Type.String(), hash: Type.String(), onnxSha256: Type.String() }),
    sets: Type.Object({
      a: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), hash: Type.String(), items: Type.Integer() })),
      b: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), hash: Type.String(), items: Type.Integer() })),
    }),
    params: ContrastParamsSchema,
    seed: Type.Integer(),
    runtime: Type.Object({ node: Type.String(), onnxruntime: Type.String() }),
    battery: Type.Optional(Type.String({ description: 'The battery the contrast was submitted in.' })),
    lesion: Type.Optional(
      Type.Object(
        {
          id: Type.String(),
          config: Type.Integer(),
          role: Type.String(),
          dose: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
          control: Nullable(Type.Integer()),
          mode: Type.String(),
          factor: Nullable(Type.Number()),
          selection: Type.Object({}, { additionalProperties: true }),
          parentModel: Type.Object({}, { additionalProperties: true }),
          units: Type.Array(Type.Object({ layer: Type.String(), units: Type.Array(Type.Integer()) })),
        },
        { description: 'A contrast on a lesioned model: the lesion job, its configuration, mode, units per layer and the parent model.' },
      ),
    ),
  },
  { description: 'Everything needed to reproduce the result: model and stimulus hashes, parameters, seed, versions.' },
);

const EXAMPLE_PARAMS = {
  model: '3f2a9c0d1b7e4a55',
  layers: ['conv4'],
  a: ['6f20c8f0d6d1a773'],
  b: ['30a19ef258715fa5'],
  pooling: null,
  test: 'welch',
  correction: 'bh',
  correctionScope: 'layer',
  alpha: 0.05,
  keepActivations: false,
  label: 'faces > objects',
  analysis: DEFAULT_ANALYSIS,
};

export const ContrastSchema = Type.Object(
  {
    id: Type.String(),
    state: Choice(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    label: Nullable(Type.String()),
    model: Type.String(),
    params: ContrastParamsSchema,
    progress: Type.Object({
      done: Type.Integer({ description: 'Stimuli through the model.' }),
      total: Type.Integer(),
      fraction: Type.Number(),
      stage: Nullable(Type.String(), { description: "What a running job is doing: 'inference', then per layer 'statistics', 'topography 0/1', 'permutations k/n', 'reliability'." }),
    }),
    error: Nullable(Type.String()),
    timings: Type.Union([Type.Object({}, { additionalProperties: Type.Number() }), Type.Null()]),
    attempts: Type.Integer(),
    battery: Nullable(Type.String(), { description: 'The battery this contrast was run in, if any.' }),
    truncation: Type.Union([Type.Object({ maxTokens: Type.Integer(), sets: Type.Record(Type.String(), Type.Integer()) }), Type.Null()], {
      description: 'Text contrasts (once succeeded): per set id, the texts longer than maxTokens that were fed cut to their first maxTokens tokens; null for image contrasts and before success.',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    layers: Type.Array(Type.Composite([Type.Object({ name: Type.String() }), LayerSummarySchema])),
    provenance: Provenance,
  },
  {
    $id: 'Contrast',
    title: 'Contrast',
    examples: [
      {
        id: 'c_3b91283dcc6bafe7',
        state: 'succeeded',
        label: 'faces > objects',
        model: '3f2a9c0d1b7e4a55',
        params: EXAMPLE_PARAMS,
        progress: { done: 128, total: 128, fraction: 1, stage: 'statistics' },
        error: null,
        timings: { totalMs: 1840, setupMs: 610, encodeMs: 220, inferenceMs: 640, inferenceWallMs: 1050, statsMs: 4, stimuli: 128, batches: 4 },
        attempts: 1,
        battery: null,
        truncation: null,
        createdAt: '2026-11-25T06:00:00.000Z',
        startedAt: '2026-11-25T06:00:00.010Z',
        finishedAt: '2026-11-25T06:00:01.850Z',
        layers: [{ name: 'conv4', units: 256, rows: 16, cols: 16, nA: 64, nB: 64, pooling: 'mean', significant: 41, significantPositive: 30, significantNegative: 11, alpha: 0.05, correction: 'bh', maxT: 7.9, minT: -5.2, zeroVarianceUnits: 0, peak: { unit: 37, row: 2, col: 5, t: 7.9, p: 1.2e-11, q: 3.1e-9, d: 1.4 } }],
        provenance: { service: 'toposcope', version: '0.1.0', model: { id: '3f2a9c0d1b7e4a55', name: 'topo-cnn', hash: '3f2a9c0d1b7e4a55…', onnxSha256: '9b0c…' }, sets: { a: [{ id: '6f20c8f0d6d1a773', name: 'faces', hash: '6f20…', items: 64 }], b: [{ id: '30a19ef258715fa5', name: 'objects', hash: '30a1…', items: 64 }] }, params: EXAMPLE_PARAMS, seed: 1, runtime: { node: 'v20.20.2', onnxruntime: '1.30.0' } },
      },
    ],
  },
);

/** Per-unit numbers; null where a value is not finite. */
const NumArr = (o: Record<string, unknown> = {}) => Type.Array(Nullable(Type.Number()), o);

export const LayerResultSchema = Type.Object(
  {
  contrast: Type.String(),
  layer: Type.String(),
  units: Type.Integer(),
  rows: Type.Integer(),
  cols: Type.Integer(),
  nA: Type.Integer(),
  nB: Type.Integer(),
  cellOfUnit: Type.Array(Type.Integer(), { description: 'Row-major sheet cell of every unit: row = cell // cols, col = cell % cols.' }),
  t: NumArr(),
  df: NumArr(),
  p: NumArr({ description: 'Two-sided p.' }),
  log10p: NumArr(),
  q: NumArr({ description: 'Corrected p (method in summary.correction).' }),
  log10q: NumArr({ description: 'log10 of the corrected p, computed from log10 p (finite where q underflows).' }),
  d: NumArr({ description: "Cohen's d (pooled SD)." }),
  g: NumArr({ description: "Hedges' g." }),
  meanA: NumArr(),
  meanB: NumArr(),
  varA: NumArr(),
  varB: NumArr(),
  summary: Type.Composite([Type.Object({ name: Type.String() }), LayerSummarySchema]),
  analysis: AnalysisSummarySchema,
  clusters: Type.Array(ClusterRowSchema),
  clusterLabel: Type.Union([Type.Array(Type.Integer()), Type.Null()], { description: 'Per unit: 0 or the id of its cluster.' }),
  pFWE: Type.Union([Type.Array(Nullable(Type.Number())), Type.Null()], { description: 'Per unit max-|t| permutation FWE p (when permutations ran).' }),
  tfce: Type.Union([Type.Array(Nullable(Type.Number())), Type.Null()]),
  },
  { examples: [{ contrast: 'c_3b91283dcc6bafe7', layer: 'conv4', units: 4, rows: 2, cols: 2, nA: 64, nB: 64, cellOfUnit: [0, 1, 2, 3], t: [7.9, 0.3, -1.2, 2.2], df: [120.1, 125.9, 118.4, 126], p: [1.2e-12, 0.76, 0.23, 0.03], log10p: [-11.9, -0.12, -0.64, -1.52], q: [4.8e-12, 0.76, 0.31, 0.06], d: [1.4, 0.05, -0.21, 0.39], g: [1.39, 0.05, -0.21, 0.39], meanA: [0.8, 0.1, 0.2, 0.4], meanB: [0.3, 0.09, 0.25, 0.33], varA: [0.1, 0.02, 0.05, 0.03], varB: [0.08, 0.02, 0.06, 0.03], summary: {} }] },
);

export const MapQuery = Type.Object(
  {
    stat: Type.Optional(MapStatSchema),
    outline: Type.Optional(Choice(['threshold', 'clusters'], { description: 'Outline units beyond `threshold` (default when a threshold is given) or the stored clusters.' })),
    threshold: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1e6, description: 'Outline units at or beyond this value on the scale of the drawn statistic: |t|, |d|, −log10 p, −log10 q, |TFCE| or −log10 p(FWE).' }),
    ),
    vmax: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6, description: 'Colour scale limit (default: max |stat|).' })),
  },
  { additionalProperties: false, examples: [{ stat: 't', threshold: 3, outline: 'threshold' }] },
);
