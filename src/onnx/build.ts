/**
 * A small hand-written ONNX graph builder on top of the protobuf writer in `proto.ts`: initializers
 * (raw_data + dims), nodes with attributes, graph inputs/outputs with element type and shape
 * (dim_value / dim_param), opset imports and ir_version. `build()` returns the ModelProto bytes.
 *
 * Large initializers are never copied while the message tree is assembled: every message is kept as a
 * list of byte chunks (a rope) with its length known, and `build()` writes all chunks into one buffer.
 * So a model with hundreds of MB of weights costs one extra copy of the weights, not one per nesting level;
 * `lazyInitializer` goes further and lets the caller compute the weights straight into the model buffer,
 * and `externalInitializer` leaves them out of the model (ONNX external data; protobuf caps a model at 2 GiB).
 *
 *   const g = new OnnxGraphBuilder({ opset: 17 });
 *   g.input('x', 'float32', ['N', 3]);
 *   g.float32('w', [3, 2], Float32Array.from([...]));
 *   const y = g.op('MatMul', ['x', 'w']);
 *   g.node('ReduceMax', [y], ['m'], { axes: ints([1]), keepdims: int(0) });
 *   g.output('m', 'float32', ['N']);
 *   const bytes = g.build();
 */
import os from 'node:os';
import { concat, encodeSignedVarint, encodeVarint, floatField, lenField, packedVarints, stringField, varintField, WIRE_LEN } from './proto.ts';
import {
  ATTR_F,
  ATTR_FLOATS,
  ATTR_I,
  ATTR_INTS,
  ATTR_NAME,
  ATTR_S,
  ATTR_T,
  ATTR_TYPE,
  ATTR_TYPE_FLOAT,
  ATTR_TYPE_FLOATS,
  ATTR_TYPE_INT,
  ATTR_TYPE_INTS,
  ATTR_TYPE_STRING,
  ATTR_TYPE_TENSOR,
  DIM_PARAM,
  DIM_VALUE,
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NAME,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  MODEL_DOC_STRING,
  MODEL_GRAPH,
  MODEL_IR_VERSION,
  MODEL_OPSET_IMPORT,
  MODEL_PRODUCER_NAME,
  MODEL_PRODUCER_VERSION,
  NODE_ATTRIBUTE,
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
  TP_DATA_TYPE,
  TP_DIMS,
  TP_EXTERNAL_DATA,
  TP_LOCATION_EXTERNAL,
  TP_NAME,
  TP_RAW_DATA,
  TYPE_TENSOR,
  VI_NAME,
  VI_TYPE,
} from './fields.ts';

export { ELEM_TYPE, type ElemTypeName } from './fields.ts';
import { ELEM_TYPE, type ElemTypeName } from './fields.ts';

/** A dimension of a declared shape: a fixed size (dim_value) or a symbolic name (dim_param). */
export type ShapeDim = number | string;


/** Default ModelProto.ir_version: 8 (ONNX 1.13 era) pairs with opset 17; onnxruntime-node 1.30 reads newer ones too. */
export const DEFAULT_IR_VERSION = 8;
export const DEFAULT_OPSET = 17;

// ---------------------------------------------------------------- ropes

/** Bytes written by a callback when the model is assembled (see {@link OnnxGraphBuilder.lazyInitializer}). */
interface LazyPart {
  length: number;
  fill: (dst: Uint8Array) => void;
}
type Part = Uint8Array | LazyPart;

/** A message under construction: byte chunks (or lazily filled ranges) in order and their total length. */
class Rope {
  readonly parts: Part[] = [];
  length = 0;
  push(...xs: (Part | Rope)[]): this {
    for (const x of xs) {
      if (x instanceof Rope) {
        for (const p of x.parts) this.parts.push(p);
        this.length += x.length;
      } else if (x.length > 0) {
        this.parts.push(x);
        this.length += x.length;
      }
    }
    return this;
  }
}

/** Writes the parts into one new buffer (lazy parts fill their own range). */
function assemble(r: Rope): Uint8Array {
  const out = new Uint8Array(r.length);
  let o = 0;
  for (const p of r.parts) {
    if (p instanceof Uint8Array) out.set(p, o);
    else p.fill(out.subarray(o, o + p.length));
    o += p.length;
  }
  return out;
}

