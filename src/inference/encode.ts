/**
 * Turning images into model inputs: decoded, resized 8-bit pixels (through the decode cache), then
 * normalised N×C×H×W float32 or, for a copy that normalises in its graph, N×H×W×C bytes. Texts:
 * encode-text.ts.
 */
import sharp from 'sharp';
import type { ImageInput } from '../domain/manifest.ts';
import { channelNorm } from '../domain/pooling.ts';
import { preprocessKeyer, type DecodeCache, type Pixels } from './decode-cache.ts';
import { torchvisionPixels } from './resize.ts';
import { StimulusError } from './stimulus-error.ts';
import type { FeedSpec } from './worker-protocol.ts';

/**
 * Decodes one image and fits it to the input's size: 8-bit pixels, interleaved H×W×C (sharp may
 * return 1 or 3 channels). The work runs on libuv's thread pool (sharp), so many images decode at
 * once on every core while the main thread only waits.
 */
export async function decodePixels(buf: Buffer, spec: ImageInput, label = '#0'): Promise<Pixels> {
  const [h, w] = spec.size;
  const bg = spec.background ?? [255, 255, 255];
  const background = { r: bg[0], g: bg[1], b: bg[2] };
  let raw: Buffer | Uint8Array;
  try {
    if (spec.resize === 'torchvision') raw = (await torchvisionPixels(buf, spec.size, spec.resizeTo ?? spec.size, spec.channels, background)).data;
    else {
      let img = sharp(buf, { failOn: 'error' }).flatten({ background });
      img = img.resize(w, h, { fit: spec.resize === 'stretch' ? 'fill' : spec.resize === 'cover' ? 'cover' : 'contain', background, kernel: 'lanczos3' });
      if (spec.channels === 1) img = img.greyscale();
      raw = await img.removeAlpha().raw().toBuffer();
    }
  } catch (e) {
    throw new StimulusError(`image ${label} could not be decoded: ${(e as Error).message}`);
  }
  const channels = raw.length / (h * w);
  return { data: raw instanceof Uint8Array ? raw : new Uint8Array(raw), height: h, width: w, channels };
}

/** Normalises decoded pixels into `out` at offset `o` (C×H×W): (v/255 − mean) / std per channel (see `normaliseTable`). */
export function normaliseInto(px: Pixels, spec: ImageInput, out: Float32Array, o: number): void {
  const [h, w] = spec.size;
  const raw = px.data;
  const C = spec.channels;
  const plane = h * w;
  const srcC = px.channels;
  const lut = normaliseTable(spec);
  if (C === 3 && srcC === 3) {
    // One pass over the interleaved pixels, three planes written (the usual RGB case).
    const l0 = lut.subarray(0, 256);
    const l1 = lut.subarray(256, 512);
    const l2 = lut.subarray(512, 768);
    const o1 = o + plane;
    const o2 = o + 2 * plane;
    for (let i = 0, j = 0; i < plane; i++, j += 3) {
      out[o + i] = l0[raw[j]];
      out[o1 + i] = l1[raw[j + 1]];
      out[o2 + i] = l2[raw[j + 2]];
    }
    return;
  }
  for (let c = 0; c < C; c++) {
    const sc = Math.min(c, srcC - 1);
    const base = o + c * plane;
    const t = lut.subarray(c * 256, c * 256 + 256);
    for (let i = 0; i < plane; i++) out[base + i] = t[raw[i * srcC + sc]];
  }
}

/** Tables by channels, means and stds (a handful per process). */
const tables = new Map<string, Float32Array>();

/**
 * What every byte value v of every channel c becomes, 256 entries per channel: ((v / 255) − mean_c)
 * / std_c in float32, rounded after each operation, as torchvision's ToTensor + Normalize compute it
 * and as a pooled copy fed 8-bit pixels does in its graph (onnx/pooling.ts): the same bits all three
 * ways. (Within ~3e-7 of the exact value; the error is absolute, from the float32 mean and std.)
 */
