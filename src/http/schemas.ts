/** Request and response schemas (TypeBox → JSON Schema) shared by the routes and the OpenAPI document. */
import { Type, type TSchema } from '@sinclair/typebox';

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
    500: 'Internal error (no internals disclosed).',
  };
  for (const c of [...codes, 500]) out[c] = Type.Unsafe({ ...errRef, description: desc[c] });
  return out;
}

export const Page = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
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
    modality: Type.Union([Type.Literal('image'), Type.Literal('text')]),
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
  isLayer: Type.Union([Type.String(), Type.Null()], { description: 'Manifest layer name when this tensor is a topographic layer.' }),
  },
  { examples: [{ name: '/conv4/act/Relu_output_0', opType: 'Relu', node: '/conv4/act/Relu', type: 'float32', shape: [1, 256, 4, 4], isLayer: 'conv4' }] },
);

export const StimulusSetSchema = Type.Object(
  {
    id: Type.String(),
    hash: Type.String(),
    name: Type.String(),
    modality: Type.Union([Type.Literal('image'), Type.Literal('text')]),
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
  label: Type.Union([Type.String(), Type.Null()]),
  mediaType: Type.String(),
  text: Type.Union([Type.String(), Type.Null()]),
  },
  { examples: [{ position: 0, sha256: '9f86d081884c7d65…', label: null, mediaType: 'text/plain', text: 'you are a worthless idiot' }] },
);

const SetRef = Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
  description: 'A stimulus set id or name, or a list of them (their union: "one category vs the rest").',
});

export const AnalysisBody = Type.Object(
  {
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1, description: 'Seed of every random step (spatial and label permutations, splits).' })),
    clusters: Type.Optional(
      Type.Object(
        {
          scale: Type.Optional(Type.Union([Type.Literal('p'), Type.Literal('abs-t')], { default: 'p', description: "Scale of the cluster-forming threshold: uncorrected two-sided p ('p', cells with p ≤ threshold) or |t| ('abs-t', cells with |t| ≥ threshold)." })),
          threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: "Default 0.001 on the 'p' scale, 3 on the 'abs-t' scale." })),
          connectivity: Type.Optional(Type.Union([Type.Literal(4), Type.Literal(8)], { default: 8 })),
          minSize: Type.Optional(Type.Integer({ minimum: 1, default: 1, description: 'Smaller clusters are dropped.' })),
          tfce: Type.Optional(Type.Boolean({ default: false, description: 'Also compute threshold-free cluster enhancement of the t-map (E = 0.5, H = 2).' })),
        },
        { additionalProperties: false },
      ),
    ),
    topography: Type.Optional(
      Type.Object(
        {
          permutations: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 999, description: "Spatial permutations for Moran's I p-value." })),
          contiguity: Type.Optional(Type.Union([Type.Literal('queen'), Type.Literal('rook')], { default: 'queen' })),
          bins: Type.Optional(Type.Integer({ minimum: 2, maximum: 200, default: 20, description: 'Distance bins of the smoothness curve.' })),
        },
        { additionalProperties: false },
      ),
    ),
    permutations: Type.Optional(
      Type.Union([
        Type.Object({ n: Type.Integer({ minimum: 1, maximum: 100000, description: 'Label permutations (group sizes kept) for max-|t| FWE p per unit and cluster-level FWE p.' }) }, { additionalProperties: false }),
        Type.Null(),
      ]),
    ),
    reliability: Type.Optional(
      Type.Union([
        Type.Object(
          {
            splits: Type.Integer({ minimum: 1, maximum: 1000, description: 'Random split-halves of each condition.' }),
            threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: '|t| threshold of the masks compared by Dice. Default 3.' })),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false, description: 'Regions, topography, permutation inference and reliability. Clusters and topography always run (with these defaults); permutations and reliability are opt-in.' },
);

