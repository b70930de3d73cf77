/** Reads NumPy .npy files (format 1.x/2.x, little-endian, C order) into typed arrays in the browser. */

export interface Npy {
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | Uint8Array | Int16Array | Uint16Array | Uint32Array | Int8Array;
}

const CTORS: Record<string, { new (b: ArrayBuffer, o: number, n: number): Npy['data']; BYTES_PER_ELEMENT: number }> = {
  '<f4': Float32Array,
  '<f8': Float64Array,
  '<i4': Int32Array,
  '<u4': Uint32Array,
  '<i2': Int16Array,
  '<u2': Uint16Array,
  '|u1': Uint8Array,
  '|i1': Int8Array,
  '<u1': Uint8Array,
  '<i1': Int8Array,
};

export function parseNpy(buf: ArrayBuffer): Npy {
  const bytes = new Uint8Array(buf);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new Error('not a .npy file');
  const major = bytes[6];
  const view = new DataView(buf);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new Error('malformed .npy header');
  if (fortran) throw new Error('Fortran-order .npy is not supported');
  const Ctor = CTORS[descr];
  if (!Ctor) throw new Error(`unsupported .npy dtype ${descr}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (offset + n * Ctor.BYTES_PER_ELEMENT > buf.byteLength) throw new Error('truncated .npy data');
  // Typed arrays need aligned offsets; the format pads the header to 64 bytes, but copy if it is not.
  const data = offset % Ctor.BYTES_PER_ELEMENT === 0 ? new Ctor(buf, offset, n) : new Ctor(buf.slice(offset, offset + n * Ctor.BYTES_PER_ELEMENT), 0, n);
  return { shape, data };
}
