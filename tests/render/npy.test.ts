import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../src/render/npy.ts';

const PYTHON = '/usr/bin/python3';
const numpyCheck = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
const hasNumpy = numpyCheck.status === 0;
if (!hasNumpy) {
  console.warn(`NumPy round-trip test skipped: \`${PYTHON} -c 'import numpy'\` failed (${numpyCheck.error?.message ?? numpyCheck.stderr.trim()})`);
}

const dir = mkdtempSync(join(tmpdir(), 'toposcope-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

describe('encodeNpy header', () => {
  it('writes the v1.0 header byte for byte (float32, shape (2, 3))', () => {
    const buf = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    // By hand from the format spec: magic, version 1.0, uint16 LE header length, dict, spaces, '\n'.
    // np.save also leaves 21 − len("2") = 19 spaces after the dict for the first axis to grow.
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    expect(dict.length).toBe(59);
    // 10 + 59 + 19 + 1 = 89 → padded to 128; header length = 128 − 10 = 118 = 0x76.
    const expected = [0x93, ...ascii('NUMPY'), 1, 0, 0x76, 0x00, ...ascii(dict), ...Array(118 - 59 - 1).fill(0x20), 0x0a];
    expect(expected.length).toBe(128);
    expect(Array.from(buf.subarray(0, 128))).toEqual(expected);
    expect(buf.length).toBe(128 + 6 * 4);
    expect(buf.readFloatLE(128)).toBe(1);
    expect(buf.readFloatLE(128 + 5 * 4)).toBe(6);
  });

  it('writes 1-d, 0-d and other dtypes with the data 64-byte aligned', () => {
    const cases: [Parameters<typeof encodeNpy>[0], number[], string, string][] = [
      [new Float64Array(5), [5], '<f8', '(5,)'],
      [new Int32Array([7]), [], '<i4', '()'],
      [new Uint8Array(8), [4, 1, 2], '|u1', '(4, 1, 2)'],
      [new Float32Array(0), [0, 3], '<f4', '(0, 3)'],
    ];
    for (const [data, shape, descr, shapeText] of cases) {
      const buf = encodeNpy(data, shape);
      const headerLen = buf.readUInt16LE(8);
      expect((10 + headerLen) % 64).toBe(0);
      expect(buf[10 + headerLen - 1]).toBe(0x0a);
      const header = buf.toString('latin1', 10, 10 + headerLen);
      expect(header.startsWith(`{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`)).toBe(true);
      expect(header.trimEnd().endsWith('}')).toBe(true);
      expect(buf.length).toBe(10 + headerLen + data.byteLength);
    }
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => encodeNpy(new Float32Array(6), [4, 2])).toThrow(/8 values, found 6/);
    expect(() => encodeNpy(new Float32Array(6), [-2, -3])).toThrow(/non-negative/);
  });

  it('round-trips through decodeNpy, including subarray views', () => {
    const backing = new Float64Array([9, 1.5, -2.25, Math.PI, 1e-300, -0, 9]);
    const view = backing.subarray(1, 6);
    for (const [data, shape] of [
      [view, [5]],
      [new Float32Array([0.1, -3.5, Infinity, NaN]), [2, 2]],
      [new Int32Array([-2147483648, 0, 2147483647]), [3, 1]],
      [new Uint8Array([0, 1, 255]), [3]],
    ] as const) {
      const out = decodeNpy(encodeNpy(data, [...shape]));
      expect(out.shape).toEqual([...shape]);
      expect(out.fortranOrder).toBe(false);
      expect(out.data.constructor).toBe(data.constructor);
      expect(Array.from(out.data as ArrayLike<number>)).toEqual(Array.from(data));
    }
  });

  it('decodes big-endian data and rejects garbage', () => {
    // Hand-built '>i2' file: values 1 and -2.
    const dict = "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }";
    const headerLen = 128 - 10;
    const header = Buffer.alloc(headerLen, 0x20);
    header.write(dict, 0, 'latin1');
    header[headerLen - 1] = 0x0a;
    const file = Buffer.concat([Buffer.from([0x93, ...ascii('NUMPY'), 1, 0, headerLen, 0]), header, Buffer.from([0x00, 0x01, 0xff, 0xfe])]);
    const out = decodeNpy(file);
    expect(out.dtype).toBe('>i2');
    expect(Array.from(out.data as Int16Array)).toEqual([1, -2]);
    expect(() => decodeNpy(Buffer.from('not numpy at all'))).toThrow(/magic/);
    expect(() => decodeNpy(encodeNpy(new Float64Array(4), [4]).subarray(0, 140))).toThrow(/truncated/);
  });
});

describe('NumPy interoperability', () => {
  it.skipIf(!hasNumpy)('numpy loads our files and we load numpy\'s (skipped when /usr/bin/python3 has no numpy)', () => {
    const values = Float32Array.from({ length: 48 * 64 }, (_, i) => Math.sin(i * 0.37) * 5 + (i % 7) * 0.25);
    const mask = Uint8Array.from({ length: 3072 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const idx = Int32Array.from({ length: 10 }, (_, i) => (i - 5) * 100003);
    const f64 = Float64Array.from({ length: 6 }, (_, i) => 1 / (i + 1));
    const files: [string, Buffer][] = [
      ['t.npy', encodeNpy(values, [48, 64])],
      ['mask.npy', encodeNpy(mask, [3072])],
      ['idx.npy', encodeNpy(idx, [2, 5])],
      ['f64.npy', encodeNpy(f64, [1, 2, 3])],
    ];
    for (const [name, buf] of files) writeFileSync(join(dir, name), buf);
    const script = `
import io, sys, json
import numpy as np
out = []
for name in sys.argv[2:]:
    path = sys.argv[1] + '/' + name
    a = np.load(path)
    w = np.arange(a.size, dtype=np.float64).reshape(a.shape) % 13 + 1
    b = io.BytesIO(); np.save(b, a)
    out.append({'name': name, 'shape': list(a.shape), 'dtype': a.dtype.str, 'sum': float(a.astype(np.float64).sum()),
                'wsum': float((a.astype(np.float64) * w).sum()), 'c': bool(a.flags['C_CONTIGUOUS']),
                'same_bytes': b.getvalue() == open(path, 'rb').read()})
np.save(sys.argv[1] + '/from_numpy.npy', np.arange(12, dtype='<f4').reshape(3, 4) / 8)
print(json.dumps(out))
`;
    const stdout = execFileSync(PYTHON, ['-c', script, dir, ...files.map(([n]) => n)], { encoding: 'utf8', timeout: 30_000 });
    const results = JSON.parse(stdout) as { name: string; shape: number[]; dtype: string; sum: number; wsum: number; c: boolean; same_bytes: boolean }[];
    const expectFor: Record<string, { shape: number[]; dtype: string; data: ArrayLike<number> }> = {
      't.npy': { shape: [48, 64], dtype: '<f4', data: values },
      'mask.npy': { shape: [3072], dtype: '|u1', data: mask },
      'idx.npy': { shape: [2, 5], dtype: '<i4', data: idx },
      'f64.npy': { shape: [1, 2, 3], dtype: '<f8', data: f64 },
    };
    expect(results.map((r) => r.name)).toEqual(files.map(([n]) => n));
    for (const r of results) {
      const e = expectFor[r.name];
      expect(r.shape, r.name).toEqual(e.shape);
      expect(r.dtype, r.name).toBe(e.dtype);
      expect(r.c, r.name).toBe(true);
      let sum = 0;
      let wsum = 0;
      for (let i = 0; i < e.data.length; i++) {
        sum += e.data[i];
        wsum += e.data[i] * ((i % 13) + 1);
      }
      expect(r.sum, r.name).toBeCloseTo(sum, 6);
      expect(r.wsum, r.name).toBeCloseTo(wsum, 6);
      // np.save of the loaded array gives exactly our bytes.
      expect(r.same_bytes, r.name).toBe(true);
    }
    const fromNumpy = decodeNpy(readFileSync(join(dir, 'from_numpy.npy')));
    expect(fromNumpy.shape).toEqual([3, 4]);
    expect(fromNumpy.dtype).toBe('<f4');
    expect(Array.from(fromNumpy.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => i / 8));
  });
});
