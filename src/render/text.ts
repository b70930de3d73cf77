/** Fitting text into a width: wrapping at spaces, breaking long words, truncating with an ellipsis. */
import { textWidth, type FontWeight } from './font.ts';

/** Only this many characters of any one text are ever laid out (the rest could not fit anyway). */
const MAX_CHARS = 2000;
const ELLIPSIS = '\u2026';

const normalise = (s: string): string => [...String(s).slice(0, MAX_CHARS)].join('').replace(/[\t\r\v\f]/g, ' ');

/** `s` on one line, cut to fit `maxWidth` px with an ellipsis when it does not. */
export function truncate(s: string, maxWidth: number, size: number, weight: FontWeight = 'normal'): string {
  const text = normalise(s).replace(/\n/g, ' ');
  if (textWidth(text, size, weight) <= maxWidth) return text;
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (textWidth(chars.slice(0, mid).join('') + ELLIPSIS, size, weight) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return chars.slice(0, lo).join('').trimEnd() + ELLIPSIS;
}

/**
 * `s` in lines of at most `maxWidth` px, broken at spaces (and inside words longer than a line), with
 * explicit newlines kept; at most `maxLines` lines, the last one ending in an ellipsis if text was left.
 */
export function wrap(s: string, maxWidth: number, size: number, weight: FontWeight = 'normal', maxLines = 3): string[] {
  const fits = (t: string): boolean => textWidth(t, size, weight) <= maxWidth;
  const out: string[] = [];
  const paras = normalise(s).split('\n');
  let rest = false;
  outer: for (let p = 0; p < paras.length; p++) {
    let line = '';
    for (const w of paras[p].split(' ')) {
      let word = w;
      for (;;) {
        const candidate = line ? `${line} ${word}` : word;
        if (fits(candidate)) {
          line = candidate;
          break;
        }
        if (line) {
          out.push(line);
          line = '';
          if (out.length === maxLines) {
            rest = true;
            break outer;
          }
          continue;
        }
        // A word longer than a line: as many characters as fit.
        const chars = [...word];
        let n = 1;
        while (n < chars.length && fits(chars.slice(0, n + 1).join(''))) n++;
        out.push(chars.slice(0, n).join(''));
        word = chars.slice(n).join('');
        if (out.length === maxLines) {
          rest = word.length > 0;
          break outer;
        }
        if (!word) break;
      }
    }
    out.push(line);
    if (out.length === maxLines) {
      rest = p < paras.length - 1;
      break;
    }
  }
  if (rest) {
    const last = out[out.length - 1] + ELLIPSIS;
    out[out.length - 1] = fits(last) ? last : truncate(last, maxWidth, size, weight);
  }
  while (out.length > 1 && out[out.length - 1] === '') out.pop();
  return out;
}
