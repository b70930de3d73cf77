/** SVG text assembly: XML escaping, coordinate formatting and a small element builder. */
import type { RGB } from './colormap.ts';
import { FONT_FAMILY, type FontWeight } from './font.ts';

/**
 * `s` as XML character data / attribute text: the five special characters escaped, and characters
 * that XML 1.0 forbids (C0 controls other than tab and newline, lone surrogates, U+FFFE/U+FFFF) dropped.
 */
export function escapeXml(s: string): string {
  return s
    .replace(/[\0-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate or length: at most 2 decimals, no exponent, non-finite → 0. */
export function num(v: number): string {
  if (!Number.isFinite(v)) return '0';
  const r = Math.round(v * 100) / 100;
  return String(r === 0 ? 0 : Math.abs(r) >= 1e9 ? Math.sign(r) * 1e9 : r);
}

/** `c` as #rrggbb; each channel rounded and clamped to 0…255 (non-finite → 0). */
export function hex(c: RGB): string {
  return `#${[c[0], c[1], c[2]].map((x) => (Number.isFinite(x) ? Math.max(0, Math.min(255, Math.round(x))) : 0).toString(16).padStart(2, '0')).join('')}`;
}

export type Attrs = Record<string, string | number | undefined>;

function attrs(a: Attrs): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined) continue;
    out += ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v)}"`;
  }
  return out;
}

export interface TextStyle {
  size: number;
  weight?: FontWeight;
  fill?: string;
  anchor?: 'start' | 'middle' | 'end';
  /** Rotation in degrees about the anchor point. */
  rotate?: number;
}

/** Collects SVG elements in paint order. */
export class SvgDoc {
  private readonly parts: string[] = [];
  private readonly defs: string[] = [];
  private ids = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  el(name: string, a: Attrs, body?: string): this {
    this.parts.push(body === undefined ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${body}</${name}>`);
    return this;
  }

  raw(markup: string): this {
    this.parts.push(markup);
    return this;
  }

  rect(x: number, y: number, w: number, h: number, a: Attrs = {}): this {
    return this.el('rect', { x, y, width: Math.max(0, w), height: Math.max(0, h), ...a });
  }

  line(x1: number, y1: number, x2: number, y2: number, a: Attrs = {}): this {
    return this.el('line', { x1, y1, x2, y2, ...a });
  }

  /** One line of text; the baseline is at `y`. */
  text(x: number, y: number, s: string, st: TextStyle): this {
    return this.el(
      'text',
      {
        x,
        y,
        'font-size': st.size,
        'font-weight': st.weight === 'bold' ? 'bold' : undefined,
        fill: st.fill,
        'text-anchor': st.anchor && st.anchor !== 'start' ? st.anchor : undefined,
        transform: st.rotate ? `rotate(${num(st.rotate)} ${num(x)} ${num(y)})` : undefined,
      },
      escapeXml(s),
    );
  }

  /** Register a definition (gradient, clip path) and return its id. */
  def(make: (id: string) => string): string {
    const id = `d${this.ids++}`;
    this.defs.push(make(id));
    return id;
  }

  toString(): string {
    const head =
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${this.width}" height="${this.height}" ` +
      `viewBox="0 0 ${this.width} ${this.height}" font-family="${FONT_FAMILY}, sans-serif" fill="#191919">`;
    const defs = this.defs.length ? `<defs>${this.defs.join('')}</defs>` : '';
    return `${head}${defs}<rect width="100%" height="100%" fill="#ffffff"/>${this.parts.join('')}</svg>\n`;
  }
}
