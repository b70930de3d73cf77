/**
 * The `torchvision` image resize mode: what `transforms.Resize(s) + CenterCrop(c)` (or
 * `Resize((h, w))`) with bilinear interpolation does to a PIL image, reproduced on 8-bit pixels.
 *
 * torchvision hands PIL images to Pillow's `Image.resize(..., BILINEAR)`, a separable triangle
 * filter whose support widens by the scale factor when shrinking (antialiasing), with weights in
 * 22-bit fixed point and an 8-bit intermediate image between the horizontal and the vertical pass.
 * The arithmetic below follows those rules step by step, so the output bytes equal Pillow's.
 */
import sharp from 'sharp';

/** Fixed-point precision of the filter weights (Pillow: 32 − 8 − 2 bits). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Per output pixel: first source index, tap count, and fixed-point weights (`ksize` per pixel). */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  ksize: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1, widened when shrinking
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const n = hi - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const x = Math.abs((k + lo - center + 0.5) * ss);
      w[k] = x < 1 ? 1 - x : 0;
      sum += w[k];
    }
    for (let k = 0; k < n; k++) {
      const v = sum !== 0 ? w[k] / sum : w[k];
      weights[o * ksize + k] = Math.trunc(v < 0 ? -0.5 + v * ONE : 0.5 + v * ONE);
    }
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, weights, ksize };
}

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/** Pillow's bilinear `Image.resize` on 8-bit interleaved pixels. */
export function resizeBilinearPil(img: RawImage, width: number, height: number): RawImage {
  const C = img.channels;
  let cur = img;
  if (width !== cur.width) {
    const t = taps(cur.width, width);
    const out = new Uint8Array(width * cur.height * C);
    for (let y = 0; y < cur.height; y++) {
      const row = y * cur.width * C;
      for (let x = 0; x < width; x++) {
        const lo = t.first[x];
        const n = t.count[x];
        const k0 = x * t.ksize;
        for (let c = 0; c < C; c++) {
          let s = HALF;
          for (let k = 0; k < n; k++) s += cur.data[row + (lo + k) * C + c] * t.weights[k0 + k];
          out[(y * width + x) * C + c] = clip8(s);
        }
      }
    }
    cur = { data: out, width, height: cur.height, channels: C };
  }
  if (height !== cur.height) {
    const t = taps(cur.height, height);
    const W = cur.width;
    const out = new Uint8Array(W * height * C);
    for (let y = 0; y < height; y++) {
      const lo = t.first[y];
      const n = t.count[y];
      const k0 = y * t.ksize;
      for (let i = 0; i < W * C; i++) {
        let s = HALF;
        for (let k = 0; k < n; k++) s += cur.data[(lo + k) * W * C + i] * t.weights[k0 + k];
        out[y * W * C + i] = clip8(s);
      }
    }
    cur = { data: out, width: W, height, channels: C };
  }
  return cur;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The size `Resize(size)` gives an image: an int sizes the shorter side, [h, w] is exact. */
export function resizedSize(width: number, height: number, size: number | [number, number]): { width: number; height: number } {
  if (Array.isArray(size)) return { height: size[0], width: size[1] };
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.floor((size * long) / short);
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/** `CenterCrop([h, w])`: zero padding when the crop is larger, Python's rounding of the offsets. */
export function centerCrop(img: RawImage, height: number, width: number): RawImage {
  let cur = img;
  const C = cur.channels;
  if (width > cur.width || height > cur.height) {
    const left = width > cur.width ? Math.floor((width - cur.width) / 2) : 0;
    const top = height > cur.height ? Math.floor((height - cur.height) / 2) : 0;
    const W = Math.max(width, cur.width);
    const H = Math.max(height, cur.height);
    const out = new Uint8Array(W * H * C);
    for (let y = 0; y < cur.height; y++) out.set(cur.data.subarray(y * cur.width * C, (y + 1) * cur.width * C), ((y + top) * W + left) * C);
    cur = { data: out, width: W, height: H, channels: C };
  }
  const top = roundHalfEven((cur.height - height) / 2);
  const left = roundHalfEven((cur.width - width) / 2);
  if (top === 0 && left === 0 && width === cur.width && height === cur.height) return cur;
  const out = new Uint8Array(width * height * C);
  for (let y = 0; y < height; y++) {
    const from = ((y + top) * cur.width + left) * C;
    out.set(cur.data.subarray(from, from + width * C), y * width * C);
  }
  return { data: out, width, height, channels: C };
}

/** Pillow's RGB → L conversion (ITU-R 601-2 luma in 16-bit fixed point). */
export function toLuma(img: RawImage): RawImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * 3;
    out[i] = (img.data[o] * 19595 + img.data[o + 1] * 38470 + img.data[o + 2] * 7471 + 0x8000) >> 16;
  }
  return { data: out, width: img.width, height: img.height, channels: 1 };
}

/**
 * Decodes an image (transparency flattened onto `background`), converts it to RGB (or to L for one
 * channel), resizes it as `Resize(resizeTo)` and center-crops it to `size` ([h, w]).
 */
export async function torchvisionPixels(
  buf: Buffer,
  size: [number, number],
  resizeTo: number | [number, number],
  channels: 1 | 3,
  background: { r: number; g: number; b: number },
): Promise<RawImage> {
  const { data, info } = await sharp(buf, { failOn: 'error' }).flatten({ background }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(`expected 8-bit RGB after decoding, got ${info.channels} channels of ${data.length / (info.width * info.height * info.channels)} byte(s)`);
  }
  let img: RawImage = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
  if (channels === 1) img = toLuma(img);
  const to = resizedSize(img.width, img.height, resizeTo);
  img = resizeBilinearPil(img, to.width, to.height);
  return centerCrop(img, size[0], size[1]);
}
