/**
 * A content-addressed on-disk cache of preprocessed images: the 8-bit pixels an image item becomes
 * after decoding, flattening and resizing (before the per-channel normalisation, which is one
 * multiply-add per byte). Stimulus items are immutable and named by their sha256, so an entry is
 * keyed by (item sha256, every preprocessing parameter of the manifest's image input, the
 * preprocessing version below, the libvips version): any change is a new key, never a stale hit.
 *
 * Entries are files `<dir>/<key[0:2]>/<key>.px`, written to a temporary name and renamed. Each holds
 * its own key and a CRC-32 of its pixels; a file that does not check out (torn write, bit rot, a
 * foreign file) is a miss, and the caller recomputes and overwrites it. Hits refresh the file's mtime
 * (when it is more than a minute old); when the cache outgrows its byte limit, the least recently used
 * files go first (down to 90 %).
 *
 * Entries are small (H×W×C bytes) and usually in the page cache, so they are read synchronously: a
 * few system calls on the calling thread instead of five round trips through libuv's pool, which
 * the image decoder keeps busy. Writes run in the background (`flush` waits for them).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import type { ImageInput } from '../domain/manifest.ts';

/**
 * Bump when the decoding/resizing code changes what pixels an image becomes (encode.ts, resize.ts):
 * every older entry then misses.
 */
export const PREPROCESS_VERSION = 1;

/** A hit refreshes an entry's mtime only when it is older than this (eviction needs no finer recency). */
const RECENCY_MS = 60_000;
const MAGIC = 0x58505354; // 'TSPX' little-endian
const FORMAT = 1;
/** magic, format, key (32 bytes), height, width, channels, payload length, crc32. */
const HEADER = 4 + 4 + 32 + 4 + 4 + 4 + 4 + 4;

