/**
 * Texts with a value per token (e.g. a region's activation at every token of its top examples): each
 * token on a cell shaded by its value on a diverging scale symmetric about 0, lines wrapped to the
 * figure width, one block per text with its pooled value, and a colour key.
 */
import { colorFor } from './colormap.ts';
import { textWidth } from './font.ts';
import { drawTitle, lineHeight, STYLE, titleBlock, type Figure } from './layout.ts';
import { hex, SvgDoc } from './svg.ts';
import { truncate } from './text.ts';
import { formatValue } from './ticks.ts';

export interface TokenText {
  /** Shown before the tokens, e.g. "1. 0.600". */
  label: string;
  tokens: string[];
  /** One value per token; NaN cells are grey. */
  values: ArrayLike<number>;
}

export interface TokenHeatOptions {
  title: string;
  subtitle?: string;
  texts: TokenText[];
  /** Colour limit (default: the largest |value|). */
  vmax?: number;
  /** How a token is shown, e.g. WordPiece "##" continuation pieces joined to the previous token. */
  display?: (token: string, i: number) => { text: string; joined: boolean };
  width?: number;
}

export interface TokenHeatLayout {
  vmax: number;
  /** Per text, the cells drawn: x, y, width and the token index. */
  cells: { x: number; y: number; width: number; token: number }[][];
}

const MAX_TEXTS = 100;
const MAX_TOKENS = 1000;

export function tokenHeatFigure(o: TokenHeatOptions): Figure<TokenHeatLayout> {
  const W = o.width ?? 880;
  if (!(Number.isInteger(W) && W >= 320 && W <= 4096)) throw new RangeError(`expected width an integer in [320, 4096], found ${W}`);
  if (o.texts.length > MAX_TEXTS) throw new RangeError(`expected at most ${MAX_TEXTS} texts, found ${o.texts.length}`);
  for (const t of o.texts) {
    if (t.tokens.length !== t.values.length) throw new RangeError(`"${t.label}": ${t.tokens.length} tokens but ${t.values.length} values`);
    if (t.tokens.length > MAX_TOKENS) throw new RangeError(`"${t.label}": more than ${MAX_TOKENS} tokens`);
  }
  let vmax = o.vmax !== undefined && o.vmax > 0 && Number.isFinite(o.vmax) ? o.vmax : 0;
  if (!vmax) for (const t of o.texts) for (let i = 0; i < t.values.length; i++) if (Number.isFinite(t.values[i])) vmax = Math.max(vmax, Math.abs(t.values[i]));
  if (!(vmax > 0)) vmax = 1;
  const display = o.display ?? ((tok: string) => ({ text: tok, joined: false }));
  const m = STYLE.margin;
  const size = STYLE.textSize;
  const rowH = lineHeight(size) + 6;
  const tb = titleBlock(o.title, o.subtitle, W - 2 * m);
  const keyH = 26;
  const labelW = Math.min(140, Math.max(0, ...o.texts.map((t) => textWidth(t.label, size))) + 10);
  const x0 = m + labelW;
  const xMax = W - m;
  // Layout first, to know the height.
  let y = m + tb.height + (tb.height ? 10 : 0) + keyH;
  const cells: TokenHeatLayout['cells'] = [];
  const rows: { label: string; labelY: number }[] = [];
  for (const t of o.texts) {
    let x = x0;
    const list: TokenHeatLayout['cells'][number] = [];
    rows.push({ label: t.label, labelY: y });
    t.tokens.forEach((tok, i) => {
      const d = display(tok, i);
      const text = truncate(d.text, xMax - x0 - 8, size);
      const w = Math.ceil(textWidth(text, size)) + 6;
      const gap = d.joined ? 0 : 4;
      if (x + gap + w > xMax && x > x0) {
        x = x0;
        y += rowH;
      } else if (x > x0) x += gap;
      list.push({ x, y, width: w, token: i });
      x += w;
    });
    cells.push(list);
    y += rowH + 8;
  }
  const H = Math.ceil(y + m);
  const doc = new SvgDoc(W, H);
  drawTitle(doc, m, m, tb);
  // Colour key: −vmax … 0 … +vmax.
  const ky = m + tb.height + (tb.height ? 10 : 0);
  const steps = 11;
  for (let s = 0; s < steps; s++) {
    const v = -vmax + (2 * vmax * s) / (steps - 1);
    doc.rect(x0 + s * 22, ky, 22, 12, { fill: hex(colorFor(v, vmax)) });
  }
  doc.text(x0 + steps * 22 + 8, ky + 11, `token activation, ${formatValue(-vmax)} … 0 … ${formatValue(vmax)}`, { size: STYLE.tickSize, fill: STYLE.muted });
  o.texts.forEach((t, k) => {
    doc.text(m, rows[k].labelY + size + 1, truncate(t.label, labelW - 8, size), { size, weight: 'bold' });
    for (const c of cells[k]) {
      const v = t.values[c.token];
      doc.rect(c.x, c.y, c.width, rowH - 4, { fill: hex(colorFor(v, vmax)), rx: 2 });
      const d = display(t.tokens[c.token], c.token);
      const dark = Number.isFinite(v) && Math.abs(v) > 0.6 * vmax;
      doc.text(c.x + 3, c.y + size + 1, truncate(d.text, xMax - x0 - 8, size), { size, fill: dark ? '#ffffff' : STYLE.ink });
    }
  });
  return { svg: doc.toString(), width: W, height: H, layout: { vmax, cells } };
}
