/**
 * Pixel normalisation (src/inference/encode.ts): every byte value of every channel, against
 * torchvision's float32 steps (ToTensor's v/255, then Normalize's − mean and ÷ std).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { normaliseInto, normaliseTable } from '../../src/inference/encode.ts';
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

describe('normaliseTable', () => {
  it("equals torchvision's ToTensor + Normalize for every byte value, bit for bit (ImageNet and 0.5/0.5 statistics)", () => {
    const cases = [
      { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    ];
    const script = `
import json, sys, torch
import torchvision.transforms.functional as F
v = torch.arange(256, dtype=torch.uint8).repeat(3, 1).reshape(3, 1, 256)
out = []
for c in json.loads(sys.argv[1]):
    x = v.to(torch.float32).div(255)  # ToTensor on uint8
    out.append(F.normalize(x, c['mean'], c['std']).flatten().tolist())
print(json.dumps(out))
`;
    const got = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, JSON.stringify(cases)], { encoding: 'utf8' })) as number[][];
    cases.forEach((c, k) => {
      const table = normaliseTable({ channels: 3, ...c });
      expect(Array.from(table)).toEqual(got[k].map((x) => Math.fround(x)));
    });
  }, 60_000);
});
