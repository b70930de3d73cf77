/**
 * Upload bodies for the reliability tests. Bad images are made here and are small on disk: PNGs
 * whose header claims huge sizes, a complete 16000×16000 PNG that deflates to ~30 KB (a
 * decompression bomb), truncated files, WebP. Plus the files of the Range fixture model.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { imageFiles } from '../../support/env.ts';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, bitDepth: number, colorType: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(width, 0);
  b.writeUInt32BE(height, 4);
  b[8] = bitDepth;
  b[9] = colorType;
  return chunk('IHDR', b); // compression, filter, interlace: 0
}

/** Signature, IHDR claiming width × height RGBA, IEND: no pixel data at all. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  return Buffer.concat([SIGNATURE, ihdr(width, height, 8, 6), chunk('IEND', Buffer.alloc(0))]);
}

/** A complete, valid 1-bit greyscale PNG of side × side zeros: tiny file, side² pixels to decode. */
export function pngBomb(side: number): Buffer {
  const row = 1 + Math.ceil(side / 8);
  const raw = Buffer.alloc(row * side); // filter byte 0 and black pixels on every row
  return Buffer.concat([SIGNATURE, ihdr(side, side, 1, 0), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

export interface Blobs {
  goodPng: Buffer;
  goodPng2: Buffer;
  truncatedPng: Buffer;
  header16k: Buffer;
  header100k: Buffer;
  bomb16k: Buffer;
  truncatedJpeg: Buffer;
  webp: Buffer;
  big: Buffer;
  sixHundredK: Buffer;
  range: Record<'model.onnx' | 'manifest.json' | 'tokenizer.json', Buffer>;
}

export const BLOBS = {} as Blobs;

/** Fills BLOBS (once per test file). `limit` is the server's per-file upload limit. */
export async function prepareBlobs(limit: number, rangeDir: string): Promise<void> {
  const [a, b] = imageFiles('faces').slice(0, 2).map((f) => fs.readFileSync(f));
  const jpeg = await sharp(a).flatten({ background: '#ffffff' }).jpeg({ quality: 90 }).toBuffer();
  Object.assign(BLOBS, {
    goodPng: a,
    goodPng2: b,
    truncatedPng: a.subarray(0, Math.floor(a.length / 2)),
    header16k: pngHeaderOnly(16000, 16000),
    header100k: pngHeaderOnly(100000, 100000),
    bomb16k: pngBomb(16000),
    truncatedJpeg: jpeg.subarray(0, Math.floor(jpeg.length / 2)),
    webp: await sharp(a).webp().toBuffer(),
    big: Buffer.alloc(Math.floor(limit * 1.5), 7),
    sixHundredK: Buffer.alloc(Math.floor(limit * 0.6), 7),
    range: {
      'model.onnx': fs.readFileSync(path.join(rangeDir, 'model.onnx')),
      'manifest.json': fs.readFileSync(path.join(rangeDir, 'manifest.json')),
      'tokenizer.json': fs.readFileSync(path.join(rangeDir, 'tokenizer.json')),
    },
  } satisfies Blobs);
}
