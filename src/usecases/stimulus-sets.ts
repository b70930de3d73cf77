/**
 * Stimulus sets: immutable, ordered lists of content-addressed items (images stored as blob files,
 * texts inline). Sets are identified by a hash over name, modality and item hashes, so creating the
 * same set twice returns the first.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../store/context.ts';
import { ConflictError, NotFoundError, TooLargeError, ValidationError } from '../domain/errors.ts';
import { nowIso } from '../store/db.ts';
import { resolveInsideRoots, sha256 } from '../store/files.ts';
import { probeImage, StimulusError } from '../inference/encode.ts';

export type Modality = 'image' | 'text';

export interface StimulusSet {
  id: string;
  hash: string;
  name: string;
  modality: Modality;
  nItems: number;
  source: string;
  createdAt: string;
}

export interface StimulusItem {
  position: number;
  sha256: string;
  label: string | null;
  kind: Modality;
  mediaType: string;
  text: string | null;
  path: string | null;
}

interface SetRow {
  id: string;
  hash: string;
  name: string;
  modality: Modality;
  n_items: number;
  source: string;
  created_at: string;
}

const toSet = (r: SetRow): StimulusSet => ({
  id: r.id,
  hash: r.hash,
  name: r.name,
  modality: r.modality,
  nItems: r.n_items,
  source: r.source,
  createdAt: r.created_at,
});

const NAME_RE = /^[A-Za-z0-9_.:+-]{1,128}$/;

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new ValidationError(`name must be 1–128 characters of letters, digits and _ . : + - (got ${JSON.stringify(name)})`, 'name');
  }
}

interface PreparedItem {
  sha256: string;
  label: string | null;
  kind: Modality;
  mediaType: string;
  bytes: number;
  text?: string;
  data?: Buffer;
}

function storeSet(ctx: Context, name: string, modality: Modality, items: PreparedItem[], source: string): { set: StimulusSet; created: boolean } {
  checkName(name);
  if (items.length === 0) throw new ValidationError('a stimulus set needs at least one item; the upload had none', 'items');
  const hash = sha256(`${modality}\n${name}\n${items.map((i) => i.sha256).join('\n')}`);
  const existing = ctx.db.prepare('SELECT * FROM stimulus_sets WHERE hash = ?').get(hash) as SetRow | undefined;
  if (existing) return { set: toSet(existing), created: false };
  // Blobs first (content-addressed, written atomically); rows in one transaction after.
  const now = nowIso();
  for (const it of items) {
    if (!it.data) continue;
    const rel = blobPath(it.sha256, it.mediaType);
    const abs = path.join(ctx.paths.data, rel);
    if (fs.existsSync(abs)) continue;
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    const tmp = `${abs}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, it.data);
    fs.renameSync(tmp, abs);
  }
  const id = hash.slice(0, 16);
  const insItem = ctx.db.prepare(
    `INSERT OR IGNORE INTO stimulus_items (sha256, kind, media_type, size_bytes, text, path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insLink = ctx.db.prepare('INSERT INTO stimulus_set_items (set_id, position, item_sha256, label) VALUES (?, ?, ?, ?)');
  ctx.db.transaction(() => {
    ctx.db
      .prepare('INSERT INTO stimulus_sets (id, hash, name, modality, n_items, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, hash, name, modality, items.length, source, now);
    items.forEach((it, i) => {
      insItem.run(it.sha256, it.kind, it.mediaType, it.bytes, it.text ?? null, it.data ? blobPath(it.sha256, it.mediaType) : null, now);
      insLink.run(id, i, it.sha256, it.label);
    });
  })();
  return { set: getSet(ctx, id)!, created: true };
}

function blobPath(hash: string, mediaType: string): string {
  const ext = mediaType === 'image/png' ? 'png' : mediaType === 'image/jpeg' ? 'jpg' : 'bin';
  return path.join('stimuli', hash.slice(0, 2), `${hash}.${ext}`);
}

export async function createImageSet(ctx: Context, name: string, files: { name: string; data: Buffer }[], source = 'upload'): Promise<{ set: StimulusSet; created: boolean }> {
  checkName(name);
  if (files.length === 0) throw new ValidationError('an image set needs at least one PNG or JPEG file; none were uploaded', 'files');
  if (files.length > ctx.config.maxUploadFiles) throw new TooLargeError(`${files.length} files exceed the limit of ${ctx.config.maxUploadFiles} per set`);
  const items: PreparedItem[] = [];
  for (const f of files) {
    if (f.data.length === 0) throw new ValidationError(`file '${f.name}' is empty`, 'files');
    let meta;
    try {
      meta = await probeImage(f.data);
    } catch (e) {
      if (e instanceof StimulusError) throw new ValidationError(`file '${f.name}': ${e.message}`, 'files');
      throw e;
    }
    items.push({ sha256: sha256(f.data), label: f.name, kind: 'image', mediaType: meta.format === 'png' ? 'image/png' : 'image/jpeg', bytes: f.data.length, data: f.data });
  }
  return storeSet(ctx, name, 'image', items, source);
}

export function createTextSet(ctx: Context, name: string, texts: string[], source = 'upload'): { set: StimulusSet; created: boolean } {
  checkName(name);
  if (!Array.isArray(texts) || texts.length === 0) throw new ValidationError('a text set needs at least one text; none were given', 'texts');
  if (texts.length > ctx.config.maxTextItems) throw new TooLargeError(`${texts.length} texts exceed the limit of ${ctx.config.maxTextItems} per set`);
  const items: PreparedItem[] = texts.map((t, i) => {
    if (typeof t !== 'string') throw new ValidationError(`texts[${i}] is not a string`, `texts[${i}]`);
    const s = t.trim();
    if (s.length === 0) throw new ValidationError(`texts[${i}] is empty`, `texts[${i}]`);
    const b = Buffer.from(s, 'utf8');
    return { sha256: sha256(b), label: null, kind: 'text', mediaType: 'text/plain', bytes: b.length, text: s };
  });
  return storeSet(ctx, name, 'text', items, source);
}

/** Splits an uploaded text body: a JSON array of strings, or one text per non-empty line. */
export function parseTextBody(body: string, field = 'texts'): string[] {
  const trimmed = body.trim();
  if (trimmed.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(trimmed);
    } catch (e) {
      throw new ValidationError(`${field} looks like a JSON array but does not parse: ${(e as Error).message}`, field);
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ValidationError(`${field} must be a JSON array of strings`, field);
    return v as string[];
  }
  return trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/**
 * Creates a set from a server-side path inside the stimuli roots: a folder of PNG/JPEG files (sorted
 * by name), or a `.txt` (one text per line) or `.json` (array of strings) file.
 */
export async function createSetFromPath(ctx: Context, given: string, name?: string, source?: string): Promise<{ set: StimulusSet; created: boolean }> {
  const p = resolveInsideRoots(given, ctx.config.stimuliRoots, 'path');
  const st = fs.statSync(p);
  const setName = name ?? path.basename(p).replace(/\.(txt|json)$/i, '');
  if (st.isDirectory()) {
    const names = fs.readdirSync(p).filter((f) => IMAGE_EXT.test(f)).sort();
    if (names.length === 0) throw new ValidationError(`folder '${given}' has no PNG or JPEG files`, 'path');
    return createImageSet(ctx, setName, names.map((f) => ({ name: f, data: fs.readFileSync(path.join(p, f)) })), source ?? `folder:${p}`);
  }
  if (/\.(txt|json)$/i.test(p)) return createTextSet(ctx, setName, parseTextBody(fs.readFileSync(p, 'utf8'), 'path'), source ?? `file:${p}`);
  throw new ValidationError(`path '${given}' is neither a folder of images nor a .txt/.json file of texts`, 'path');
}

export function getSet(ctx: Context, id: string): StimulusSet | null {
  const r = ctx.db.prepare('SELECT * FROM stimulus_sets WHERE id = ?').get(id) as SetRow | undefined;
  return r ? toSet(r) : null;
}

/** By id, or else the most recently created set with that name. */
export function findSet(ctx: Context, idOrName: string): StimulusSet | null {
  const byId = getSet(ctx, idOrName);
  if (byId) return byId;
  const r = ctx.db.prepare('SELECT * FROM stimulus_sets WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(idOrName) as SetRow | undefined;
  return r ? toSet(r) : null;
}

export function requireSet(ctx: Context, id: string): StimulusSet {
  const s = findSet(ctx, id);
  if (!s) throw new NotFoundError('stimulus set', id);
  return s;
}

export function listSets(ctx: Context, opts: { limit: number; offset: number; modality?: string }): { items: StimulusSet[]; total: number } {
  const where = opts.modality ? 'WHERE modality = @modality' : '';
  const total = (ctx.db.prepare(`SELECT COUNT(*) AS n FROM stimulus_sets ${where}`).get({ modality: opts.modality }) as { n: number }).n;
  const rows = ctx.db
    .prepare(`SELECT * FROM stimulus_sets ${where} ORDER BY created_at, rowid LIMIT @limit OFFSET @offset`)
    .all({ modality: opts.modality, limit: opts.limit, offset: opts.offset }) as SetRow[];
  return { items: rows.map(toSet), total };
}

export function setItems(ctx: Context, setId: string): StimulusItem[] {
  const rows = ctx.db
    .prepare(
      `SELECT l.position, l.item_sha256 AS sha256, l.label, i.kind, i.media_type AS mediaType, i.text, i.path
       FROM stimulus_set_items l JOIN stimulus_items i ON i.sha256 = l.item_sha256
       WHERE l.set_id = ? ORDER BY l.position`,
    )
    .all(setId) as StimulusItem[];
  return rows;
}

export function readItemBytes(ctx: Context, item: StimulusItem): Buffer {
  if (item.text !== null) return Buffer.from(item.text, 'utf8');
  return fs.readFileSync(path.join(ctx.paths.data, item.path!));
}

export function deleteSet(ctx: Context, ref: string): void {
  const id = requireSet(ctx, ref).id;
  const used = (ctx.db.prepare('SELECT COUNT(*) AS n FROM job_sets WHERE set_id = ?').get(id) as { n: number }).n;
  if (used > 0) throw new ConflictError(`stimulus set '${id}' is used by ${used} contrast(s); delete those first`);
  ctx.db.prepare('DELETE FROM stimulus_sets WHERE id = ?').run(id);
  // Items stay: they are content-addressed and may belong to other sets.
}
