/**
 * Stimulus sets: immutable, ordered lists of content-addressed items (images stored as blob files,
 * texts inline). Sets are identified by a hash over name, modality and item hashes, so creating the
 * same set twice returns the first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, NotFoundError, TooLargeError, ValidationError } from '../domain/errors.ts';
import type { Modality, StimulusItem, StimulusSet } from '../domain/records.ts';
import { probeImage } from '../inference/encode.ts';
import { StimulusError } from '../inference/stimulus-error.ts';
import type { Context } from '../store/context.ts';
import { nowIso } from '../store/db.ts';
import { blobPath, readItemBytes, resolveInsideRoots, sha256, writeBlob } from '../store/files.ts';
import * as sets from '../store/sets-repo.ts';

export type { StimulusItem, StimulusSet };

const NAME_RE = /^[A-Za-z0-9_.:+-]{1,128}$/;

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new ValidationError(`name must be 1–128 characters of letters, digits and _ . : + - (got ${JSON.stringify(name)})`, 'name');
  }
}

interface PreparedItem {
  sha256: string;
  label: string | null;
  classLabel?: string | null;
  kind: Modality;
  mediaType: string;
  bytes: number;
  text?: string;
  data?: Buffer;
}

function storeSet(ctx: Context, name: string, modality: Modality, items: PreparedItem[], source: string): { set: StimulusSet; created: boolean } {
  checkName(name);
  if (items.length === 0) throw new ValidationError('a stimulus set needs at least one item; the upload had none', 'items');
  // Class labels enter the hash only when the set has some (sets without labels keep their ids).
  const labelled = items.some((i) => i.classLabel);
  const hash = sha256(`${modality}\n${name}\n${items.map((i) => i.sha256).join('\n')}${labelled ? `\nclass labels\n${items.map((i) => i.classLabel ?? '').join('\n')}` : ''}`);
  const existing = sets.getSetByHash(ctx.db, hash);
  if (existing) return { set: existing, created: false };
  // Blobs first (content-addressed, written atomically); rows in one transaction after.
  for (const it of items) if (it.data) writeBlob(ctx, blobPath(it.sha256, it.mediaType), it.data);
  const set: StimulusSet = { id: hash.slice(0, 16), hash, name, modality, nItems: items.length, source, createdAt: nowIso() };
  sets.insertSet(
    ctx.db,
    set,
    items.map((it) => ({ sha256: it.sha256, label: it.label, classLabel: it.classLabel ?? null, kind: it.kind, mediaType: it.mediaType, bytes: it.bytes, text: it.text ?? null, path: it.data ? blobPath(it.sha256, it.mediaType) : null })),
  );
  return { set, created: true };
}

/**
 * The class labels of an image folder: `labels.json` beside the images, an object mapping file names
 * to class names (files it does not name get no label). Null when the folder has none.
 */
export function folderLabels(dir: string): Record<string, string> | null {
  const file = path.join(dir, 'labels.json');
  if (!fs.existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ValidationError(`labels.json in '${path.basename(dir)}' is not JSON: ${(e as Error).message}`, 'path');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string' && x.length > 0 && x.length <= 200)) {
    throw new ValidationError(`labels.json in '${path.basename(dir)}' must map file names to class names (non-empty strings)`, 'path');
  }
  return v as Record<string, string>;
}

export async function createImageSet(ctx: Context, name: string, files: { name: string; data: Buffer; classLabel?: string | null }[], source = 'upload'): Promise<{ set: StimulusSet; created: boolean }> {
  checkName(name);
  if (files.length === 0) throw new ValidationError('an image set needs at least one PNG or JPEG file; none were uploaded', 'files');
  if (files.length > ctx.config.maxUploadFiles) throw new TooLargeError(`${files.length} files exceed the limit of ${ctx.config.maxUploadFiles} per set`);
  const items: PreparedItem[] = [];
  for (const f of files) {
    if (f.data.length === 0) throw new ValidationError(`file '${f.name}' is empty`, 'files');
    let meta;
    try {
      meta = await probeImage(f.data, ctx.config.maxImagePixels);
    } catch (e) {
      if (e instanceof StimulusError) throw new ValidationError(`file '${f.name}': ${e.message}`, 'files');
      throw e;
    }
    items.push({ sha256: sha256(f.data), label: f.name, classLabel: f.classLabel ?? null, kind: 'image', mediaType: meta.format === 'png' ? 'image/png' : 'image/jpeg', bytes: f.data.length, data: f.data });
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
    if (s.length > ctx.config.maxTextChars) {
      throw new TooLargeError(`texts[${i}] has ${s.length} characters; the limit is ${ctx.config.maxTextChars} per text (TOPOSCOPE_MAX_TEXT_CHARS): split it into sentences or raise the limit`, `texts[${i}]`);
    }
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
    const labels = folderLabels(p);
    return createImageSet(ctx, setName, names.map((f) => ({ name: f, data: fs.readFileSync(path.join(p, f)), classLabel: labels?.[f] ?? null })), source ?? `folder:${p}`);
  }
  if (/\.(txt|json)$/i.test(p)) return createTextSet(ctx, setName, parseTextBody(fs.readFileSync(p, 'utf8'), 'path'), source ?? `file:${p}`);
  throw new ValidationError(`path '${given}' is neither a folder of images nor a .txt/.json file of texts`, 'path');
}

