/**
 * The model manifest: what a researcher writes beside `model.onnx` to say how to feed the model and
 * which of its tensors are topographic sheets. The JSON Schema published in `openapi/` is generated
 * from `ManifestSchema` below.
 */
import { Type, type Static } from '@sinclair/typebox';

export const GridLayoutSchema = Type.Object(
  {
    type: Type.Literal('grid'),
    rows: Type.Optional(Type.Integer({ minimum: 1, description: 'Sheet rows. Default: TopoLoss rule (largest divisor of n ≤ √n).' })),
    cols: Type.Optional(Type.Integer({ minimum: 1, description: 'Sheet columns. Default: n / rows.' })),
    permutation: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), {
        description: 'Optional unit → sheet cell: unit i sits at row-major cell permutation[i] (TopoLM-style random placement).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Units on a rows×cols grid, row-major: unit i → (i // cols, i % cols), or via `permutation`.' },
);

export const CoordinatesLayoutSchema = Type.Object(
  {
    type: Type.Literal('coordinates'),
    x: Type.Array(Type.Number(), { description: 'Sheet x (column direction) of every unit.' }),
    y: Type.Array(Type.Number(), { description: 'Sheet y (row direction) of every unit.' }),
    cellSize: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Grid cell size used to rasterise the coordinates for maps and neighbourhoods. Default: the smallest size that puts every unit in its own cell, searched from the median nearest-neighbour distance.' }),
    ),
  },
  { additionalProperties: false, description: 'Explicit learned 2-D coordinates per unit (TDANN-style).' },
);

export const LayoutSchema = Type.Union([GridLayoutSchema, CoordinatesLayoutSchema]);

export const PoolingSchema = Type.Union(
  [Type.Literal('mean'), Type.Literal('max'), Type.Literal('last'), Type.Literal('tokens')],
  {
    description:
      'How a unit is reduced to one value per stimulus. Image: `mean` or `max` over spatial positions. Text: `mean` over real tokens (attention mask respected), `last` real token, or `tokens` (every real token is its own sample).',
  },
);

export const LayerSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$', description: 'Short name used in URLs.' }),
    tensor: Type.String({ minLength: 1, description: 'ONNX tensor name (a node output or graph output).' }),
    unitAxis: Type.Integer({ minimum: 1, description: 'Axis of the tensor that indexes units (1 for NCHW conv and N×C; 2 for B×T×C).' }),
    pooling: Type.Optional(PoolingSchema),
    layout: Type.Optional(LayoutSchema),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const ImageInputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'ONNX input name of the N×C×H×W float32 image tensor.' }),
    size: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], { description: '[height, width] in pixels.' }),
    channels: Type.Union([Type.Literal(1), Type.Literal(3)]),
    mean: Type.Array(Type.Number(), { minItems: 1, maxItems: 3, description: 'Per-channel mean subtracted after scaling pixels to [0, 1].' }),
    std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 3 }),
    resize: Type.Optional(Type.Union([Type.Literal('stretch'), Type.Literal('contain'), Type.Literal('cover'), Type.Literal('torchvision')], { description: 'How images are fitted to `size` (default `contain`, padded with `background`). `torchvision`: as torchvision `Resize(resizeTo)` + `CenterCrop(size)` on a PIL image (bilinear, antialiased).' })),
    resizeTo: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 16384 }), Type.Tuple([Type.Integer({ minimum: 1, maximum: 16384 }), Type.Integer({ minimum: 1, maximum: 16384 })])], { description: 'With `resize: torchvision`: the `Resize` argument, an integer for the shorter side or [height, width]. Default: `size`.' })),
    background: Type.Optional(Type.Tuple([Type.Integer({ minimum: 0, maximum: 255 }), Type.Integer({ minimum: 0, maximum: 255 }), Type.Integer({ minimum: 0, maximum: 255 })], { description: 'RGB used to flatten transparency and pad. Default white.' })),
  },
  { additionalProperties: false },
);

export const TokenizerSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal('huggingface'),
      file: Type.String({ minLength: 1, description: 'Path of a Hugging Face `tokenizer.json`, relative to the model folder.' }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('gpt2') }, { additionalProperties: false, description: 'Builtin GPT-2 byte-level BPE (r50k).' }),
]);

export const TextInputSchema = Type.Object(
  {
    tokenizer: TokenizerSchema,
    maxTokens: Type.Integer({ minimum: 1, maximum: 8192, description: 'Texts are truncated to this many tokens.' }),
    idsInput: Type.String({ minLength: 1, description: 'ONNX input name of the int64 B×T token ids.' }),
    maskInput: Type.Optional(Type.String({ minLength: 1, description: 'ONNX input name of the int64 B×T attention mask, if the model takes one.' })),
    padTokenId: Type.Optional(Type.Integer({ minimum: 0, description: 'Id used to right-pad a batch. Default 0.' })),
    bosTokenId: Type.Optional(Type.Integer({ minimum: 0, description: 'Prepended to every text when set.' })),
  },
  { additionalProperties: false },
);

/** Behaviour outputs: the logits a lesion is scored on. */
export const OutputKindSchema = Type.Union([Type.Literal('lm'), Type.Literal('classifier')], {
  description: '`lm`: next-token logits B×T×V of a causal language model. `classifier`: class logits B×C.',
});

export const OutputSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$', description: 'Short name used in requests. Default: the tensor name.' })),
    tensor: Type.String({ minLength: 1, description: 'ONNX tensor name of the logits (a graph output or any node output).' }),
    kind: OutputKindSchema,
    classes: Type.Optional(
      Type.Union([
        Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 2, description: 'Class names in logit order.' }),
        Type.Object({ file: Type.String({ minLength: 1, description: 'A JSON array of class names in logit order, relative to the model folder.' }) }, { additionalProperties: false }),
      ], { description: '`classifier`: the class names (inline or from a file); stimulus items labelled with these names are scored for accuracy.' }),
    ),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const ManifestSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    version: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    modality: Type.Union([Type.Literal('image'), Type.Literal('text')]),
    input: Type.Object(
      {
        image: Type.Optional(ImageInputSchema),
        text: Type.Optional(TextInputSchema),
      },
      { additionalProperties: false },
    ),
    layers: Type.Array(LayerSchema, { minItems: 1, description: 'The topographic layers.' }),
    outputs: Type.Optional(Type.Array(OutputSchema, { minItems: 1, maxItems: 16, description: 'Behaviour outputs (logits) that lesions are scored on; the first is the default.' })),
  },
  { additionalProperties: false, $id: 'Manifest', title: 'toposcope model manifest' },
);

export type Manifest = Static<typeof ManifestSchema>;
export type LayerSpec = Static<typeof LayerSchema>;
export type Layout = Static<typeof LayoutSchema>;
export type Pooling = Static<typeof PoolingSchema>;
export type ImageInput = Static<typeof ImageInputSchema>;
export type TextInput = Static<typeof TextInputSchema>;
export type OutputSpec = Static<typeof OutputSchema>;
export type OutputKind = Static<typeof OutputKindSchema>;
