/**
 * Streaming .npy writer: rows are appended as they arrive; the header, whose row count is known only at
 * the end, is rewritten in place (numpy's header leaves room for the first dimension to grow).
 */
import fs from 'node:fs';
import { npyHeader } from '../render/npy.ts';

export type NpyDtype = '<f4' | '<i4';

export class NpyWriter {
  private fd: number;
  private rows = 0;
  private readonly headerBytes: number;
  constructor(
    readonly file: string,
    private readonly dtype: NpyDtype,
    private readonly rowWidth: number,
  ) {
    this.fd = fs.openSync(file, 'w');
    const h = npyHeader(dtype, [0, rowWidth]);
    this.headerBytes = h.length;
    fs.writeSync(this.fd, h);
  }

  append(data: Float32Array | Int32Array, rows: number): void {
    if (data.length !== rows * this.rowWidth) throw new Error(`npy append: ${data.length} values for ${rows} rows of ${this.rowWidth}`);
    fs.writeSync(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.rows += rows;
  }

  close(): { rows: number } {
    const h = npyHeader(this.dtype, [this.rows, this.rowWidth]);
    if (h.length !== this.headerBytes) throw new Error('npy header grew beyond the reserved space');
    fs.writeSync(this.fd, h, 0, h.length, 0);
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