/** A LEN field whose payload is a rope (the payload chunks are not copied). */
function lenRope(no: number, payload: Rope | Part): Rope {
  const r = new Rope();
  r.push(encodeVarint(no * 8 + WIRE_LEN), encodeVarint(payload.length));
  return r.push(payload);
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** The bytes of a typed array in little-endian order (a view when the host is little-endian). */
function leBytes(a: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array): Uint8Array {
  if (LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  const n = a.length;
  for (let i = 0; i < n; i++) {
    if (a instanceof Float32Array) dv.setFloat32(i * 4, a[i], true);
    else if (a instanceof Float64Array) dv.setFloat64(i * 8, a[i], true);
    else if (a instanceof Int32Array) dv.setInt32(i * 4, a[i], true);
    else if (a instanceof BigInt64Array) dv.setBigInt64(i * 8, a[i], true);
    else if (a instanceof Int16Array) dv.setInt16(i * 2, a[i], true);
    else dv.setUint16(i * 2, (a as Uint16Array)[i], true);
  }
  return out;
}

// ---------------------------------------------------------------- tensors

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array;

export interface TensorSpec {
  elemType: ElemTypeName;
  dims: number[];
  /** Element values, row-major; its typed-array type must match elemType (bool and uint8: Uint8Array; float16: Uint16Array bits). */
  data: TensorData;
}

const ARRAY_FOR: Record<ElemTypeName, { name: string }> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  float16: Uint16Array,
};

function checkDims(dims: number[], what: string): void {
  for (const d of dims) if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: bad dimension ${d} in [${dims.join(', ')}]`);
}

/** A TensorProto (name, dims, data_type, raw_data) as a rope; the data bytes are a view, not a copy. */
function tensorProto(name: string, t: TensorSpec): Rope {
  const type = ELEM_TYPE[t.elemType];
  if (type === undefined) throw new Error(`tensor '${name}': unsupported element type '${String(t.elemType)}'`);
  checkDims(t.dims, `tensor '${name}'`);
  const expected = t.dims.reduce((a, b) => a * b, 1);
  const ctor = ARRAY_FOR[t.elemType] as unknown as abstract new (...args: never[]) => unknown;
  if (!(t.data instanceof ctor)) {
    throw new Error(`tensor '${name}': ${t.elemType} data must be a ${ARRAY_FOR[t.elemType].name} (got ${t.data.constructor.name})`);
  }
  if (t.data.length !== expected) throw new Error(`tensor '${name}': ${t.data.length} values for dims [${t.dims.join(', ')}] (${expected})`);
  const r = new Rope();
  if (t.dims.length > 0) r.push(packedVarints(TP_DIMS, t.dims));
  r.push(varintField(TP_DATA_TYPE, type), stringField(TP_NAME, name));
  r.push(lenRope(TP_RAW_DATA, leBytes(t.data)));
  return r;
}

// ---------------------------------------------------------------- attributes

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'tensor'; value: TensorSpec };

export const int = (value: number): AttrValue => ({ kind: 'int', value });
export const float = (value: number): AttrValue => ({ kind: 'float', value });
export const str = (value: string): AttrValue => ({ kind: 'string', value });
export const ints = (value: number[]): AttrValue => ({ kind: 'ints', value });
export const floats = (value: number[]): AttrValue => ({ kind: 'floats', value });
export const tensorAttr = (value: TensorSpec): AttrValue => ({ kind: 'tensor', value });

function attributeProto(name: string, a: AttrValue): Rope {
  const r = new Rope();
  r.push(stringField(ATTR_NAME, name));
  switch (a.kind) {
    case 'int':
      if (!Number.isSafeInteger(a.value)) throw new Error(`attribute '${name}': ${a.value} is not an integer`);
      r.push(varintField(ATTR_I, a.value), varintField(ATTR_TYPE, ATTR_TYPE_INT));
      break;
    case 'float':
      r.push(floatField(ATTR_F, a.value), varintField(ATTR_TYPE, ATTR_TYPE_FLOAT));
      break;
    case 'string':
      r.push(stringField(ATTR_S, a.value), varintField(ATTR_TYPE, ATTR_TYPE_STRING));
      break;
    case 'ints':
      for (const v of a.value) if (!Number.isSafeInteger(v)) throw new Error(`attribute '${name}': ${v} is not an integer`);
      if (a.value.length > 0) r.push(packedVarints(ATTR_INTS, a.value));
      r.push(varintField(ATTR_TYPE, ATTR_TYPE_INTS));
      break;
    case 'floats': {
      const f = Float32Array.from(a.value);
      if (f.length > 0) r.push(lenRope(ATTR_FLOATS, leBytes(f)));
      r.push(varintField(ATTR_TYPE, ATTR_TYPE_FLOATS));
      break;
    }
    case 'tensor':
      r.push(lenRope(ATTR_T, tensorProto('', a.value)), varintField(ATTR_TYPE, ATTR_TYPE_TENSOR));
      break;
    default:
      throw new Error(`attribute '${name}': unknown kind ${String((a as { kind: unknown }).kind)}`);
  }
  return r;
}

/** An AttributeProto as bytes (for edits that splice nodes into an existing graph). */
export function attributeBytes(name: string, a: AttrValue): Uint8Array {
  return assemble(attributeProto(name, a));
}

/** A NodeProto, wrapped as a graph's node field (for edits that splice nodes into an existing graph). */
export function nodeBytes(inputs: string[], outputs: string[], name: string, op: string, attrs: Record<string, AttrValue> = {}): Uint8Array {
  return lenField(
    GRAPH_NODE,
    concat([
      ...inputs.map((i) => stringField(NODE_INPUT, i)),
      ...outputs.map((o) => stringField(NODE_OUTPUT, o)),
      stringField(NODE_NAME, name),
      stringField(NODE_OP_TYPE, op),
      ...Object.entries(attrs).map(([k, v]) => lenField(NODE_ATTRIBUTE, attributeBytes(k, v))),
    ]),
  );
}

// ---------------------------------------------------------------- value infos

/** A ValueInfoProto (name, optional tensor type and shape) as bytes. */
export function valueInfo(name: string, elemType: ElemTypeName | null, shape: ShapeDim[] | null): Uint8Array {
  const parts: Uint8Array[] = [stringField(VI_NAME, name)];
  if (elemType !== null) {
    const tensor: Uint8Array[] = [varintField(TENSOR_ELEM_TYPE, ELEM_TYPE[elemType])];
    if (shape !== null) {
      const dims = shape.map((d) => {
        if (typeof d === 'number') {
          if (!Number.isInteger(d) || d < 0) throw new Error(`value '${name}': bad dimension ${d}`);
          return lenRope(SHAPE_DIM, concat([encodeVarint(DIM_VALUE * 8), encodeSignedVarint(d)]));
        }
        return lenRope(SHAPE_DIM, stringField(DIM_PARAM, d));
      });
      const shapeRope = new Rope().push(...dims);
      tensor.push(flatten(lenRope(TENSOR_SHAPE, shapeRope)));
    }
    const typeProto = flatten(lenRope(TYPE_TENSOR, concat(tensor)));
    parts.push(flatten(lenRope(VI_TYPE, typeProto)));
  }
  return concat(parts);
}

function flatten(r: Rope): Uint8Array {
  return assemble(r);
}

// ---------------------------------------------------------------- the builder

export interface BuilderOptions {
  /** Graph name. Default 'graph'. */
  name?: string;
  /** Default-domain opset version. Default {@link DEFAULT_OPSET}. */
  opset?: number;
  /** ModelProto.ir_version. Default {@link DEFAULT_IR_VERSION}. */
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

export interface NodeOptions {
  name?: string;
  /** Operator domain ('' = the default ONNX domain). Non-default domains need {@link OnnxGraphBuilder.opsetImport}. */
  domain?: string;
}

export class OnnxGraphBuilder {
  private readonly opts: Required<Omit<BuilderOptions, 'docString'>> & { docString?: string };
  private readonly opsets = new Map<string, number>();
  private readonly nodes: Rope[] = [];
  private readonly initializers: Rope[] = [];
  private readonly inputs: Uint8Array[] = [];
  private readonly outputs: Uint8Array[] = [];
  /** Every tensor name defined so far (inputs, initializers, node outputs). */
  private readonly defined = new Set<string>();
  private readonly declaredOutputs = new Set<string>();
  private counter = 0;
  private nodeCount = 0;

  constructor(opts: BuilderOptions = {}) {
    this.opts = {
      name: opts.name ?? 'graph',
      opset: opts.opset ?? DEFAULT_OPSET,
      irVersion: opts.irVersion ?? DEFAULT_IR_VERSION,
      producerName: opts.producerName ?? 'toposcope',
      producerVersion: opts.producerVersion ?? '',
      docString: opts.docString,
    };
    this.opsets.set('', this.opts.opset);
  }

  /** Adds (or changes) an opset import, e.g. ('com.microsoft', 1). */
  opsetImport(domain: string, version: number): this {
    this.opsets.set(domain, version);
    return this;
  }

  /** A fresh tensor name with the given prefix (never one already defined). */
  fresh(prefix = 't'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.defined.has(name));
    return name;
  }

  private define(name: string, what: string): void {
    if (!name) throw new Error(`${what}: empty tensor name`);
    if (this.defined.has(name)) throw new Error(`${what}: tensor '${name}' is already defined`);
    this.defined.add(name);
  }

  /** Declares a graph input. */
  input(name: string, elemType: ElemTypeName, shape: ShapeDim[] | null): string {
    this.define(name, 'input');
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  /** Declares a graph output (type and shape may be left to ONNX Runtime's inference). */
  output(name: string, elemType: ElemTypeName | null = null, shape: ShapeDim[] | null = null): string {
    if (this.declaredOutputs.has(name)) throw new Error(`output: '${name}' is already an output`);
    this.declaredOutputs.add(name);
    this.outputs.push(valueInfo(name, elemType, elemType === null ? null : shape));
    return name;
  }

  /** Adds an initializer (constant tensor stored as raw_data). The data is not copied until build(). */
  initializer(name: string, t: TensorSpec): string {
    const proto = tensorProto(name, t); // validates before the name is taken
    this.define(name, 'initializer');
    this.initializers.push(proto);
    return name;
  }

  /**
   * Adds an initializer whose raw bytes are written by `fill` during build(), straight into the model
   * buffer: for large constants that would otherwise exist twice (once as a typed array, once in the
   * model). `fill` receives a view of exactly dims-product × element-size bytes (little-endian values;
   * the view may not be aligned for a typed array of the element type: write rows through an aligned
   * scratch array, or a DataView). It is called once per build(), in the order of the initializers.
   */
  lazyInitializer(name: string, elemType: 'float32' | 'float64' | 'int32' | 'int64' | 'uint8', dims: number[], fill: (dst: Uint8Array) => void): string {
    checkDims(dims, `tensor '${name}'`);
    this.define(name, 'initializer');
    const size = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1 }[elemType];
    const length = dims.reduce((a, b) => a * b, 1) * size;
    const r = new Rope();
    if (dims.length > 0) r.push(packedVarints(TP_DIMS, dims));
    r.push(varintField(TP_DATA_TYPE, ELEM_TYPE[elemType]), stringField(TP_NAME, name));
    r.push(lenRope(TP_RAW_DATA, { length, fill }));
    this.initializers.push(r);
    return name;
  }

  /**
   * Adds an initializer whose data lives outside the model (ONNX external data): `location` names the
   * data file (relative to the model's folder, or the `path` of an in-memory file given to ONNX Runtime's
   * `externalData` session option), `offset` and `length` are in bytes. Data is little-endian, row-major.
   */
  externalInitializer(name: string, elemType: ElemTypeName, dims: number[], ext: { location: string; offset: number; length?: number }): string {
    checkDims(dims, `tensor '${name}'`);
    const type = ELEM_TYPE[elemType];
    if (type === undefined) throw new Error(`tensor '${name}': unsupported element type '${String(elemType)}'`);
    if (!Number.isSafeInteger(ext.offset) || ext.offset < 0) throw new Error(`tensor '${name}': bad external data offset ${ext.offset}`);
    this.define(name, 'initializer');
    const entry = (k: string, v: string) => lenRope(TP_EXTERNAL_DATA, concat([stringField(SSE_KEY, k), stringField(SSE_VALUE, v)]));
    const r = new Rope();
    if (dims.length > 0) r.push(packedVarints(TP_DIMS, dims));
    r.push(varintField(TP_DATA_TYPE, type), stringField(TP_NAME, name));
    r.push(entry('location', ext.location), entry('offset', String(ext.offset)));
    if (ext.length !== undefined) r.push(entry('length', String(ext.length)));
    r.push(varintField(TP_DATA_LOCATION, TP_LOCATION_EXTERNAL));
    this.initializers.push(r);
    return name;
  }

  float32(name: string, dims: number[], data: Float32Array | ArrayLike<number>): string {
    return this.initializer(name, { elemType: 'float32', dims, data: data instanceof Float32Array ? data : Float32Array.from(data) });
  }

  int64(name: string, dims: number[], data: BigInt64Array | ArrayLike<number>): string {
    const d = data instanceof BigInt64Array ? data : BigInt64Array.from(Array.from(data as ArrayLike<number>, (v) => BigInt(v)));
    return this.initializer(name, { elemType: 'int64', dims, data: d });
  }

  /** A float32 scalar (rank 0) initializer with a fresh name. */
  scalar(value: number, prefix = 'c'): string {
    return this.float32(this.fresh(prefix), [], [value]);
  }

  /** Adds a node. Outputs must be new names. Returns the outputs. */
  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): string[] {
    if (!opType) throw new Error('node: empty op type');
    const domain = opts.domain ?? '';
    if (!this.opsets.has(domain)) throw new Error(`node ${opType}: domain '${domain}' has no opset import`);
    const name = opts.name ?? `${opType}_${this.nodeCount}`;
    this.nodeCount++;
    for (const i of inputs) if (i !== '' && !this.defined.has(i)) throw new Error(`node ${name} (${opType}): input '${i}' is not defined yet`);
    for (const o of outputs) this.define(o, `node ${name} (${opType})`);
    const r = new Rope();
    for (const i of inputs) r.push(stringField(NODE_INPUT, i));
    for (const o of outputs) r.push(stringField(NODE_OUTPUT, o));
    r.push(stringField(NODE_NAME, name), stringField(NODE_OP_TYPE, opType));
    for (const [k, v] of Object.entries(attrs)) r.push(lenRope(NODE_ATTRIBUTE, attributeProto(k, v)));
    if (domain !== '') r.push(stringField(NODE_DOMAIN, domain));
    this.nodes.push(r);
    return outputs;
  }

  /** A one-output node with a fresh output name; returns that name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions & { out?: string } = {}): string {
    const out = opts.out ?? this.fresh(opType.toLowerCase());
    this.node(opType, inputs, [out], attrs, opts);
    return out;
  }

  /** Serialized ModelProto. */
  build(): Uint8Array {
    for (const o of this.declaredOutputs) if (!this.defined.has(o)) throw new Error(`build: output '${o}' is never produced`);
    const graph = new Rope();
    for (const n of this.nodes) graph.push(lenRope(GRAPH_NODE, n));
    graph.push(stringField(GRAPH_NAME, this.opts.name));
    for (const t of this.initializers) graph.push(lenRope(GRAPH_INITIALIZER, t));
    for (const i of this.inputs) graph.push(lenRope(GRAPH_INPUT, i));
    for (const o of this.outputs) graph.push(lenRope(GRAPH_OUTPUT, o));

    const model = new Rope();
    model.push(varintField(MODEL_IR_VERSION, this.opts.irVersion));
    if (this.opts.producerName) model.push(stringField(MODEL_PRODUCER_NAME, this.opts.producerName));
    if (this.opts.producerVersion) model.push(stringField(MODEL_PRODUCER_VERSION, this.opts.producerVersion));
    if (this.opts.docString) model.push(stringField(MODEL_DOC_STRING, this.opts.docString));
    model.push(lenRope(MODEL_GRAPH, graph));
    for (const [domain, version] of this.opsets) {
      const payload = concat([domain ? stringField(OPSET_DOMAIN, domain) : new Uint8Array(0), varintField(OPSET_VERSION, version)]);
      model.push(lenRope(MODEL_OPSET_IMPORT, payload));
    }
    if (model.length > 2 ** 31 - 1) throw new Error(`build: the model would be ${model.length} bytes; protobuf messages are limited to 2 GiB`);
    return assemble(model);
  }
}
