/**
 * The pooling edit: for each given layer tensor x, add an output that reduces x along every axis but
 * the batch (0) and the unit axis, by mean or max (see domain/pooling.ts for the names).
 *
 * - Text (rank 3, one token axis): positions past a sample's real tokens are excluded through a new
 *   bool input, the token mask [batch, tokens]: Where(mask, x, 0) summed over the tokens and divided
 *   by the mask's count (mean), or Where(mask, x, −∞) maximised (max). Where, not a product with the
 *   mask: a NaN or ∞ at a padded position does not reach the pooled value.
 * - Images (any rank ≥ 3): ReduceMean or ReduceMax over all positions.
 *
 * - Images fed as 8-bit pixels (`pixels`): the model's float32 N×C×H×W input is removed from the
 *   graph's inputs and computed from a new uint8 input [batch, H, W, C]: transposed to planes, cast,
 *   then ((v / 255) − mean_c) / std_c in float32, one operation at a time, as the JavaScript
 *   normalisation (and torchvision's ToTensor + Normalize) computes it: the model sees the same
 *   float32 values, bit for bit, from a quarter of the bytes. These nodes come first; the rest of the
 *   graph reads the input tensor by its name as before.
 *
 * Means are summed in float64 (x cast to double): the result does not depend on how many padded
 * positions a batch has or on the order ONNX Runtime adds in, to float32 precision, as the sums in
 * JavaScript did. Maxima are taken in float32 (x cast to float32: a no-op for float32 tensors, which
 * ONNX Runtime removes). The pooled outputs are float64 (means) and float32 (maxima). Existing
 * nodes, inputs and outputs are kept byte for byte; the new nodes follow the last node (they only read
 * tensors the graph already computes, so the file stays topologically sorted).
 */
import { PIXELS_INPUT, pooledOutputName, TOKEN_MASK_INPUT, type PixelSpec, type PooledSpec } from '../domain/pooling.ts';
import { ELEM_TYPE, int, ints, nodeBytes, tensorAttr, valueInfo, type AttrValue } from './build.ts';
import { GRAPH_INPUT, GRAPH_OUTPUT, VI_NAME } from './fields.ts';
import { defaultDomainOpset, inspectModel, parseTop, rebuildModel, valueInfoName, type ModelInfo } from './model.ts';
import { concat, lenField, stringField } from './proto.ts';

export class PoolingEditError extends Error {}

/** The lowest default-domain opset the edit supports (Where with a bool condition). */
export const POOLING_MIN_OPSET = 9;

const INTERNAL = 'toposcope/pool/_';

/**
 * A copy of the model with a pooled output for every spec (`pooledOutputName`), with the token mask
 * input when `text`, and fed 8-bit pixels when `pixels` is given. Refuses tensors that no node
 * produces, ranks or axes it cannot pool, opsets below `POOLING_MIN_OPSET`, names that would collide,
 * and (with `pixels`) an image input that is not a float32 N×C×H×W graph input of that size.
 */