export function normaliseTable(spec: Pick<ImageInput, 'channels' | 'mean' | 'std'>): Float32Array {
  const key = `${spec.channels}|${spec.mean.join(',')}|${spec.std.join(',')}`;
  let lut = tables.get(key);
  if (lut) return lut;
  const { mean, std } = channelNorm(spec);
  const f = Math.fround;
  lut = new Float32Array(spec.channels * 256);
  for (let c = 0; c < spec.channels; c++) {
    const m = f(mean[c]);
    const s = f(std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  if (tables.size >= 64) tables.clear();
  tables.set(key, lut);
  return lut;
}

export async function encodeImages(bufs: Buffer[], spec: ImageInput, labels?: string[]): Promise<FeedSpec> {
  return packImages(await Promise.all(bufs.map((b, i) => decodePixels(b, spec, labels?.[i] ?? `#${i}`))), spec, 'float32');
}

/** An image stimulus for `encodeImageItems`: its content hash and a reader of its bytes. */
export interface ImageItem {
  sha256: string;
  read: () => Buffer | Promise<Buffer>;
  label?: string;
}

/** Counts of one `encodeImageItems` call. */
export interface ImageEncodeCounts {
  decoded: number;
  cached: number;
  /** Called when an item has to be decoded (before its decode starts). */
  onDecode?: () => void;
}

/**
 * Like `encodeImages`, through the decode cache when one is given: each item's pixels come from the
 * cache when its entry is sound, else they are decoded and stored (in the background). Bytes are only
 * read for misses. Decodes go through a process-wide queue a few deep (see `decodeQueued`), so many
 * batches can be encoded ahead without a burst of decoder set-up on the calling thread.
 */
export async function encodeImageItems(items: ImageItem[], spec: ImageInput, cache: DecodeCache | null, counts?: ImageEncodeCounts): Promise<FeedSpec> {
  return packImages(await imagePixels(items, spec, cache, counts), spec, 'float32');
}

/** The decoded pixels of each item (see `encodeImageItems`), in item order. */
export async function imagePixels(items: ImageItem[], spec: ImageInput, cache: DecodeCache | null, counts?: ImageEncodeCounts): Promise<Pixels[]> {
  const [h, w] = spec.size;
  const out: Pixels[] = new Array(items.length);
  const misses: Promise<void>[] = [];
  const keyOf = cache ? preprocessKeyer(spec) : null;
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const key = keyOf ? keyOf(it.sha256) : '';
    let px = cache ? cache.read(key) : null;
    if (px && (px.height !== h || px.width !== w)) px = null;
    if (px) {
      if (counts) counts.cached++;
      out[i] = px;
      continue;
    }
    counts?.onDecode?.();
    misses.push(
      decodeQueued(async () => decodePixels(await it.read(), spec, it.label ?? `#${i}`)).then((d) => {
        if (counts) counts.decoded++;
        cache?.put(key, d);
        out[i] = d;
      }),
    );
  }
  await Promise.all(misses);
  return out;
}

/**
 * A batch of decoded images as the model's input: normalised N×C×H×W float32, or (`uint8`) the
 * bytes as N×H×W×C for a copy that normalises in its graph (`PIXELS_INPUT`). A grey image in an RGB
 * input has its one channel repeated, in both forms.
 */
export function packImages(pixels: Pixels[], spec: ImageInput, form: 'float32' | 'uint8'): FeedSpec {
  const [h, w] = spec.size;
  const C = spec.channels;
  const per = C * h * w;
  if (form === 'float32') {
    const out = new Float32Array(pixels.length * per);
    for (let i = 0; i < pixels.length; i++) normaliseInto(pixels[i], spec, out, i * per);
    return { type: 'float32', dims: [pixels.length, C, h, w], data: out.buffer as ArrayBuffer };
  }
  const out = new Uint8Array(pixels.length * per);
  for (let i = 0; i < pixels.length; i++) {
    const raw = pixels[i].data;
    const srcC = pixels[i].channels;
    const o = i * per;
    if (srcC === C) {
      out.set(raw.subarray(0, per), o);
      continue;
    }
    for (let k = 0, n = h * w; k < n; k++) for (let c = 0; c < C; c++) out[o + k * C + c] = raw[k * srcC + Math.min(c, srcC - 1)];
  }
  return { type: 'uint8', dims: [pixels.length, h, w, C], data: out.buffer as ArrayBuffer };
}

/**
 * Decodes in flight at once, process-wide: twice libuv's thread pool (where sharp decodes), so the
 * pool never waits for work while the event loop sets up only a few decodes at a time. First come,
 * first served: the batch needed first is decoded first.
 */
const DECODE_DEPTH = 2 * Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);
let decoding = 0;
const decodeWaiting: (() => void)[] = [];

async function decodeQueued<T>(f: () => Promise<T>): Promise<T> {
  if (decoding >= DECODE_DEPTH) await new Promise<void>((r) => decodeWaiting.push(r));
  else decoding++;
  try {
    return await f();
  } finally {
    const next = decodeWaiting.shift();
    if (next) next();
    else decoding--;
  }
}

/** Cheap check used at upload: is this a PNG or JPEG that sharp can read? */
/**
 * Checks that a file is a PNG or JPEG of at most `maxPixels` pixels that decodes completely (a
 * truncated or corrupt file, or a decompression bomb, is refused before it is stored). Decoding runs
 * on libvips' threads, not the event loop.
 */
export async function probeImage(buf: Buffer, maxPixels: number): Promise<{ format: string; width: number; height: number }> {
  let m: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    m = await sharp(buf).metadata();
  } catch (e) {
    throw new StimulusError(`not a readable PNG or JPEG image (${(e as Error).message})`);
  }
  if (m.format !== 'png' && m.format !== 'jpeg') throw new StimulusError(`format '${m.format}' is not PNG or JPEG`);
  const w = m.width ?? 0;
  const h = m.height ?? 0;
  if (w * h > maxPixels) throw new StimulusError(`${w}×${h} pixels exceed the limit of ${maxPixels} (TOPOSCOPE_MAX_IMAGE_PIXELS)`);
  try {
    await sharp(buf, { failOn: 'truncated', limitInputPixels: maxPixels }).raw().toBuffer();
  } catch (e) {
    throw new StimulusError(`does not decode completely: it is truncated or corrupt (${(e as Error).message})`);
  }
  return { format: m.format, width: w, height: h };
}
