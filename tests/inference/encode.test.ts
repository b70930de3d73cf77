/**
 * Pixel normalisation (src/inference/encode.ts): every byte value of every channel, against
 * torchvision's float32 steps (ToTensor's v/255, then Normalize's − mean and ÷ std).
 */
import { describe, expect, it } from 'vitest';
import { normaliseInto } from '../../src/inference/encode.ts';
import type { ImageInput } from '../../src/domain/manifest.ts';

function spec(channels: number): ImageInput {
  return { name: 'x', size: [16, 16], channels, mean: [0.485, 0.456, 0.406].slice(0, channels), std: [0.229, 0.224, 0.225].slice(0, channels), resize: 'contain' } as ImageInput;
}

/** 16×16 pixels of `srcC` interleaved channels: every byte value appears in every channel. */
function pixels(srcC: number) {
  const data = new Uint8Array(256 * srcC);
  for (let i = 0; i < 256; i++) for (let c = 0; c < srcC; c++) data[i * srcC + c] = (i * 7 + c * 91) % 256;
  return { data, height: 16, width: 16, channels: srcC };
}

describe('normaliseInto', () => {
  for (const [C, srcC] of [
    [3, 3],
    [3, 1],
    [1, 1],
    [1, 3],
  ]) {
    it(`${srcC} source channel(s) into ${C}: ((v/255) − mean_c)/std_c in float32 steps, planes C×H×W, at an offset`, () => {
      const s = spec(C);
      const px = pixels(srcC);
      const out = new Float32Array(5 + C * 256).fill(99);
      normaliseInto(px, s, out, 5);
      expect(Array.from(out.subarray(0, 5))).toEqual([99, 99, 99, 99, 99]);
      for (let c = 0; c < C; c++) {
        const sc = Math.min(c, srcC - 1);
        for (let i = 0; i < 256; i++) {
          const v = px.data[i * srcC + sc];
          const f = Math.fround;
          const want = f(f(f(v / 255) - f(s.mean[c])) / f(s.std[c]));
          expect(out[5 + c * 256 + i]).toBe(want);
          // Close to the exact value: the float32 mean and std are the error.
          expect(Math.abs(want - (v / 255 - s.mean[c]) / s.std[c])).toBeLessThan(5e-7);
        }
      }
    });
  }
});