export const CreateContrastBody = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'Model id or name.' }),
    a: SetRef,
    b: SetRef,
    layers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Layer names; default all topographic layers.' })),
    pooling: Type.Optional(Type.Union([Type.Literal('mean'), Type.Literal('max'), Type.Literal('last'), Type.Literal('tokens'), Type.Null()], { description: 'Override every layer\'s pooling.' })),
    test: Type.Optional(Type.Union([Type.Literal('welch'), Type.Literal('student')], { default: 'welch' })),
    correction: Type.Optional(
      Type.Union([Type.Literal('bh'), Type.Literal('by'), Type.Literal('holm'), Type.Literal('bonferroni'), Type.Literal('none')], { default: 'bh' }),
    ),
    correctionScope: Type.Optional(Type.Union([Type.Literal('layer'), Type.Literal('all')], { default: 'layer', description: 'Correct across the units of each layer, or across all requested layers together.' })),
    alpha: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.05 })),
    keepActivations: Type.Optional(Type.Boolean({ default: false, description: 'Store the pooled stimuli × units matrix (float32 .npy) per layer.' })),
    label: Type.Optional(Type.String({ maxLength: 200 })),
    analysis: Type.Optional(AnalysisBody),
  },
  {
    additionalProperties: false,
    examples: [
      { model: 'topo-cnn', a: 'faces', b: 'objects' },
      {
        model: 'topo-cnn',
        a: 'faces',
        b: ['bodies', 'places', 'characters', 'objects'],
        analysis: { seed: 7, clusters: { scale: 'abs-t', threshold: 3, connectivity: 8, tfce: true }, permutations: { n: 5000 }, reliability: { splits: 20 } },
      },
    ],
  },
);

export const LayerSummarySchema = Type.Object({
  name: Type.String(),
  units: Type.Integer(),
  rows: Type.Integer(),
  cols: Type.Integer(),
  nA: Type.Integer(),
  nB: Type.Integer(),
  pooling: Type.String(),
  significant: Type.Integer({ description: 'Units with corrected q ≤ alpha.' }),
  significantPositive: Type.Integer(),
  significantNegative: Type.Integer(),
  alpha: Type.Number(),
  correction: Type.String(),
  maxT: Type.Number(),
  minT: Type.Number(),
  zeroVarianceUnits: Type.Integer({ description: 'Units with zero variance in both conditions: t = 0, p = 1 by convention.' }),
  peak: Type.Union([
    Type.Object({ unit: Type.Integer(), row: Type.Integer(), col: Type.Integer(), t: Type.Number(), p: Type.Number(), q: Type.Number(), d: Type.Number() }),
    Type.Null(),
  ]),
});

export const ContrastSchema = Type.Object(
  {
    id: Type.String(),
    state: Type.Union(['queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s))),
    label: Type.Union([Type.String(), Type.Null()]),
    model: Type.String(),
    params: Type.Object({}, { additionalProperties: true }),
    progress: Type.Object({ done: Type.Integer(), total: Type.Integer(), fraction: Type.Number() }),
    error: Type.Union([Type.String(), Type.Null()]),
    timings: Type.Union([Type.Object({}, { additionalProperties: Type.Number() }), Type.Null()]),
    attempts: Type.Integer(),
    battery: Type.Union([Type.String(), Type.Null()], { description: 'The battery this contrast was run in, if any.' }),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    layers: Type.Array(LayerSummarySchema),
    provenance: Type.Object({}, { additionalProperties: true }),
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
        params: { model: '3f2a9c0d1b7e4a55', layers: ['conv4'], a: ['6f20c8f0d6d1a773'], b: ['30a19ef258715fa5'], pooling: null, test: 'welch', correction: 'bh', correctionScope: 'layer', alpha: 0.05, keepActivations: false },
        progress: { done: 128, total: 128, fraction: 1 },
        error: null,
        timings: { totalMs: 1840, setupMs: 610, encodeMs: 220, inferenceMs: 640, inferenceWallMs: 1050, statsMs: 4, stimuli: 128, batches: 4 },
        attempts: 1,
        battery: null,
        createdAt: '2026-11-25T06:00:00.000Z',
        startedAt: '2026-11-25T06:00:00.010Z',
        finishedAt: '2026-11-25T06:00:01.850Z',
        layers: [{ name: 'conv4', units: 256, rows: 16, cols: 16, nA: 64, nB: 64, pooling: 'mean', significant: 41, significantPositive: 30, significantNegative: 11, alpha: 0.05, correction: 'bh', maxT: 7.9, minT: -5.2, zeroVarianceUnits: 0, peak: { unit: 37, row: 2, col: 5, t: 7.9, p: 1.2e-11, q: 3.1e-9, d: 1.4 } }],
        provenance: { service: 'toposcope', version: '0.1.0' },
      },
    ],
  },
);

