/**
 * The preprocessed-image cache: hits give the bytes a fresh decode gives, any change of a
 * preprocessing parameter is a miss, an unsound entry is detected and rewritten, and the size limit
 * evicts the least recently used entries. Entries are written in the background: `flush` waits for them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageInput } from '../../src/domain/manifest.ts';
import { DecodeCache, PREPROCESS_VERSION, decodeEntry, encodeEntry, preprocessKey } from '../../src/inference/decode-cache.ts';
import { encodeImageItems, encodeImages, type ImageItem } from '../../src/inference/encode.ts';
import { STIMULI } from '../support/env.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-decode-cache-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const faces = path.join(STIMULI, 'images', 'faces');
const files = fs
  .readdirSync(faces)
  .filter((f) => f.endsWith('.png'))
  .sort()
  .slice(0, 6)
  .map((f) => fs.readFileSync(path.join(faces, f)));
const items: ImageItem[] = files.map((b, i) => ({ sha256: crypto.createHash('sha256').update(b).digest('hex'), read: () => b, label: `face ${i}` }));

const SPEC: ImageInput = { name: 'input', size: [32, 24], channels: 3, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], resize: 'contain', background: [255, 255, 255] };

const bytes = (f: { data: ArrayBuffer }) => Buffer.from(f.data);

describe('preprocessed-image cache', () => {
  it('a warm call reads every image from the cache and gives the bytes of an uncached decode', async () => {
    const cache = new DecodeCache(tmp(), 1 << 30);
    const counts = { decoded: 0, cached: 0 };
    const cold = await encodeImageItems(items, SPEC, cache, counts);
    await cache.flush();
    expect(counts).toEqual({ decoded: items.length, cached: 0 });
    const warm = await encodeImageItems(items, SPEC, cache, counts);
    expect(counts).toEqual({ decoded: items.length, cached: items.length });
    const direct = await encodeImages(files, SPEC);
    expect(bytes(cold).equals(bytes(direct))).toBe(true);
    expect(bytes(warm).equals(bytes(direct))).toBe(true);
    expect(warm.dims).toEqual([items.length, 3, 32, 24]);
  });

  it('a hit never reads the image bytes', async () => {
    const cache = new DecodeCache(tmp(), 1 << 30);
    await encodeImageItems(items, SPEC, cache);
    await cache.flush();
    let reads = 0;
    const counting = items.map((it) => ({ ...it, read: () => (reads++, it.read()) }));
    await encodeImageItems(counting, SPEC, cache);
    expect(reads).toBe(0);
  });

  it('changing any preprocessing parameter (or the item) is a different key, hence a miss', async () => {
    const variants: [string, ImageInput][] = [
      ['size', { ...SPEC, size: [24, 32] }],
      ['channels', { ...SPEC, channels: 1 }],
      ['mean', { ...SPEC, mean: [0.5, 0.4, 0.31] }],
      ['std', { ...SPEC, std: [0.2, 0.25, 0.31] }],
      ['resize', { ...SPEC, resize: 'cover' }],
      ['resize default', { ...SPEC, resize: undefined }],
      ['resizeTo', { ...SPEC, resize: 'torchvision', resizeTo: 40 }],
      ['background', { ...SPEC, background: [255, 255, 254] }],
    ];
    const base = preprocessKey(items[0].sha256, SPEC);
    const keys = new Set([base]);
    for (const [, v] of variants) keys.add(preprocessKey(items[0].sha256, v));
    keys.add(preprocessKey(items[1].sha256, SPEC));
    expect(keys.size).toBe(variants.length + 2);
    // The ONNX input's name does not change pixels: same key.
    expect(preprocessKey(items[0].sha256, { ...SPEC, name: 'pixels' })).toBe(base);
    // Key order in the manifest does not matter either.
    const reordered = Object.fromEntries(Object.entries(SPEC).reverse()) as ImageInput;
    expect(preprocessKey(items[0].sha256, reordered)).toBe(base);
    expect(PREPROCESS_VERSION).toBeGreaterThanOrEqual(1);

    // Through the encoder: each variant decodes again, and gives what an uncached decode gives.
    const cache = new DecodeCache(tmp(), 1 << 30);
    await encodeImageItems(items, SPEC, cache);
    await cache.flush();
    for (const [what, v] of variants) {
      const counts = { decoded: 0, cached: 0 };
      const got = await encodeImageItems(items, v, cache, counts);
      await cache.flush();
      expect(counts, what).toEqual({ decoded: items.length, cached: 0 });
      expect(bytes(got).equals(bytes(await encodeImages(files, v))), what).toBe(true);
    }
  });

  it('a corrupted, truncated or foreign entry is detected, recomputed and rewritten', async () => {
    const dir = tmp();
    const cache = new DecodeCache(dir, 1 << 30);
    const direct = await encodeImages(files, SPEC);
    await encodeImageItems(items, SPEC, cache);
    await cache.flush();
    const f0 = cache.fileOf(preprocessKey(items[0].sha256, SPEC));
    const f1 = cache.fileOf(preprocessKey(items[1].sha256, SPEC));
    const f2 = cache.fileOf(preprocessKey(items[2].sha256, SPEC));
    const b0 = fs.readFileSync(f0);
    b0[b0.length - 10] ^= 0x01; // one flipped bit in the pixels
    fs.writeFileSync(f0, b0);
    fs.truncateSync(f1, 30); // a torn write
    fs.copyFileSync(cache.fileOf(preprocessKey(items[3].sha256, SPEC)), f2); // a sound entry of another key
    const counts = { decoded: 0, cached: 0 };
    const got = await encodeImageItems(items, SPEC, cache, counts);
    await cache.flush();
    expect(counts).toEqual({ decoded: 3, cached: items.length - 3 });
    expect(cache.stats.corrupt).toBe(3);
    expect(bytes(got).equals(bytes(direct))).toBe(true);
    // Rewritten: the next call hits everywhere.
    const again = { decoded: 0, cached: 0 };
    await encodeImageItems(items, SPEC, cache, again);
    expect(again).toEqual({ decoded: 0, cached: items.length });
  });

  it('entries check their key, length and CRC', () => {
    const key = 'ab'.repeat(32);
    const px = { data: Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i), height: 2, width: 3, channels: 3 };
    const e = encodeEntry(key, px);
    expect(Array.from(decodeEntry(key, e)!.data)).toEqual(Array.from(px.data));
    expect(decodeEntry('cd'.repeat(32), e)).toBeNull();
    expect(decodeEntry(key, e.subarray(0, e.length - 1))).toBeNull();
    const bad = Buffer.from(e);
    bad[bad.length - 1] ^= 0x80;
    expect(decodeEntry(key, bad)).toBeNull();
  });

  it('stays within its byte limit, evicting the least recently used entries first', async () => {
    const dir = tmp();
    const one = 32 * 24 * 3 + 60; // pixels + header
    const cache = new DecodeCache(dir, 4 * one);
    // Entries for 6 items, oldest first: give each a distinct mtime.
    for (let i = 0; i < 4; i++) {
      await encodeImageItems([items[i]], SPEC, cache);
      await cache.flush();
      const t = new Date(Date.now() - (10 - i) * 60_000);
      fs.utimesSync(cache.fileOf(preprocessKey(items[i].sha256, SPEC)), t, t);
    }
    // Item 0 is used again: it becomes the most recent.
    await encodeImageItems([items[0]], SPEC, cache);
    await encodeImageItems([items[4]], SPEC, cache);
    await cache.flush();
    await cache.evict();
    expect(await cache.diskBytes()).toBeLessThanOrEqual(4 * one);
    const present = items.slice(0, 5).map((it) => fs.existsSync(cache.fileOf(preprocessKey(it.sha256, SPEC))));
    // Down to 90 % of the limit (3 entries): the two least recently used go, not item 0.
    expect(present).toEqual([true, false, false, true, true]);
    expect(cache.stats.evicted).toBeGreaterThanOrEqual(1);
  });

  it('a cache with a zero limit stores nothing', async () => {
    const dir = tmp();
    const cache = new DecodeCache(dir, 0);
    const counts = { decoded: 0, cached: 0 };
    await encodeImageItems(items, SPEC, cache, counts);
    await encodeImageItems(items, SPEC, cache, counts);
    expect(counts).toEqual({ decoded: 2 * items.length, cached: 0 });
    expect(await cache.diskBytes()).toBe(0);
  });
});
