/** Test helpers: decode a PNG into pixels, and parse an SVG strictly. */
import { Resvg } from '@resvg/resvg-js';
import sharp from 'sharp';
import { expect } from 'vitest';
import { fontFiles, type RGB } from '../../src/render/index.ts';

export interface Image {
  width: number;
  height: number;
  px: (x: number, y: number) => RGB;
}

export async function decode(png: Buffer): Promise<Image> {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const ch = info.channels;
  return {
    width: info.width,
    height: info.height,
    px: (x, y) => {
      const o = (Math.round(y) * info.width + Math.round(x)) * ch;
      return [data[o], data[o + 1], data[o + 2]];
    },
  };
}

/** Parse `svg` with resvg's strict XML parser (throws on malformed XML); return its size. */
export function parseSvg(svg: string): { width: number; height: number } {
  const r = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: fontFiles() } });
  return { width: r.width, height: r.height };
}

export const isBlack = (c: RGB): boolean => c[0] < 40 && c[1] < 40 && c[2] < 40;
export const isWhite = (c: RGB): boolean => c[0] === 255 && c[1] === 255 && c[2] === 255;
export const near = (a: RGB, b: RGB, tol: number): boolean => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/** Pixels in a rectangle matching `pred`. */
export function count(img: Image, x0: number, y0: number, x1: number, y1: number, pred: (c: RGB) => boolean): number {
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(img.height, y1); y++) for (let x = Math.max(0, x0); x < Math.min(img.width, x1); x++) if (pred(img.px(x, y))) n++;
  return n;
}
