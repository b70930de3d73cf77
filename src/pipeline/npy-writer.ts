/**
 * The one .npy writer of kept activations: the file's shape is known when it is opened (rows ×
 * width), its header is numpy's own (src/render/npy.ts), and rows are written at their position as they
 * arrive, in any batch order, without being held in memory.
 */
import fs from 'node:fs';
import { npyHeader } from '../render/npy.ts';

export type NpyDtype = '<f4' | '<i4';

/** A .npy file of rows × width written at row positions (rows arrive in any order). */
export class NpyRows {
  private fd: number;
  private readonly headerBytes: number;
  constructor(
    readonly file: string,
    dtype: NpyDtype,
    private readonly width: number,
    private readonly rows: number,
  ) {
    this.fd = fs.openSync(file, 'w');
    const h = npyHeader(dtype, [rows, width]);
    this.headerBytes = h.length;
    fs.writeSync(this.fd, h);
  }

  /** Writes `count` consecutive rows starting at row `at`. */
  writeAt(at: number, data: Float32Array | Int32Array, offset: number, count: number): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset + offset * this.width * 4, count * this.width * 4);
    fs.writeSync(this.fd, bytes, 0, bytes.length, this.headerBytes + at * this.width * 4);
  }

  close(): { rows: number } {
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

