/**
 * Reading and editing ONNX models at the protobuf level.
 *
 * - `inspectModel` lists graph inputs/outputs (with declared shapes), nodes (op type, outputs) and
 *   initializers, and tells whether weights live in external data files.
 * - `exposeTensors` adds intermediate tensors to `graph.output` (type and shape left for ORT to
 *   infer) so that a session returns them.
 * Weights are never decoded: edits splice new fields into the original bytes.
 */
import {
  type Field,
  ProtoError,
  concat,
  encodeVarint,
  fieldString,
  lenField,
  readFields,
  stringField,
  WIRE_LEN,
} from './proto.ts';
import {
  DIM_PARAM,
  DIM_VALUE,
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NAME,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  GRAPH_VALUE_INFO,
  MODEL_GRAPH,
  MODEL_IR_VERSION,
  MODEL_OPSET_IMPORT,
  NODE_DOMAIN,
  NODE_INPUT,
  NODE_NAME,
  NODE_OP_TYPE,
  NODE_OUTPUT,
  OPSET_DOMAIN,
  OPSET_VERSION,
  SHAPE_DIM,
  SSE_KEY,
  SSE_VALUE,
  TENSOR_ELEM_TYPE,
  TENSOR_SHAPE,
  TP_DATA_LOCATION,
  TP_EXTERNAL_DATA,
  TP_NAME,
  TYPE_TENSOR,
  VI_NAME,
  VI_TYPE,
} from './fields.ts';


export { ELEM_TYPE_NAMES } from './fields.ts';

export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  elemType: number | null;
  dims: Dim[] | null;
}

export interface NodeInfo {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
}

export interface ModelInfo {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  graphName: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  nodes: NodeInfo[];
  initializers: string[];
  externalDataFiles: string[];
}

export class OnnxFormatError extends Error {}

function only(fields: Field[], no: number): Field | undefined {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i].no === no) return fields[i];
  return undefined;
}

function parseValueInfo(buf: Uint8Array, f: Field): ValueInfo {
  const fs = readFields(buf, f.valueStart, f.end);
  const nameF = only(fs, VI_NAME);
  const info: ValueInfo = { name: nameF ? fieldString(buf, nameF) : '', elemType: null, dims: null };
  const typeF = only(fs, VI_TYPE);
  if (!typeF) return info;
  const tensorF = only(readFields(buf, typeF.valueStart, typeF.end), TYPE_TENSOR);
  if (!tensorF || tensorF.wire !== WIRE_LEN) return info;
  const tfs = readFields(buf, tensorF.valueStart, tensorF.end);
  const et = only(tfs, TENSOR_ELEM_TYPE);
  if (et?.varint !== undefined) info.elemType = et.varint;
  const shapeF = only(tfs, TENSOR_SHAPE);
  if (shapeF) {
    info.dims = [];
    for (const d of readFields(buf, shapeF.valueStart, shapeF.end)) {
      if (d.no !== SHAPE_DIM) continue;
      const dfs = readFields(buf, d.valueStart, d.end);
      const v = only(dfs, DIM_VALUE);
      const p = only(dfs, DIM_PARAM);
      info.dims.push(v?.varint !== undefined ? v.varint : p ? fieldString(buf, p) : null);
    }
  }
  return info;
}

export interface ParsedModel {
  modelFields: Field[];
  graphField: Field;
  graphFields: Field[];
}

export function parseTop(buf: Uint8Array): ParsedModel {
  let modelFields: Field[];
  try {
    modelFields = readFields(buf);
  } catch (e) {
    throw new OnnxFormatError(`not an ONNX model: ${(e as Error).message}`);
  }
  const graphField = only(modelFields, MODEL_GRAPH);
  if (!graphField || graphField.wire !== WIRE_LEN) throw new OnnxFormatError('not an ONNX model: no graph in the file');
  const irField = only(modelFields, MODEL_IR_VERSION);
  if (irField?.varint === undefined) throw new OnnxFormatError('not an ONNX model: no ir_version');
  let graphFields: Field[];
  try {
    graphFields = readFields(buf, graphField.valueStart, graphField.end);
  } catch (e) {
    throw new OnnxFormatError(`not an ONNX model: graph is malformed (${(e as Error).message})`);
  }
  return { modelFields, graphField, graphFields };
}

