/**
 * A minimal protobuf wire-format reader/writer, enough to read and edit ONNX `ModelProto` files
 * without decoding (or copying) their weights: fields are kept as byte ranges into the original
 * buffer and only the messages that change are re-encoded.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface Field {
  /** Field number. */
  no: number;
  wire: number;
  /** Start of the whole field (tag included) in the buffer. */
  start: number;
  /** Start and end of the payload (for LEN fields: the bytes after the length prefix). */
  valueStart: number;
  end: number;
  /** Decoded value for VARINT fields (exact up to 2^53). */
  varint?: number;
}

export class ProtoError extends Error {}

export function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtoError('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [value, pos];
    mul *= 128;
  }
  throw new ProtoError('varint longer than 10 bytes');
}

/** Splits one message (buf[start, end)) into its fields, in order. */
export function readFields(buf: Uint8Array, start = 0, end = buf.length): Field[] {
  const fields: Field[] = [];
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, p1] = readVarint(buf, pos);
    pos = p1;
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (no === 0) throw new ProtoError(`invalid field number 0 at byte ${fieldStart}`);
    switch (wire) {
      case WIRE_VARINT: {
        const [v, p2] = readVarint(buf, pos);
        fields.push({ no, wire, start: fieldStart, valueStart: pos, end: p2, varint: v });
        pos = p2;
        break;
      }
      case WIRE_I64:
        fields.push({ no, wire, start: fieldStart, valueStart: pos, end: pos + 8 });
        pos += 8;
        break;
      case WIRE_I32:
        fields.push({ no, wire, start: fieldStart, valueStart: pos, end: pos + 4 });
        pos += 4;
        break;
      case WIRE_LEN: {
        const [len, p2] = readVarint(buf, pos);
        if (p2 + len > end) throw new ProtoError(`field ${no} at byte ${fieldStart} runs past the end of its message`);
        fields.push({ no, wire, start: fieldStart, valueStart: p2, end: p2 + len });
        pos = p2 + len;
        break;
      }
      default:
        throw new ProtoError(`unsupported wire type ${wire} at byte ${fieldStart}`);
    }
  }
  if (pos !== end) throw new ProtoError('message ends inside a field');
  return fields;
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });
const textEncoder = new TextEncoder();

export function fieldString(buf: Uint8Array, f: Field): string {
  return textDecoder.decode(buf.subarray(f.valueStart, f.end));
}

export function encodeVarint(value: number): Uint8Array {
  if (value < 0 || !Number.isInteger(value)) throw new ProtoError(`cannot encode ${value} as an unsigned varint`);
  const out: number[] = [];
  let v = value;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** Encodes a varint as int64 two's complement (for negative enum/int values). */
export function encodeSignedVarint(value: number): Uint8Array {
  if (value >= 0) return encodeVarint(value);
  const big = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  let v = big;
  while (v >= 128n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Encodes a LEN field (tag, length, payload). */
export function lenField(no: number, payload: Uint8Array): Uint8Array {
  return concat([encodeVarint(no * 8 + WIRE_LEN), encodeVarint(payload.length), payload]);
}

export function stringField(no: number, s: string): Uint8Array {
  return lenField(no, textEncoder.encode(s));
}

export function varintField(no: number, v: number): Uint8Array {
  return concat([encodeVarint(no * 8 + WIRE_VARINT), encodeSignedVarint(v)]);
}

export function floatField(no: number, v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return concat([encodeVarint(no * 8 + WIRE_I32), b]);
}

/** Packed repeated int64 (e.g. TensorProto.dims, AttributeProto.ints). */
export function packedVarints(no: number, values: number[]): Uint8Array {
  return lenField(no, concat(values.map((v) => encodeSignedVarint(v))));
}