/** Per-unit numbers; null where a value is not finite. */
const NumArr = (o: Record<string, unknown> = {}) => Type.Array(Type.Union([Type.Number(), Type.Null()]), o);

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
  d: NumArr({ description: "Cohen's d (pooled SD)." }),
  g: NumArr({ description: "Hedges' g." }),
  meanA: NumArr(),
  meanB: NumArr(),
  varA: NumArr(),
  varB: NumArr(),
  summary: LayerSummarySchema,
  analysis: Type.Object({}, { additionalProperties: true, description: "Moran's I, smoothness, reliability and permutation summaries, cluster parameters." }),
  clusters: Type.Array(Type.Object({}, { additionalProperties: true })),
  clusterLabel: Type.Union([Type.Array(Type.Integer()), Type.Null()], { description: 'Per unit: 0 or the id of its cluster.' }),
  pFWE: Type.Union([Type.Array(Type.Union([Type.Number(), Type.Null()])), Type.Null()], { description: 'Per unit max-|t| permutation FWE p (when permutations ran).' }),
  tfce: Type.Union([Type.Array(Type.Union([Type.Number(), Type.Null()])), Type.Null()]),
  },
  { examples: [{ contrast: 'c_3b91283dcc6bafe7', layer: 'conv4', units: 4, rows: 2, cols: 2, nA: 64, nB: 64, cellOfUnit: [0, 1, 2, 3], t: [7.9, 0.3, -1.2, 2.2], df: [120.1, 125.9, 118.4, 126], p: [1.2e-12, 0.76, 0.23, 0.03], log10p: [-11.9, -0.12, -0.64, -1.52], q: [4.8e-12, 0.76, 0.31, 0.06], d: [1.4, 0.05, -0.21, 0.39], g: [1.39, 0.05, -0.21, 0.39], meanA: [0.8, 0.1, 0.2, 0.4], meanB: [0.3, 0.09, 0.25, 0.33], varA: [0.1, 0.02, 0.05, 0.03], varB: [0.08, 0.02, 0.06, 0.03], summary: {} }] },
);

export const MapQuery = Type.Object(
  {
  stat: Type.Optional(
    Type.Union([Type.Literal('t'), Type.Literal('d'), Type.Literal('log10p'), Type.Literal('q'), Type.Literal('tfce'), Type.Literal('pfwe')], {
      default: 't',
      description: 'log10p, q and pfwe are drawn as sign(t)·(−log10 value); tfce and pfwe exist when the contrast computed them.',
    }),
  ),
  outline: Type.Optional(Type.Union([Type.Literal('threshold'), Type.Literal('clusters')], { description: "Outline units beyond `threshold` (default when a threshold is given) or the stored clusters." })),
  threshold: Type.Optional(Type.Number({ minimum: 0, description: 'Outline units with |stat| ≥ threshold (for log10p: −log10 p ≥ threshold).' })),
  vmax: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Colour scale limit (default: max |stat|).' })),
  },
  { examples: [{ stat: 't', threshold: 3, outline: 'threshold' }] },
);

export const CreateBatteryBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    categories: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 2, description: 'Each category vs the union of the others.' })),
    contrasts: Type.Optional(
      Type.Array(
        Type.Object({ a: SetRef, b: SetRef, label: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
        { minItems: 1 },
      ),
    ),
    layers: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    pooling: CreateContrastBody.properties.pooling,
    test: CreateContrastBody.properties.test,
    correction: CreateContrastBody.properties.correction,
    correctionScope: CreateContrastBody.properties.correctionScope,
    alpha: CreateContrastBody.properties.alpha,
    analysis: Type.Optional(AnalysisBody),
  },
  {
    additionalProperties: false,
    examples: [{ model: 'topo-cnn', categories: ['faces', 'bodies', 'places', 'characters', 'objects'] }],
  },
);
