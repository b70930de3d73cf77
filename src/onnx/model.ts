/**
 * Reading and editing ONNX models at the protobuf level.
 *
 * - `inspectModel` lists graph inputs/outputs (with declared shapes), nodes (op type, outputs) and
 *   initializers, and tells whether weights live in external data files.
 * - `exposeTensors` adds intermediate tensors to `graph.output` (type and shape left for ORT to
 *   infer) so that a session returns them.
 * Weights are never decoded: edits splice new fields into the original bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type Field,
  ProtoError,
  concat,
  encodeVarint,
  fieldString,
  lenField,
  readFields,
  readVarint,
  stringField,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
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
  TP_LOCATION_EXTERNAL,
  TP_NAME,
  TP_RAW_DATA,
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

/** The name of a ValueInfoProto field (a graph input or output), '' when it has none. */
export function valueInfoName(buf: Uint8Array, f: Field): string {
  const n = only(readFields(buf, f.valueStart, f.end), VI_NAME);
  return n ? fieldString(buf, n) : '';
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

/** The model's opset imports (domain '' is the default ONNX domain). */
export function opsetsOf(buf: Uint8Array, modelFields: Field[]): { domain: string; version: number }[] {
  const out: { domain: string; version: number }[] = [];
  for (const f of modelFields) {
    if (f.no !== MODEL_OPSET_IMPORT) continue;
    const fs = readFields(buf, f.valueStart, f.end);
    const d = only(fs, OPSET_DOMAIN);
    out.push({ domain: d ? fieldString(buf, d) : '', version: only(fs, OPSET_VERSION)?.varint ?? 0 });
  }
  return out;
}

/** The version of the ONNX default domain among a model's opset imports (0 when it imports none). */
export function defaultDomainOpset(opsets: { domain: string; version: number }[]): number {
  return opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
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
    info.opsets = opsetsOf(buf, modelFields);
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
  for (const f of p.graphFields) if (f.no === GRAPH_OUTPUT) existing.add(valueInfoName(buf, f));
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

// ---------------------------------------------------------------------------------------------
// Files: the same reading and editing, streamed. Only the graph's structure (nodes, inputs,
// outputs, initializer names) is read into memory; weights are skipped by offset when parsing and
// copied in chunks when writing, so a large model is never held whole (or twice) in memory.

/** Positional reads of a file through a small window (varints and small messages are read piecewise). */
class FileBytes {
  private win: Uint8Array = new Uint8Array(0);
  private winStart = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly windowBytes = 1 << 16,
  ) {}

  /** Bytes [start, end) (a view into the window when they fit in it, else a fresh buffer). */
  read(start: number, end: number): Uint8Array {
    if (start < 0 || end > this.size || start > end) throw new ProtoError(`read [${start}, ${end}) beyond the file's ${this.size} bytes`);
    if (start >= this.winStart && end <= this.winStart + this.win.length) return this.win.subarray(start - this.winStart, end - this.winStart);
    const n = end - start;
    if (n > this.windowBytes) {
      const out = new Uint8Array(n);
      readFully(this.fd, out, start);
      return out;
    }
    const len = Math.min(this.windowBytes, this.size - start);
    const win = new Uint8Array(len);
    readFully(this.fd, win, start);
    this.win = win;
    this.winStart = start;
    return win.subarray(0, n);
  }

  /** One field header at `pos` (tag and, for LEN fields, the length), without reading its payload. */
  field(pos: number, end: number): Field {
    const head = this.read(pos, Math.min(end, pos + 20));
    const [tag, p1] = readVarint(head, 0);
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (no === 0) throw new ProtoError(`invalid field number 0 at byte ${pos}`);
    switch (wire) {
      case WIRE_VARINT: {
        const [v, p2] = readVarint(head, p1);
        return { no, wire, start: pos, valueStart: pos + p1, end: pos + p2, varint: v };
      }
      case WIRE_I64:
        return { no, wire, start: pos, valueStart: pos + p1, end: pos + p1 + 8 };
      case WIRE_I32:
        return { no, wire, start: pos, valueStart: pos + p1, end: pos + p1 + 4 };
      case WIRE_LEN: {
        const [len, p2] = readVarint(head, p1);
        if (pos + p2 + len > end) throw new ProtoError(`field ${no} at byte ${pos} runs past the end of its message`);
        return { no, wire, start: pos, valueStart: pos + p2, end: pos + p2 + len };
      }
      default:
        throw new ProtoError(`unsupported wire type ${wire} at byte ${pos}`);
    }
  }

  /** The fields of the message [start, end), payloads unread. */
  fields(start: number, end: number): Field[] {
    const out: Field[] = [];
    let pos = start;
    while (pos < end) {
      const f = this.field(pos, end);
      if (f.end > end) throw new ProtoError('message ends inside a field');
      out.push(f);
      pos = f.end;
    }
    return out;
  }

  /** A small field as its own buffer (tag included) and the same field located in it. */
  local(f: Field): { buf: Uint8Array; f: Field } {
    const buf = this.read(f.start, f.end).slice();
    const d = f.start;
    return { buf, f: { ...f, start: 0, valueStart: f.valueStart - d, end: f.end - d } };
  }
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  let off = 0;
  while (off < into.length) {
    const n = fs.readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new ProtoError('unexpected end of file');
    off += n;
  }
}

/** Graph fields larger than this are never read while parsing (initializer payloads). */
const SMALL_FIELD = 1 << 16;

interface FileGraph {
  size: number;
  modelFields: Field[];
  graphField: Field;
  graphFields: Field[];
  nodes: { f: Field; name: string; inputs: string[]; outputs: string[]; op: string; domain: string }[];
  /** Initializer field → name, data location (1 = external) and external file. */
  initializers: Map<Field, { name: string | null; external: string[] }>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  graphName: string;
  irVersion: number;
  opsets: { domain: string; version: number }[];
}

function parseFile(src: FileBytes): FileGraph {
  let modelFields: Field[];
  try {
    modelFields = src.fields(0, src.size);
  } catch (e) {
    throw new OnnxFormatError(`not an ONNX model: ${(e as Error).message}`);
  }
  const graphField = only(modelFields, MODEL_GRAPH);
  if (!graphField || graphField.wire !== WIRE_LEN) throw new OnnxFormatError('not an ONNX model: no graph in the file');
  const irField = only(modelFields, MODEL_IR_VERSION);
  if (irField?.varint === undefined) throw new OnnxFormatError('not an ONNX model: no ir_version');
  let graphFields: Field[];
  try {
    graphFields = src.fields(graphField.valueStart, graphField.end);
  } catch (e) {
    throw new OnnxFormatError(`not an ONNX model: graph is malformed (${(e as Error).message})`);
  }
  try {
    const g: FileGraph = {
      size: src.size,
      modelFields,
      graphField,
      graphFields,
      nodes: [],
      initializers: new Map(),
      inputs: [],
      outputs: [],
      valueInfo: [],
      graphName: '',
      irVersion: irField.varint,
      opsets: [],
    };
    for (const f of modelFields) {
      if (f.no !== MODEL_OPSET_IMPORT) continue;
      const { buf, f: lf } = src.local(f);
      const fs_ = readFields(buf, lf.valueStart, lf.end);
      const d = only(fs_, OPSET_DOMAIN);
      g.opsets.push({ domain: d ? fieldString(buf, d) : '', version: only(fs_, OPSET_VERSION)?.varint ?? 0 });
    }
    for (const f of graphFields) {
      switch (f.no) {
        case GRAPH_NAME: {
          const { buf, f: lf } = src.local(f);
          g.graphName = fieldString(buf, lf);
          break;
        }
        case GRAPH_INPUT:
        case GRAPH_OUTPUT:
        case GRAPH_VALUE_INFO: {
          const { buf, f: lf } = src.local(f);
          const vi = parseValueInfo(buf, lf);
          (f.no === GRAPH_INPUT ? g.inputs : f.no === GRAPH_OUTPUT ? g.outputs : g.valueInfo).push(vi);
          break;
        }
        case GRAPH_NODE: {
          const { buf, f: lf } = src.local(f);
          const node = { f, name: '', inputs: [] as string[], outputs: [] as string[], op: '', domain: '' };
          for (const nf of readFields(buf, lf.valueStart, lf.end)) {
            if (nf.no === NODE_INPUT) node.inputs.push(fieldString(buf, nf));
            else if (nf.no === NODE_OUTPUT) node.outputs.push(fieldString(buf, nf));
            else if (nf.no === NODE_NAME) node.name = fieldString(buf, nf);
            else if (nf.no === NODE_OP_TYPE) node.op = fieldString(buf, nf);
            else if (nf.no === NODE_DOMAIN) node.domain = fieldString(buf, nf);
          }
          g.nodes.push(node);
          break;
        }
        case GRAPH_INITIALIZER: {
          let name: string | null = null;
          let location = 0;
          const external: string[] = [];
          for (const tf of src.fields(f.valueStart, f.end)) {
            if (tf.no === TP_NAME && tf.wire === WIRE_LEN) {
              const { buf, f: lf } = src.local(tf);
              name = fieldString(buf, lf);
            } else if (tf.no === TP_DATA_LOCATION && tf.varint !== undefined) location = tf.varint;
            else if (tf.no === TP_EXTERNAL_DATA && tf.wire === WIRE_LEN && tf.end - tf.start <= SMALL_FIELD) {
              const { buf, f: lf } = src.local(tf);
              const kv = readFields(buf, lf.valueStart, lf.end);
              const k = only(kv, SSE_KEY);
              const v = only(kv, SSE_VALUE);
              if (k && v && fieldString(buf, k) === 'location') external.push(fieldString(buf, v));
            }
          }
          g.initializers.set(f, { name, external: location === 1 ? external : [] });
          break;
        }
      }
    }
    return g;
  } catch (e) {
    if (e instanceof ProtoError) throw new OnnxFormatError(`not an ONNX model: ${e.message}`);
    throw e;
  }
}

function withFile<T>(file: string, fn: (src: FileBytes) => T): T {
  const fd = fs.openSync(file, 'r');
  try {
    return fn(new FileBytes(fd, fs.fstatSync(fd).size));
  } finally {
    fs.closeSync(fd);
  }
}

function infoOf(g: FileGraph): ModelInfo {
  const inits = [...g.initializers.values()];
  const names = new Set(inits.map((i) => i.name ?? ''));
  return {
    irVersion: g.irVersion,
    opsets: g.opsets,
    graphName: g.graphName,
    inputs: g.inputs.filter((i) => !names.has(i.name)),
    outputs: g.outputs,
    valueInfo: g.valueInfo,
    nodes: g.nodes.map((n) => ({ name: n.name, opType: n.op, domain: n.domain, inputs: n.inputs, outputs: n.outputs })),
    initializers: inits.map((i) => i.name ?? ''),
    externalDataFiles: [...new Set(inits.flatMap((i) => i.external))],
  };
}

/** `inspectModel` of a file, reading only the graph's structure (weights are skipped). */
export function inspectModelFile(file: string): ModelInfo {
  return withFile(file, (src) => infoOf(parseFile(src)));
}

/** What the edited file is made of: byte ranges of the source, and new bytes. */
type Piece = { from: number; to: number } | Uint8Array;

const CHUNK = 4 << 20;

/** Writes the model with a new graph made of `graphPieces`, the rest copied; chunked, off the main thread (libuv). */
async function writeEdited(srcFile: string, g: FileGraph, graphPieces: Piece[], dstFile: string, data?: { file: string; ranges: { from: number; to: number; at: number }[] }): Promise<void> {
  const len = (p: Piece) => (p instanceof Uint8Array ? p.length : p.to - p.from);
  const graphLen = graphPieces.reduce((s, p) => s + len(p), 0);
  const pieces: Piece[] = [
    { from: 0, to: g.graphField.start },
    encodeVarint(MODEL_GRAPH * 8 + WIRE_LEN),
    encodeVarint(graphLen),
    ...graphPieces,
    { from: g.graphField.end, to: g.size },
  ];
  const src = await fs.promises.open(srcFile, 'r');
  const outs: { tmp: string; final: string }[] = [{ tmp: `${dstFile}.${process.pid}.tmp`, final: dstFile }];
  if (data) outs.push({ tmp: `${data.file}.${process.pid}.tmp`, final: data.file });
  const handles: fs.promises.FileHandle[] = [];
  try {
    for (const o of outs) handles.push(await fs.promises.open(o.tmp, 'w'));
    const buf = Buffer.allocUnsafe(CHUNK);
    const copy = async (dst: fs.promises.FileHandle, from: number, to: number, at?: number) => {
      for (let pos = from; pos < to; ) {
        const n = Math.min(CHUNK, to - pos);
        const { bytesRead } = await src.read(buf, 0, n, pos);
        if (bytesRead === 0) throw new OnnxFormatError('the model file ended while it was being copied');
        if (at === undefined) await dst.write(buf.subarray(0, bytesRead));
        else await dst.write(buf.subarray(0, bytesRead), 0, bytesRead, at + (pos - from));
        pos += bytesRead;
      }
    };
    // Coalesce adjacent source ranges into one copy.
    const merged: Piece[] = [];
    for (const p of pieces) {
      const last = merged[merged.length - 1];
      if (!(p instanceof Uint8Array) && last && !(last instanceof Uint8Array) && last.to === p.from) last.to = p.to;
      else merged.push(p instanceof Uint8Array ? p : { ...p });
    }
    for (const p of merged) {
      if (p instanceof Uint8Array) await handles[0].write(p);
      else await copy(handles[0], p.from, p.to);
    }
    if (data) {
      for (const r of data.ranges) await copy(handles[1], r.from, r.to, r.at);
      const end = data.ranges.reduce((m, r) => Math.max(m, r.at + (r.to - r.from)), 0);
      await handles[1].truncate(end);
    }
    for (const h of handles.splice(0)) await h.close();
    // The data file first: the model never names a data file that is not complete.
    for (const o of [...outs].reverse()) await fs.promises.rename(o.tmp, o.final);
  } catch (e) {
    for (const h of handles) await h.close().catch(() => undefined);
    for (const o of outs) await fs.promises.rm(o.tmp, { force: true });
    throw e;
  } finally {
    await src.close();
  }
}

/** Offsets of external data are multiples of this (ONNX Runtime maps aligned data instead of copying it). */
const EXTERNAL_ALIGN = 4096;
/** Initializers whose raw data is at least this big move to the external data file. */
const EXTERNAL_MIN_BYTES = 1024;

/**
 * The pieces of one initializer with its raw data moved to an external file: every field but
 * `raw_data` kept, then `external_data` (location, offset, length) and `data_location = EXTERNAL`.
 * Null when it stays as it is (small, not raw, or already external).
 */
function externalised(src: FileBytes, f: Field, location: string, at: number): { pieces: Uint8Array; raw: { from: number; to: number } } | null {
  const fields = src.fields(f.valueStart, f.end);
  const raw = only(fields, TP_RAW_DATA);
  if (!raw || raw.wire !== WIRE_LEN || raw.end - raw.valueStart < EXTERNAL_MIN_BYTES) return null;
  if (fields.some((x) => x.no === TP_DATA_LOCATION || x.no === TP_EXTERNAL_DATA)) return null;
  const kept: Uint8Array[] = [];
  for (const x of fields) {
    if (x.no === TP_RAW_DATA) continue;
    kept.push(src.read(x.start, x.end).slice());
  }
  const entry = (k: string, v: string) => lenField(TP_EXTERNAL_DATA, concat([stringField(SSE_KEY, k), stringField(SSE_VALUE, v)]));
  kept.push(entry('location', location), entry('offset', String(at)), entry('length', String(raw.end - raw.valueStart)));
  kept.push(concat([encodeVarint(TP_DATA_LOCATION * 8 + WIRE_VARINT), encodeVarint(TP_LOCATION_EXTERNAL)]));
  return { pieces: lenField(GRAPH_INITIALIZER, concat(kept)), raw: { from: raw.valueStart, to: raw.end } };
}

const range = (f: Field): Piece => ({ from: f.start, to: f.end });

/** `exposeTensors`, file to file, streamed (the source stays as it is; `dst` may not be `src`). */
export async function exposeTensorsFile(srcFile: string, dstFile: string, names: string[]): Promise<void> {
  const g = withFile(srcFile, parseFile);
  const existing = new Set(g.outputs.map((o) => o.name));
  const extra: Piece[] = [];
  for (const name of names) {
    if (existing.has(name)) continue;
    existing.add(name);
    extra.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, name)));
  }
  await writeEdited(srcFile, g, [{ from: g.graphField.valueStart, to: g.graphField.end }, ...extra], dstFile);
}

