/**
 * NumPy `.npy` files (format version 1.0; 2.0 when the header does not fit 65535 bytes), so maps and
 * statistics load directly with `numpy.load`.
 *
 * Layout: magic "\x93NUMPY", major and minor version bytes, header length (uint16 LE for v1, uint32 LE
 * for v2), then an ASCII Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
 * padded with spaces and ending in '\n' so that the data starts at a multiple of 64 bytes, then the raw
 * little-endian data in C order. The padding follows `np.save` (which also leaves room for the first
 * dimension to grow), so the bytes match what NumPy itself writes for the same array.
 */

export type NpyEncodable = Float32Array | Float64Array | Int32Array | Uint8Array;
export type NpyTypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  /** NumPy dtype string as written in the header, e.g. '<f4'. */
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  data: NpyTypedArray;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function descrOf(data: NpyEncodable): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint8Array) return '|u1';
  throw new TypeError('expected a Float32Array, Float64Array, Int32Array or Uint8Array');
}

/** The header dict text numpy writes for this dtype and shape (without padding). */
export function npyHeaderDict(descr: string, shape: readonly number[], fortranOrder = false): string {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
}

/**
 * The header bytes (magic, version, length, padded dict) numpy writes for this dtype and shape. The
 * first dimension has room to grow to 21 digits, so a streaming writer can rewrite it in place.
 */
export function npyHeader(descr: string, shape: readonly number[]): Buffer {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`expected non-negative integer dimensions, found shape [${shape.join(', ')}]`);
  }
  const dict = npyHeaderDict(descr, shape) + (shape.length > 0 ? ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length)) : '');
  let version = 1;
  let prefix = MAGIC.length + 2 + 2;
  // dict + padding + '\n' must make the whole header a multiple of ALIGN.
  let headerLen = Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN - prefix;
  if (headerLen > 0xffff) {
    version = 2;
    prefix = MAGIC.length + 2 + 4;
    headerLen = Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN - prefix;
  }
  const out = Buffer.alloc(prefix + headerLen);
  MAGIC.copy(out, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) out.writeUInt16LE(headerLen, 8);
  else out.writeUInt32LE(headerLen, 8);
  out.write(dict, prefix, 'latin1');
  out.fill(0x20, prefix + dict.length, prefix + headerLen - 1);
  out[prefix + headerLen - 1] = 0x0a;
  return out;
}

/** Encode a C-order array as a .npy file. `shape` must multiply to `data.length` ([] = a scalar). */
export function encodeNpy(data: NpyEncodable, shape: number[]): Buffer {
  const header = npyHeader(descrOf(data), shape);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new RangeError(`shape [${shape.join(', ')}] holds ${size} values, found ${data.length}`);
  const out = Buffer.alloc(header.length + data.byteLength);
  header.copy(out, 0);
  const start = header.length;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start);
  const width = data.BYTES_PER_ELEMENT;
  if (!LITTLE_ENDIAN && width > 1) swapInPlace(out.subarray(start), width);
  return out;
}

function swapInPlace(bytes: Uint8Array, width: number): void {
  for (let o = 0; o + width <= bytes.length; o += width) {
    for (let a = o, b = o + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

const KINDS: Record<string, { width: number; make: (buf: ArrayBuffer) => NpyTypedArray }> = {
  f4: { width: 4, make: (b) => new Float32Array(b) },
  f8: { width: 8, make: (b) => new Float64Array(b) },
  i1: { width: 1, make: (b) => new Int8Array(b) },
  u1: { width: 1, make: (b) => new Uint8Array(b) },
  b1: { width: 1, make: (b) => new Uint8Array(b) },
  i2: { width: 2, make: (b) => new Int16Array(b) },
  u2: { width: 2, make: (b) => new Uint16Array(b) },
  i4: { width: 4, make: (b) => new Int32Array(b) },
  u4: { width: 4, make: (b) => new Uint32Array(b) },
  i8: { width: 8, make: (b) => new BigInt64Array(b) },
  u8: { width: 8, make: (b) => new BigUint64Array(b) },
};

/** Decode a .npy file (versions 1–3; numeric dtypes of the kinds f, i, u, b). */
export function decodeNpy(buf: Uint8Array): NpyArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new Error('not a .npy file: expected the magic string \\x93NUMPY');
  const major = b[6];
  let headerLen: number;
  let prefix: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    prefix = 10;
  } else if (major === 2 || major === 3) {
    headerLen = b.readUInt32LE(8);
    prefix = 12;
  } else {
    throw new Error(`unsupported .npy version ${major}.${b[7]}`);
  }
  if (prefix + headerLen > b.length) throw new Error('truncated .npy header');
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', prefix, prefix + headerLen);
  const descrM = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortranM = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrM || !fortranM || !shapeM) throw new Error(`malformed .npy header: ${header.trim()}`);
  const dtype = descrM[1];
  const shape = shapeM[1]
    .split(',')
    .map((t) => t.trim().replace(/L$/, ''))
    .filter((t) => t.length > 0)
    .map((t) => {
      const v = Number(t);
      if (!Number.isInteger(v) || v < 0) throw new Error(`malformed .npy shape: (${shapeM[1]})`);
      return v;
    });
  const dm = /^([<>|=])([a-z])(\d+)$/.exec(dtype);
  const kind = dm ? KINDS[`${dm[2]}${dm[3]}`] : undefined;
  if (!dm || !kind) throw new Error(`unsupported .npy dtype '${dtype}'`);
  const size = shape.reduce((a, c) => a * c, 1);
  const start = prefix + headerLen;
  const nBytes = size * kind.width;
  if (start + nBytes > b.length) throw new Error(`truncated .npy data: expected ${nBytes} bytes, found ${b.length - start}`);
  const copy = new Uint8Array(nBytes);
  copy.set(b.subarray(start, start + nBytes));
  const bigEndianData = dm[1] === '>' || (dm[1] === '=' && !LITTLE_ENDIAN);
  if (kind.width > 1 && bigEndianData === LITTLE_ENDIAN) swapInPlace(copy, kind.width);
  return { dtype, shape, fortranOrder: fortranM[1] === 'True', data: kind.make(copy.buffer) };
}
