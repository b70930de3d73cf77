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

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

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
  { $id: 'Model', title: 'Model' },
);

export const ModelListSchema = Type.Object({
  items: Type.Array(Type.Ref('Model')),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});

export const RegisterModelBody = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'A folder inside the configured models root holding model.onnx, manifest.json and side files.' }),
  },
  { additionalProperties: false, examples: [{ path: 'topo-cnn' }] },
);

export const TensorSchema = Type.Object({
  name: Type.String(),
  opType: Type.String(),
  node: Type.String(),
  type: Type.String(),
  shape: Type.Array(Type.Integer()),
  isLayer: Type.Union([Type.String(), Type.Null()], { description: 'Manifest layer name when this tensor is a topographic layer.' }),
});

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
  { $id: 'StimulusSet', title: 'StimulusSet' },
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

export const ItemSchema = Type.Object({
  position: Type.Integer(),
  sha256: Type.String(),
  label: Type.Union([Type.String(), Type.Null()]),
  mediaType: Type.String(),
  text: Type.Union([Type.String(), Type.Null()]),
});

const SetRef = Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
  description: 'A stimulus set id or name, or a list of them (their union: "one category vs the rest").',
});

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
  },
  { additionalProperties: false, examples: [{ model: 'topo-cnn', a: 'faces', b: 'objects' }] },
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
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    layers: Type.Array(LayerSummarySchema),
    provenance: Type.Object({}, { additionalProperties: true }),
  },
  { $id: 'Contrast', title: 'Contrast' },
);

export const LayerResultSchema = Type.Object({
  contrast: Type.String(),
  layer: Type.String(),
  units: Type.Integer(),
  rows: Type.Integer(),
  cols: Type.Integer(),
  nA: Type.Integer(),
  nB: Type.Integer(),
  cellOfUnit: Type.Array(Type.Integer(), { description: 'Row-major sheet cell of every unit: row = cell // cols, col = cell % cols.' }),
  t: Type.Array(Type.Number()),
  df: Type.Array(Type.Number()),
  p: Type.Array(Type.Number({ description: 'Two-sided p.' })),
  log10p: Type.Array(Type.Number()),
  q: Type.Array(Type.Number({ description: 'Corrected p (method in summary.correction).' })),
  d: Type.Array(Type.Number({ description: "Cohen's d (pooled SD)." })),
  g: Type.Array(Type.Number({ description: "Hedges' g." })),
  meanA: Type.Array(Type.Number()),
  meanB: Type.Array(Type.Number()),
  varA: Type.Array(Type.Number()),
  varB: Type.Array(Type.Number()),
  summary: LayerSummarySchema,
});

export const MapQuery = Type.Object({
  stat: Type.Optional(Type.Union([Type.Literal('t'), Type.Literal('d'), Type.Literal('log10p'), Type.Literal('q')], { default: 't' })),
  threshold: Type.Optional(Type.Number({ minimum: 0, description: 'Outline units with |stat| ≥ threshold (for log10p: −log10 p ≥ threshold).' })),
  vmax: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Colour scale limit (default: max |stat|).' })),
});