/**
 * `pruneToTensors`, file to file, streamed: same graph, same bytes as the in-memory version. With
 * `externalData` (a file name beside `dstFile`), the kept weights go to that file instead, at
 * page-aligned offsets: ONNX Runtime then maps them rather than reading the whole model into memory
 * (a session of a large model loads faster and peaks far lower).
 */
export async function pruneToTensorsFile(srcFile: string, dstFile: string, names: string[], opts: { externalData?: string } = {}): Promise<void> {
  const g = withFile(srcFile, parseFile);
  if (g.nodes.some((n) => CONTROL_FLOW.has(n.op))) return exposeTensorsFile(srcFile, dstFile, names);
  if (opts.externalData !== undefined && (opts.externalData.includes('/') || opts.externalData.includes('\\') || opts.externalData.startsWith('.'))) {
    throw new Error(`externalData must be a plain file name, got '${opts.externalData}'`);
  }
  const needed = new Set(names);
  const keep = new Set<Field>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.add(n.f);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  const pieces: Piece[] = [];
  for (const f of g.graphFields) {
    if (f.no === GRAPH_NODE && !keep.has(f)) continue;
    if (f.no === GRAPH_OUTPUT) continue;
    if (f.no === GRAPH_INITIALIZER) {
      const init = g.initializers.get(f);
      if (init && init.name !== null && !needed.has(init.name)) continue;
    }
    pieces.push(range(f));
  }
  for (const name of names) pieces.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, name)));
  if (opts.externalData === undefined) return writeEdited(srcFile, g, pieces, dstFile);
  const ranges: { from: number; to: number; at: number }[] = [];
  let at = 0;
  const byStart = new Map(g.graphFields.map((f) => [f.start, f]));
  const moved = withFile(srcFile, (src) =>
    pieces.map((p) => {
      if (p instanceof Uint8Array) return p;
      const f = byStart.get(p.from);
      if (!f || f.no !== GRAPH_INITIALIZER) return p;
      const e = externalised(src, f, opts.externalData!, at);
      if (!e) return p;
      ranges.push({ ...e.raw, at });
      at = Math.ceil((at + (e.raw.to - e.raw.from)) / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      return e.pieces;
    }),
  );
  await writeEdited(srcFile, g, moved, dstFile, { file: path.join(path.dirname(dstFile), opts.externalData), ranges });
}
