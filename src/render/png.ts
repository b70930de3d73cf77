/** PNG in and out of figures: a small encoder for embedded cell rasters, and SVG → PNG with resvg. */
import zlib from 'node:zlib';
import { renderAsync, type ResvgRenderOptions } from '@resvg/resvg-js';
import sharp from 'sharp';
import { FONT_FAMILY, fontFiles } from './font.ts';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An 8-bit RGB PNG of `rgb` (width·height·3 bytes, row-major), without colour-space chunks. */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} RGB bytes for ${width}×${height}, found ${rgb.length}`);
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height); // filter byte 0 (none) per row
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

let options: ResvgRenderOptions | undefined;

/**
 * Rasterise an SVG of this module at its own size, with the bundled font only (no system fonts) and
 * nearest-neighbour image scaling, off the main thread; encoded as an opaque RGB PNG by sharp (a third
 * smaller than resvg's RGBA PNG, and no slower). The same SVG always gives the same bytes.
 */
export async function svgToPng(svg: string): Promise<Buffer> {
  options ??= {
    font: { loadSystemFonts: false, fontFiles: fontFiles(), defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
    imageRendering: 1,
    fitTo: { mode: 'original' },
    background: '#ffffff',
    logLevel: 'off',
  };
  const img = await renderAsync(svg, options);
  return sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 4 } })
    .removeAlpha()
    .png({ compressionLevel: 6 })
    .toBuffer();
}