export function inspectModel(buf: Uint8Array): ModelInfo {
  const { modelFields, graphFields } = parseTop(buf);
  try {
    const info: ModelInfo = {
      irVersion: only(modelFields, MODEL_IR_VERSION)!.varint!,
      opsets: [],
      graphName: '',
      inputs: [],
      outputs: [],
      valueInfo: [],
      nodes: [],
      initializers: [],
      externalDataFiles: [],
    };
    for (const f of modelFields) {
      if (f.no !== MODEL_OPSET_IMPORT) continue;
      const fs = readFields(buf, f.valueStart, f.end);
      const d = only(fs, OPSET_DOMAIN);
      info.opsets.push({ domain: d ? fieldString(buf, d) : '', version: only(fs, OPSET_VERSION)?.varint ?? 0 });
    }
    const external = new Set<string>();
    for (const f of graphFields) {
      switch (f.no) {
        case GRAPH_NAME:
          info.graphName = fieldString(buf, f);
          break;
        case GRAPH_INPUT:
          info.inputs.push(parseValueInfo(buf, f));
          break;
        case GRAPH_OUTPUT:
          info.outputs.push(parseValueInfo(buf, f));
          break;
        case GRAPH_VALUE_INFO:
          info.valueInfo.push(parseValueInfo(buf, f));
          break;
        case GRAPH_INITIALIZER: {
          const fs = readFields(buf, f.valueStart, f.end);
          const n = only(fs, TP_NAME);
          info.initializers.push(n ? fieldString(buf, n) : '');
          if (only(fs, TP_DATA_LOCATION)?.varint === 1) {
            for (const e of fs) {
              if (e.no !== TP_EXTERNAL_DATA) continue;
              const kv = readFields(buf, e.valueStart, e.end);
              const k = only(kv, SSE_KEY);
              const v = only(kv, SSE_VALUE);
              if (k && v && fieldString(buf, k) === 'location') external.add(fieldString(buf, v));
            }
          }
          break;
        }
        case GRAPH_NODE: {
          const fs = readFields(buf, f.valueStart, f.end);
          const node: NodeInfo = { name: '', opType: '', domain: '', inputs: [], outputs: [] };
          for (const nf of fs) {
            if (nf.no === NODE_INPUT) node.inputs.push(fieldString(buf, nf));
            else if (nf.no === NODE_OUTPUT) node.outputs.push(fieldString(buf, nf));
            else if (nf.no === NODE_NAME) node.name = fieldString(buf, nf);
            else if (nf.no === NODE_OP_TYPE) node.opType = fieldString(buf, nf);
            else if (nf.no === NODE_DOMAIN) node.domain = fieldString(buf, nf);
          }
          info.nodes.push(node);
          break;
        }
      }
    }
    // Old IR versions list initializers among the inputs: those are not inputs to feed.
    const inits = new Set(info.initializers);
    info.inputs = info.inputs.filter((i) => !inits.has(i.name));
    info.externalDataFiles = [...external];
    return info;
  } catch (e) {
    if (e instanceof ProtoError) throw new OnnxFormatError(`not an ONNX model: ${e.message}`);
    throw e;
  }
}

/** All tensor names produced inside the graph (node outputs), in topological order of the file. */
export function producedTensors(info: ModelInfo): Map<string, NodeInfo> {
  const m = new Map<string, NodeInfo>();
  for (const n of info.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/** The model with its graph message replaced by `newGraphPayload` (every other field kept as bytes). */
export function rebuildModel(buf: Uint8Array, p: ParsedModel, newGraphPayload: Uint8Array): Uint8Array {
  const before = buf.subarray(0, p.graphField.start);
  const after = buf.subarray(p.graphField.end);
  const graphTag = encodeVarint(MODEL_GRAPH * 8 + WIRE_LEN);
  return concat([before, graphTag, encodeVarint(newGraphPayload.length), newGraphPayload, after]);
}

/**
 * Returns a copy of the model whose graph also outputs `names` (those that are not outputs yet).
 * Only the name is given: ORT infers type and shape.
 */
export function exposeTensors(buf: Uint8Array, names: string[]): Uint8Array {
  const p = parseTop(buf);
  const existing = new Set<string>();
  for (const f of p.graphFields) {
    if (f.no !== GRAPH_OUTPUT) continue;
    const n = only(readFields(buf, f.valueStart, f.end), VI_NAME);
    if (n) existing.add(fieldString(buf, n));
  }
  const extra: Uint8Array[] = [];
  for (const name of names) {
    if (existing.has(name)) continue;
    existing.add(name);
    extra.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, name)));
  }
  if (extra.length === 0) return buf;
  const graphPayload = concat([buf.subarray(p.graphField.valueStart, p.graphField.end), ...extra]);
  return rebuildModel(buf, p, graphPayload);
}

export const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan', 'SequenceMap']);

/**
 * Returns a copy of the model that computes only `names`: its graph outputs become exactly those
 * tensors, and nodes and initializers they do not depend on are dropped (a language model's
 * vocabulary head, say, when only MLP activations are wanted). Graph inputs are kept. Models with
 * control-flow nodes (whose subgraphs may read outer tensors implicitly) are only exposed, not pruned.
 */
export function pruneToTensors(buf: Uint8Array, names: string[]): Uint8Array {
  const p = parseTop(buf);
  const nodes: { f: Field; inputs: string[]; outputs: string[]; op: string }[] = [];
  for (const f of p.graphFields) {
    if (f.no !== GRAPH_NODE) continue;
    const n = { f, inputs: [] as string[], outputs: [] as string[], op: '' };
    for (const nf of readFields(buf, f.valueStart, f.end)) {
      if (nf.no === NODE_INPUT) n.inputs.push(fieldString(buf, nf));
      else if (nf.no === NODE_OUTPUT) n.outputs.push(fieldString(buf, nf));
      else if (nf.no === NODE_OP_TYPE) n.op = fieldString(buf, nf);
    }
    nodes.push(n);
  }
  if (nodes.some((n) => CONTROL_FLOW.has(n.op))) {
    return exposeTensors(buf, names);
  }
  // Walk back from the wanted tensors (ONNX files list nodes in topological order).
  const needed = new Set(names);
  const keep = new Set<Field>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.add(n.f);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  const parts: Uint8Array[] = [];
  for (const f of p.graphFields) {
    if (f.no === GRAPH_NODE && !keep.has(f)) continue;
    if (f.no === GRAPH_OUTPUT) continue;
    if (f.no === GRAPH_INITIALIZER) {
      const nameF = only(readFields(buf, f.valueStart, f.end), TP_NAME);
      if (nameF && !needed.has(fieldString(buf, nameF))) continue;
    }
    parts.push(buf.subarray(f.start, f.end));
  }
  for (const name of names) parts.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, name)));
  return rebuildModel(buf, p, concat(parts));
}