/** Decoded, resized 8-bit pixels, interleaved H×W×channels. */
export interface Pixels {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The cache key of an item under an image input: sha256 over the item's hash and every field of the
 * input except the ONNX input's name (which does not change pixels), canonical JSON, with the
 * preprocessing version and the libvips version. New manifest fields enter the key by themselves.
 */
export function preprocessKey(itemSha256: string, spec: ImageInput): string {
  return preprocessKeyer(spec)(itemSha256);
}

/** `preprocessKey` for many items under one input: the canonical text around the item hash is built once. */
export function preprocessKeyer(spec: ImageInput): (itemSha256: string) => string {
  const { name: _name, ...params } = spec;
  void _name;
  const marker = '\u0000item\u0000';
  const text = canonical({ v: PREPROCESS_VERSION, vips: sharp.versions.vips ?? '', item: marker, params });
  const at = text.indexOf(JSON.stringify(marker));
  const head = text.slice(0, at);
  const tail = text.slice(at + JSON.stringify(marker).length);
  return (sha) => crypto.createHash('sha256').update(head).update(JSON.stringify(sha)).update(tail).digest('hex');
}

export function encodeEntry(key: string, px: Pixels): Buffer {
  const out = Buffer.allocUnsafe(HEADER + px.data.length);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(FORMAT, 4);
  out.write(key, 8, 32, 'hex');
  out.writeUInt32LE(px.height, 40);
  out.writeUInt32LE(px.width, 44);
  out.writeUInt32LE(px.channels, 48);
  out.writeUInt32LE(px.data.length, 52);
  out.writeUInt32LE(zlib.crc32(px.data), 56);
  out.set(px.data, HEADER);
  return out;
}

/** The pixels of an entry file's bytes, or null when they are not a sound entry for `key`. */
export function decodeEntry(key: string, buf: Buffer): Pixels | null {
  if (buf.length < HEADER) return null;
  if (buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== FORMAT) return null;
  if (buf.toString('hex', 8, 40) !== key) return null;
  const height = buf.readUInt32LE(40);
  const width = buf.readUInt32LE(44);
  const channels = buf.readUInt32LE(48);
  const len = buf.readUInt32LE(52);
  if (len !== buf.length - HEADER || len !== height * width * channels) return null;
  const data = buf.subarray(HEADER);
  if (zlib.crc32(data) !== buf.readUInt32LE(56)) return null;
  return { data, height, width, channels };
}

export interface DecodeCacheStats {
  hits: number;
  misses: number;
  /** Entries that existed but failed their check (recomputed and rewritten). */
  corrupt: number;
  writes: number;
  evicted: number;
}

export class DecodeCache {
  readonly stats: DecodeCacheStats = { hits: 0, misses: 0, corrupt: 0, writes: 0, evicted: 0 };
  /** Bytes on disk as this process knows them (a scan sets it, writes add to it); null before the first scan. */
  private bytes: number | null = null;
  private scanning: Promise<void> | null = null;
  private evicting: Promise<void> | null = null;
  private evictAgain: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  fileOf(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.px`);
  }

  /** The cached pixels of `key`, or null (absent or unsound). Synchronous (see above). */
  read(key: string): Pixels | null {
    let fd: number;
    try {
      fd = fs.openSync(this.fileOf(key), 'r');
    } catch {
      this.stats.misses++;
      return null;
    }
    let buf: Buffer;
    try {
      const st = fs.fstatSync(fd);
      buf = Buffer.allocUnsafe(st.size);
      let got = 0;
      while (got < st.size) {
        const n = fs.readSync(fd, buf, got, st.size - got, got);
        if (n === 0) break;
        got += n;
      }
      if (got < st.size) buf = buf.subarray(0, got);
      const now = Date.now();
      if (now - st.mtimeMs > RECENCY_MS) fs.futimesSync(fd, now / 1000, now / 1000); // recency for eviction
    } catch {
      buf = Buffer.alloc(0);
    } finally {
      fs.closeSync(fd);
    }
    const px = decodeEntry(key, buf);
    if (!px) {
      this.stats.corrupt++;
      this.stats.misses++;
      return null;
    }
    this.stats.hits++;
    return px;
  }

  /**
   * Stores an entry in the background (atomically: a reader sees the old file, the new one or none).
   * Errors are swallowed: a cache may fail.
   */
  put(key: string, px: Pixels): void {
    if (this.maxBytes <= 0) return;
    const w = this.write(key, encodeEntry(key, px)).finally(() => this.writing.delete(w));
    this.writing.add(w);
  }

  /** Waits until every entry stored so far is on disk (or failed). */
  async flush(): Promise<void> {
    while (this.writing.size) await Promise.all(this.writing);
  }

  private readonly writing = new Set<Promise<void>>();

  private async write(key: string, bytes: Buffer): Promise<void> {
    const file = this.fileOf(key);
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(tmp, bytes);
      await fs.promises.rename(tmp, file);
      this.stats.writes++;
    } catch {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      return;
    }
    await this.scanned();
    this.bytes = (this.bytes ?? 0) + bytes.length;
    if (this.bytes > this.maxBytes) void this.evict();
  }

  private scanned(): Promise<void> {
    if (this.bytes !== null) return Promise.resolve();
    this.scanning ??= this.list().then((entries) => {
      this.bytes = entries.reduce((s, e) => s + e.size, 0);
    });
    return this.scanning;
  }

  private async list(): Promise<{ file: string; size: number; mtimeMs: number }[]> {
    const out: { file: string; size: number; mtimeMs: number }[] = [];
    let subs: string[];
    try {
      subs = await fs.promises.readdir(this.dir);
    } catch {
      return out;
    }
    for (const s of subs) {
      let names: string[];
      try {
        names = await fs.promises.readdir(path.join(this.dir, s));
      } catch {
        continue;
      }
      for (const n of names) {
        if (!n.endsWith('.px')) continue;
        const file = path.join(this.dir, s, n);
        try {
          const st = await fs.promises.stat(file);
          out.push({ file, size: st.size, mtimeMs: st.mtimeMs });
        } catch {
          // removed meanwhile
        }
      }
    }
    return out;
  }

  /**
   * Removes the least recently used entries until the cache holds at most 90 % of its limit. Called
   * while a scan runs, it runs once more after it (the running scan may predate the newest entries).
   */
  evict(): Promise<void> {
    if (this.evicting) {
      this.evictAgain ??= this.evicting.then(() => {
        this.evictAgain = null;
        return this.evict();
      });
      return this.evictAgain;
    }
    this.evicting = (async () => {
      try {
        const entries = await this.list();
        let total = entries.reduce((s, e) => s + e.size, 0);
        const target = Math.floor(this.maxBytes * 0.9);
        entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
        for (const e of entries) {
          if (total <= target) break;
          try {
            await fs.promises.rm(e.file, { force: true });
            total -= e.size;
            this.stats.evicted++;
          } catch {
            // another process got there first
          }
        }
        this.bytes = total;
      } finally {
        this.evicting = null;
      }
    })();
    return this.evicting;
  }

  /** Bytes of the entries on disk now (a fresh scan). */
  async diskBytes(): Promise<number> {
    return (await this.list()).reduce((s, e) => s + e.size, 0);
  }
}

const caches = new Map<string, DecodeCache>();

/** One cache object per folder in a process, so that jobs share its size estimate. */
export function decodeCacheFor(dir: string, maxBytes: number): DecodeCache {
  const k = `${path.resolve(dir)}\0${maxBytes}`;
  let c = caches.get(k);
  if (!c) caches.set(k, (c = new DecodeCache(path.resolve(dir), maxBytes)));
  return c;
}
