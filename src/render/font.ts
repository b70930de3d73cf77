/**
 * The bundled font (DejaVu Sans, regular and bold, from the `dejavu-fonts-ttf` package) and its
 * metrics. Figures are laid out with these advance widths and rasterised by resvg with exactly these
 * files, so no system font is ever consulted. Each file is read once, on first use.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export const FONT_FAMILY = 'DejaVu Sans';

export type FontWeight = 'normal' | 'bold';

const FILES: Record<FontWeight, string> = { normal: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' };

let fontDir: string | undefined;

/** Absolute paths of the font files, regular first (for resvg's `fontFiles`). */
export function fontFiles(): string[] {
  fontDir ??= path.join(path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return [path.join(fontDir, FILES.normal), path.join(fontDir, FILES.bold)];
}

/** Horizontal metrics of one TrueType font: advance widths by code point and kerning pairs. */
class Metrics {
  private readonly unitsPerEm: number;
  private readonly advances: Uint16Array;
  private readonly cmap: (cp: number) => number;
  private readonly kern = new Map<number, number>();
  private readonly glyphCache = new Map<number, number>();

  constructor(buf: Buffer) {
    const tables = new Map<string, number>();
    const numTables = buf.readUInt16BE(4);
    for (let i = 0; i < numTables; i++) tables.set(buf.toString('latin1', 12 + 16 * i, 16 + 16 * i), buf.readUInt32BE(20 + 16 * i));
    const table = (tag: string): number => {
      const o = tables.get(tag);
      if (o === undefined) throw new Error(`font has no ${tag} table`);
      return o;
    };
    this.unitsPerEm = buf.readUInt16BE(table('head') + 18);
    const nMetrics = buf.readUInt16BE(table('hhea') + 34);
    const nGlyphs = buf.readUInt16BE(table('maxp') + 4);
    const hmtx = table('hmtx');
    this.advances = new Uint16Array(nGlyphs);
    for (let g = 0; g < nGlyphs; g++) this.advances[g] = buf.readUInt16BE(hmtx + 4 * Math.min(g, nMetrics - 1));
    this.cmap = readCmap(buf, table('cmap'));
    const kern = tables.get('kern');
    if (kern !== undefined) readKern(buf, kern, this.kern);
  }

  private glyph(cp: number): number {
    let g = this.glyphCache.get(cp);
    if (g === undefined) {
      g = this.cmap(cp);
      if (!(g < this.advances.length)) g = 0;
      this.glyphCache.set(cp, g);
    }
    return g;
  }

  /** Width of `text` at `size` px: the sum of advances plus kerning, one line. */
  width(text: string, size: number): number {
    let units = 0;
    let prev = -1;
    for (const ch of text) {
      const g = this.glyph(ch.codePointAt(0)!);
      units += this.advances[g];
      if (prev >= 0) units += this.kern.get(prev * 65536 + g) ?? 0;
      prev = g;
    }
    return (units / this.unitsPerEm) * size;
  }
}

/** The code point → glyph lookup of a Unicode cmap subtable (format 12 preferred, else format 4). */
function readCmap(buf: Buffer, cmap: number): (cp: number) => number {
  const n = buf.readUInt16BE(cmap + 2);
  let f4 = -1;
  let f12 = -1;
  for (let i = 0; i < n; i++) {
    const platform = buf.readUInt16BE(cmap + 4 + 8 * i);
    const encoding = buf.readUInt16BE(cmap + 6 + 8 * i);
    const sub = cmap + buf.readUInt32BE(cmap + 8 + 8 * i);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    const format = buf.readUInt16BE(sub);
    if (format === 12) f12 = sub;
    else if (format === 4) f4 = sub;
  }
  if (f12 >= 0) {
    const groups = buf.readUInt32BE(f12 + 12);
    return (cp) => {
      let lo = 0;
      let hi = groups - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const o = f12 + 16 + 12 * mid;
        if (cp < buf.readUInt32BE(o)) hi = mid - 1;
        else if (cp > buf.readUInt32BE(o + 4)) lo = mid + 1;
        else return buf.readUInt32BE(o + 8) + cp - buf.readUInt32BE(o);
      }
      return 0;
    };
  }
  if (f4 < 0) throw new Error('font has no Unicode cmap');
  const segs = buf.readUInt16BE(f4 + 6) / 2;
  const ends = f4 + 14;
  const starts = ends + 2 * segs + 2;
  const deltas = starts + 2 * segs;
  const ranges = deltas + 2 * segs;
  return (cp) => {
    if (cp > 0xffff) return 0;
    let lo = 0;
    let hi = segs - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (buf.readUInt16BE(ends + 2 * mid) < cp) lo = mid + 1;
      else hi = mid;
    }
    const start = buf.readUInt16BE(starts + 2 * lo);
    if (cp < start || cp > buf.readUInt16BE(ends + 2 * lo)) return 0;
    const delta = buf.readUInt16BE(deltas + 2 * lo);
    const rangeOffset = buf.readUInt16BE(ranges + 2 * lo);
    if (rangeOffset === 0) return (cp + delta) & 0xffff;
    const g = buf.readUInt16BE(ranges + 2 * lo + rangeOffset + 2 * (cp - start));
    return g === 0 ? 0 : (g + delta) & 0xffff;
  };
}

/** Horizontal format-0 pairs of a legacy `kern` table into `out` (key left·65536 + right). */
function readKern(buf: Buffer, kern: number, out: Map<number, number>): void {
  const n = buf.readUInt16BE(kern + 2);
  let o = kern + 4;
  for (let t = 0; t < n; t++) {
    const length = buf.readUInt16BE(o + 2);
    const coverage = buf.readUInt16BE(o + 4);
    if (coverage >> 8 === 0 && (coverage & 1) === 1) {
      const pairs = buf.readUInt16BE(o + 6);
      for (let i = 0; i < pairs; i++) {
        const p = o + 14 + 6 * i;
        out.set(buf.readUInt16BE(p) * 65536 + buf.readUInt16BE(p + 2), buf.readInt16BE(p + 4));
      }
    }
    o += length;
  }
}

const metrics: Partial<Record<FontWeight, Metrics>> = {};

/** Width in px of one line of `text` set in the bundled font at `size` px. */
export function textWidth(text: string, size: number, weight: FontWeight = 'normal'): number {
  let m = metrics[weight];
  if (!m) {
    const file = fontFiles()[weight === 'bold' ? 1 : 0];
    m = metrics[weight] = new Metrics(fs.readFileSync(file));
  }
  return m.width(text, size);
}