export function findSet(ctx: Context, idOrName: string): StimulusSet | null {
  return sets.findSet(ctx.db, idOrName);
}

export function requireSet(ctx: Context, id: string): StimulusSet {
  const s = sets.findSet(ctx.db, id);
  if (!s) throw new NotFoundError('stimulus set', id);
  return s;
}

export function listSets(ctx: Context, opts: { limit: number; offset: number; modality?: string }): { items: StimulusSet[]; total: number } {
  return sets.listSets(ctx.db, opts);
}

export function setItems(ctx: Context, setId: string): StimulusItem[] {
  return sets.setItems(ctx.db, setId);
}

export function deleteSet(ctx: Context, ref: string): void {
  const id = requireSet(ctx, ref).id;
  const used = sets.jobsUsingSet(ctx.db, id);
  if (used > 0) throw new ConflictError(`stimulus set '${id}' is used by ${used} contrast(s); delete those first`);
  sets.deleteSet(ctx.db, id);
  // Items stay: they are content-addressed and may belong to other sets.
}

/** `{name, texts}` makes a text set; `{path, name?}` reads a server-side folder or file. */
export async function createSet(ctx: Context, body: { name?: string; texts?: string[]; path?: string }): Promise<{ set: StimulusSet; created: boolean }> {
  if (body.path !== undefined) return createSetFromPath(ctx, body.path, body.name);
  if (body.name === undefined) throw new ValidationError("a text set needs 'name'", 'name');
  if (body.texts === undefined) throw new ValidationError("a text set needs 'texts'", 'texts');
  return createTextSet(ctx, body.name, body.texts);
}

/** One part of a multipart set upload. */
export type SetUploadPart =
  | { type: 'field'; fieldname: string; value: unknown }
  | { type: 'file'; fieldname: string; filename: string; toBuffer: () => Promise<Buffer> };

/** A set from a multipart upload: `name`, then many image `files` or one `texts` file. */
export async function createSetFromUpload(ctx: Context, parts: AsyncIterable<SetUploadPart>): Promise<{ set: StimulusSet; created: boolean }> {
  let name: string | undefined;
  const files: { name: string; data: Buffer }[] = [];
  let texts: string[] | null = null;
  let total = 0;
  for await (const part of parts) {
    if (part.type === 'field') {
      if (part.fieldname === 'name') name = String(part.value);
      else if (part.fieldname === 'texts') texts = parseTextBody(String(part.value));
      else throw new ValidationError(`unknown form field '${part.fieldname}'; send name and files (or texts)`, part.fieldname);
      continue;
    }
    const data = await part.toBuffer();
    total += data.length;
    if (total > ctx.config.maxUploadBytes) throw new TooLargeError(`the upload exceeds ${ctx.config.maxUploadBytes} bytes in total (TOPOSCOPE_MAX_UPLOAD_BYTES)`);
    if (part.fieldname === 'texts') texts = parseTextBody(data.toString('utf8'));
    else if (part.fieldname === 'files' || part.fieldname === 'file') files.push({ name: part.filename || `file${files.length}`, data });
    else throw new ValidationError(`unknown file field '${part.fieldname}'; use 'files' for images or 'texts' for a text file`, part.fieldname);
  }
  if (!name) throw new ValidationError("the upload has no 'name' field", 'name');
  if (texts && files.length) throw new ValidationError('send either image files or a texts file, not both', 'files');
  return texts ? createTextSet(ctx, name, texts) : createImageSet(ctx, name, files);
}

/** A page of a set's items (texts inline, images by hash). */
export function listItems(ctx: Context, ref: string, page: { limit?: number; offset?: number }) {
  const s = requireSet(ctx, ref);
  const all = sets.setItems(ctx.db, s.id);
  const offset = page.offset ?? 0;
  const items = all.slice(offset, offset + (page.limit ?? 50)).map((i) => ({ position: i.position, sha256: i.sha256, label: i.label, classLabel: i.classLabel, mediaType: i.mediaType, text: i.text }));
  return { items, total: all.length };
}

/** The raw bytes of one item and its media type. */
export function itemBytes(ctx: Context, ref: string, position: number): { mediaType: string; data: Buffer } {
  const s = requireSet(ctx, ref);
  const item = sets.setItems(ctx.db, s.id).find((i) => i.position === position);
  if (!item) throw new ValidationError(`set '${ref}' has ${s.nItems} items; position ${position} is out of range`, 'position');
  return { mediaType: item.mediaType, data: readItemBytes(ctx, item) };
}