export function addPooledOutputs(buf: Uint8Array, specs: PooledSpec[], text: boolean, pixels: PixelSpec | null = null): Uint8Array {
  const p = parseTop(buf);
  const info = inspectModel(buf);
  const opset = defaultDomainOpset(info.opsets);
  if (opset < POOLING_MIN_OPSET) throw new PoolingEditError(`opset ${opset} is below ${POOLING_MIN_OPSET}`);
  const produced = new Set(info.nodes.flatMap((n) => n.outputs));
  const used = new Set([...produced, ...info.inputs.map((i) => i.name), ...info.initializers]);
  for (const name of used) if (name.startsWith('toposcope/pool/')) throw new PoolingEditError(`the graph already has a tensor named '${name}'`);

  const nodes: Uint8Array[] = [];
  let k = 0;
  const fresh = (what: string) => `${INTERNAL}${k++}/${what}`;
  const node = (op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output = fresh(op)) => {
    nodes.push(nodeBytes(inputs, [output], `${output}/${op}`, op, attrs));
    return output;
  };
  const axesConst = (axes: number[]) =>
    node('Constant', [], { value: tensorAttr({ elemType: 'int64', dims: [axes.length], data: BigInt64Array.from(axes.map(BigInt)) }) });
  // Axes moved from an attribute to an input in opset 13 (ReduceSum, Unsqueeze) and 18 (ReduceMean, ReduceMax).
  const reduce = (op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax', x: string, axes: number[], output?: string) => {
    const asInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
    return asInput ? node(op, [x, axesConst(axes)], { keepdims: int(0) }, output) : node(op, [x], { axes: ints(axes), keepdims: int(0) }, output);
  };
  const unsqueeze = (x: string, axes: number[]) => (opset >= 13 ? node('Unsqueeze', [x, axesConst(axes)]) : node('Unsqueeze', [x], { axes: ints(axes) }));
  const scalar = (v: number, type: 'float32' | 'float64') =>
    node('Constant', [], { value: tensorAttr(type === 'float32' ? { elemType: 'float32', dims: [], data: Float32Array.of(v) } : { elemType: 'float64', dims: [], data: Float64Array.of(v) }) });

  // Per text layout (unit axis 1 or 2): the mask broadcast over the units, and the real-token count.
  const masks = new Map<number, { mask: string; count: string }>();
  const maskFor = (unitAxis: number) => {
    let m = masks.get(unitAxis);
    if (!m) {
      const mask = unsqueeze(TOKEN_MASK_INPUT, [unitAxis]);
      const tokenAxis = unitAxis === 2 ? 1 : 2;
      // [batch, 1]: divides the [batch, units] sums row by row.
      const count = reduce('ReduceSum', node('Cast', [mask], { to: int(ELEM_TYPE.float64) }), [tokenAxis]);
      m = { mask, count };
      masks.set(unitAxis, m);
    }
    return m;
  };
  let zero: string | null = null;
  let minusInf: string | null = null;
  const outputs = new Set<string>();
  for (const s of specs) {
    if (!produced.has(s.tensor)) throw new PoolingEditError(`no node of the graph produces tensor '${s.tensor}'`);
    if (!(s.unitAxis >= 1 && s.unitAxis < s.rank)) throw new PoolingEditError(`tensor '${s.tensor}': unit axis ${s.unitAxis} is out of range for rank ${s.rank}`);
    const out = pooledOutputName(s.tensor, s.unitAxis, s.pooling);
    if (outputs.has(out)) continue;
    outputs.add(out);
    const x = node('Cast', [s.tensor], { to: int(s.pooling === 'mean' ? ELEM_TYPE.float64 : ELEM_TYPE.float32) });
    if (text) {
      if (s.rank !== 3) throw new PoolingEditError(`tensor '${s.tensor}': a text layer has rank 3, not ${s.rank}`);
      const tokenAxis = s.unitAxis === 2 ? 1 : 2;
      const { mask, count } = maskFor(s.unitAxis);
      if (s.pooling === 'mean') {
        zero ??= scalar(0, 'float64');
        node('Div', [reduce('ReduceSum', node('Where', [mask, x, zero]), [tokenAxis]), count], {}, out);
      } else {
        minusInf ??= scalar(-Infinity, 'float32');
        reduce('ReduceMax', node('Where', [mask, x, minusInf]), [tokenAxis], out);
      }
    } else {
      if (s.rank < 3) throw new PoolingEditError(`tensor '${s.tensor}' has no positions to pool (rank ${s.rank})`);
      const axes = Array.from({ length: s.rank }, (_, i) => i).filter((i) => i !== 0 && i !== s.unitAxis);
      reduce(s.pooling === 'mean' ? 'ReduceMean' : 'ReduceMax', x, axes, out);
    }
  }
  if (outputs.size === 0) throw new PoolingEditError('nothing to pool');

  const parts: Uint8Array[] = [];
  let skipInput: string | null = null;
  if (pixels) {
    const prefix: Uint8Array[] = [];
    const at = nodes.length;
    pixelNodes(info, pixels, node);
    prefix.push(...nodes.splice(at));
    parts.push(...prefix);
    parts.push(lenField(GRAPH_INPUT, valueInfo(PIXELS_INPUT, 'uint8', [batchDim(info, pixels), pixels.height, pixels.width, pixels.channels])));
    skipInput = pixels.input;
  }
  for (const f of p.graphFields) {
    if (skipInput !== null && f.no === GRAPH_INPUT && valueInfoName(buf, f) === skipInput) continue;
    parts.push(buf.subarray(f.start, f.end));
  }
  parts.push(...nodes);
  if (text) parts.push(lenField(GRAPH_INPUT, valueInfo(TOKEN_MASK_INPUT, 'bool', ['batch', 'tokens'])));
  for (const o of outputs) parts.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, o)));
  return rebuildModel(buf, p, concat(parts));
}

/** The image input's batch dimension as the graph declares it (a name, a size, or 'batch'). */
function batchDim(info: ModelInfo, px: PixelSpec): string | number {
  const d = info.inputs.find((i) => i.name === px.input)?.dims?.[0];
  return d === null || d === undefined ? 'batch' : d;
}

/** uint8 [N, H, W, C] → Transpose → Cast → ÷ 255 → − mean_c → ÷ std_c (float32): the N×C×H×W input. */
function pixelNodes(info: ModelInfo, px: PixelSpec, node: (op: string, inputs: string[], attrs?: Record<string, AttrValue>, output?: string) => string): void {
  const inp = info.inputs.find((i) => i.name === px.input);
  if (!inp) throw new PoolingEditError(`the graph has no input '${px.input}' to feed from pixels`);
  if (inp.elemType !== ELEM_TYPE.float32) throw new PoolingEditError(`image input '${px.input}' is not float32`);
  const want = [px.channels, px.height, px.width];
  if (!inp.dims || inp.dims.length !== 4 || want.some((v, i) => typeof inp.dims![i + 1] === 'number' && inp.dims![i + 1] !== v)) {
    throw new PoolingEditError(`image input '${px.input}' is not N×${want.join('×')}`);
  }
  if (px.mean.length !== px.channels || px.std.length !== px.channels) throw new PoolingEditError(`the pixel normalisation needs ${px.channels} means and stds`);
  const perChannel = (v: number[]) => node('Constant', [], { value: tensorAttr({ elemType: 'float32', dims: [px.channels, 1, 1], data: Float32Array.from(v) }) });
  const planes = node('Transpose', [PIXELS_INPUT], { perm: ints([0, 3, 1, 2]) });
  const scaled = node('Div', [node('Cast', [planes], { to: int(ELEM_TYPE.float32) }), node('Constant', [], { value: tensorAttr({ elemType: 'float32', dims: [], data: Float32Array.of(255) }) })]);
  node('Div', [node('Sub', [scaled, perChannel(px.mean)]), perChannel(px.std)], {}, px.input);
}
