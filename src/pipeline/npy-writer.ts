/**
 * Streaming .npy writer: rows are appended as they arrive and the header (whose shape is known only
 * at the end) is written last into space reserved at the start, so nothing is held in memory.
 */
import fs from 'node:fs';

const HEADER_BYTES = 128;

export type NpyDtype = '<f4' | '<i4';

function header(dtype: NpyDtype, shape: number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const room = HEADER_BYTES - 10 - 1; // magic(6) + version(2) + len(2), trailing newline
  if (dict.length > room) throw new Error(`npy header too long for shape ${shapeText}`);
  dict = dict.padEnd(room, ' ') + '\n';
  const b = Buffer.alloc(HEADER_BYTES);
  b.write('\x93NUMPY', 0, 'latin1');
  b[6] = 1;
  b[7] = 0;
  b.writeUInt16LE(HEADER_BYTES - 10, 8);
  b.write(dict, 10, 'latin1');
  return b;
}

export class NpyWriter {
  private fd: number;
  private rows = 0;
  constructor(
    readonly file: string,
    private readonly dtype: NpyDtype,
    private readonly rowWidth: number,
  ) {
    this.fd = fs.openSync(file, 'w');
    fs.writeSync(this.fd, Buffer.alloc(HEADER_BYTES));
  }

  append(data: Float32Array | Int32Array, rows: number): void {
    if (data.length !== rows * this.rowWidth) throw new Error(`npy append: ${data.length} values for ${rows} rows of ${this.rowWidth}`);
    fs.writeSync(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.rows += rows;
  }

  close(): { rows: number } {
    fs.writeSync(this.fd, header(this.dtype, [this.rows, this.rowWidth]), 0, HEADER_BYTES, 0);
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    return { rows: this.rows };
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(this.file, { force: true });
  }
}
