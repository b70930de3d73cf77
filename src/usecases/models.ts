/**
 * Model registration: validate the manifest and the ONNX graph, probe every layer through ONNX
 * Runtime, resolve each layer's sheet layout, and store the files by content hash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Context } from '../store/context.ts';
import { AppError, ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../domain/errors.ts';
import { LayoutError, resolveLayout } from '../sheet/layout.ts';
import { ELEM_TYPE_NAMES, OnnxFormatError, inspectModelFile, producedTensors, pruneToTensorsFile, type ModelInfo } from '../onnx/model.ts';
import { nowIso } from '../store/db.ts';
import type { LayerInfo, ModelInfoJson, ModelRecord } from '../domain/records.ts';
import type { SheetLayout } from '../domain/sheet.ts';
import { activeJobsForModel, deleteModelAndJobs, findModel, getModelByHash, getSheet, insertModel, jobsForModel, listModels, putSheets } from '../store/models-repo.ts';
import { TextEncoder as TextIds } from '../inference/encode-text.ts';
import { StimulusError } from '../inference/stimulus-error.ts';
import { activationsDir, EXPOSED_FILE, MANIFEST_FILE, MODEL_FILE, modelDir, resolveInsideRoots, rmrf, sha256, sha256File, tmpDir } from '../store/files.ts';
import { LayerSchema, ManifestSchema, type Manifest } from '../domain/manifest.ts';
import { listTensorsInChild, NativeChildError, NativeSession } from '../inference/native-child.ts';
import { buildLesionCopy, checkOutputs, outputSideFiles } from './behaviour-outputs.ts';
import type { LesionInfo } from '../domain/lesion.ts';
import type { FeedSpec } from '../inference/worker-protocol.ts';

const manifestCheck = TypeCompiler.Compile(ManifestSchema);

export { EXPOSED_FILE, MANIFEST_FILE, MODEL_FILE, modelDir };

/** The weights of EXPOSED_FILE, beside it (external data at page-aligned offsets). */
export const EXPOSED_DATA_FILE = 'exposed.onnx.data';

function jsonPointerToField(p: string): string {
  let out = 'manifest';
  for (const part of p.split('/').filter(Boolean)) out += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  return out;
}

/** Parses and validates a manifest; throws a 400 naming the bad field. */
export function parseManifest(raw: string | Buffer | object): Manifest {
  let value: unknown = raw;
  if (typeof raw === 'string' || Buffer.isBuffer(raw)) {
    try {
      value = JSON.parse(raw.toString());
    } catch (e) {
      throw new ValidationError(`manifest.json is not valid JSON: ${(e as Error).message}`, 'manifest');
    }
  }
  if (!manifestCheck.Check(value)) {
    const errs = [...manifestCheck.Errors(value)];
    // Prefer the deepest error: it says most precisely what to fix.
    errs.sort((a, b) => b.path.length - a.path.length);
    const e = errs[0];
    const field = jsonPointerToField(e.path);
    const found = e.value === undefined ? 'nothing' : JSON.stringify(e.value)?.slice(0, 80);
    throw new ValidationError(`${field}: ${e.message} (found ${found})`, field);
  }
  const m = value as Manifest;
  if (m.modality === 'image' && !m.input.image) throw new ValidationError('manifest.input.image is required for an image model', 'manifest.input.image');
  if (m.modality === 'text' && !m.input.text) throw new ValidationError('manifest.input.text is required for a text model', 'manifest.input.text');
  if (m.modality === 'image' && m.input.text) throw new ValidationError('manifest.input.text is given but modality is image', 'manifest.input.text');
  if (m.modality === 'text' && m.input.image) throw new ValidationError('manifest.input.image is given but modality is text', 'manifest.input.image');
  const seen = new Set<string>();
  m.layers.forEach((l, i) => {
    if (seen.has(l.name)) throw new ValidationError(`manifest.layers[${i}].name '${l.name}' is used by two layers`, `manifest.layers[${i}].name`);
    seen.add(l.name);
    const p = l.pooling;
    if (p && m.modality === 'image' && (p === 'last' || p === 'tokens')) {
      throw new ValidationError(`manifest.layers[${i}].pooling '${p}' is for text models; image layers pool with 'mean' or 'max'`, `manifest.layers[${i}].pooling`);
    }
  });
  if (m.input.image) {
    const im = m.input.image;
    if (im.resizeTo !== undefined && im.resize !== 'torchvision') throw new ValidationError("manifest.input.image.resizeTo is only used with resize 'torchvision'", 'manifest.input.image.resizeTo');
    for (const k of ['mean', 'std'] as const) {
      if (im[k].length !== 1 && im[k].length !== im.channels) {
        throw new ValidationError(`manifest.input.image.${k} has ${im[k].length} values for ${im.channels} channels`, `manifest.input.image.${k}`);
      }
    }
  }
  return m;
}

export function defaultPooling(m: Manifest): 'mean' {
  void m;
  return 'mean';
}

function closest(name: string, options: string[], k = 3): string[] {
  const lower = name.toLowerCase();
  const score = (o: string) => {
    const a = o.toLowerCase();
    let common = 0;
    while (common < a.length && common < lower.length && a[common] === lower[common]) common++;
    return common + (a.includes(lower) || lower.includes(a) ? 10 : 0) - Math.abs(a.length - lower.length) * 0.01;
  };
  return [...options].sort((x, y) => score(y) - score(x)).slice(0, k);
}

export interface IncomingFiles {
  /** Absolute paths of files already written to a temporary folder, by their name in the model folder. */
  dir: string;
  source: string;
}

function probeFeeds(m: Manifest, batch: number, modelDir: string): { feeds: Record<string, FeedSpec>; lengths: Int32Array | null } {
  if (m.modality === 'image') {
    const im = m.input.image!;
    const [h, w] = im.size;
    const data = new Float32Array(batch * im.channels * h * w);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 255) / 255 - 0.5;
    return { feeds: { [im.name]: { type: 'float32', dims: [batch, im.channels, h, w], data: data.buffer as ArrayBuffer } }, lengths: null };
  }
  const tx = m.input.text!;
  const enc = new TextIds(tx, modelDir);
  const texts = ['the quick brown fox jumps over the lazy dog', 'a probe'].slice(0, batch);
  while (texts.length < batch) texts.push('a probe');
  const b = enc.encode(texts);
  return { feeds: b.feeds, lengths: b.lengths };
}

/** A text model's input at its longest: one text of exactly `maxTokens` tokens. */
function longestTextFeeds(m: Manifest, modelDir: string): Record<string, FeedSpec> {
  const tx = m.input.text!;
  const enc = new TextIds(tx, modelDir);
  return enc.encode([Array.from({ length: tx.maxTokens + 1 }, () => 'the').join(' ')]).feeds;
}

/** ONNX Runtime work on a model runs in a child process: a native crash fails the request, not the server. */
function nativeOpts(ctx: Context, label: string) {
  return { label, intraOpThreads: ctx.config.intraOpThreads };
}

function isDynamic(d: number | string | null | undefined): boolean {
  return typeof d !== 'number' || d <= 0;
}

/** Validates a model folder (model.onnx + manifest.json + side files) and returns its info. */
export async function validateModelDir(ctx: Context, dir: string): Promise<{ manifest: Manifest; info: ModelInfoJson; sheets: { layer: string; sheet: SheetLayout }[] }> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const onnxPath = path.join(dir, MODEL_FILE);
  if (!fs.existsSync(manifestPath)) throw new ValidationError('manifest.json is missing', 'manifest');
  if (!fs.existsSync(onnxPath)) throw new ValidationError('model.onnx is missing', 'model');
  const manifest = parseManifest(fs.readFileSync(manifestPath));
  // Large models are never read whole: the graph's structure is parsed from the file (weights
  // skipped) and the pruned copy is written in chunks, off the main thread.
  if ((await fs.promises.stat(onnxPath)).size === 0) throw new ValidationError('model.onnx is empty', 'model');
  let info: ModelInfo;
  try {
    info = inspectModelFile(onnxPath);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new ValidationError(`model.onnx: ${e.message}`, 'model');
    throw e;
  }
  for (const f of info.externalDataFiles) {
    if (!fs.existsSync(path.join(dir, f))) {
      throw new ValidationError(`model.onnx keeps weights in the external data file '${f}', which was not provided beside it`, 'model');
    }
  }
  // Inputs named by the manifest must exist.
  const inputNames = info.inputs.map((i) => i.name);
  const needInput = (name: string, field: string) => {
    if (!inputNames.includes(name)) {
      throw new ValidationError(`${field}: the model has no input '${name}'; its inputs are ${inputNames.map((n) => `'${n}'`).join(', ')}`, field);
    }
  };
  if (manifest.input.image) needInput(manifest.input.image.name, 'manifest.input.image.name');
  if (manifest.input.text) {
    needInput(manifest.input.text.idsInput, 'manifest.input.text.idsInput');
    if (manifest.input.text.maskInput) needInput(manifest.input.text.maskInput, 'manifest.input.text.maskInput');
    if (manifest.input.text.tokenizer.type === 'huggingface') {
      const tf = path.resolve(dir, manifest.input.text.tokenizer.file);
      if (!tf.startsWith(path.resolve(dir) + path.sep) || !fs.existsSync(tf)) {
        throw new ValidationError(`manifest.input.text.tokenizer.file '${manifest.input.text.tokenizer.file}' was not provided beside the model`, 'manifest.input.text.tokenizer.file');
      }
    }
  }
  const extraInputs = inputNames.filter(
    (n) => n !== manifest.input.image?.name && n !== manifest.input.text?.idsInput && n !== manifest.input.text?.maskInput,
  );
  if (extraInputs.length) {
    throw new ValidationError(`the model has inputs the manifest does not feed: ${extraInputs.map((n) => `'${n}'`).join(', ')}`, 'manifest.input');
  }
  // Layer tensors must exist.
  const produced = producedTensors(info);
  const allTensors = [...produced.keys(), ...inputNames];
  manifest.layers.forEach((l, i) => {
    if (!produced.has(l.tensor)) {
      const near = closest(l.tensor, allTensors);
      throw new ValidationError(
        `manifest.layers[${i}].tensor: the model has no tensor '${l.tensor}'. Closest names: ${near.map((n) => `'${n}'`).join(', ')} (GET /v1/models/:id/tensors lists them all)`,
        `manifest.layers[${i}].tensor`,
      );
    }
  });
  const outputs = checkOutputs(manifest, info, dir);
  // Probe through ORT with the layers exposed.
  // The file the workers run computes the layers and nothing else (no unused heads).
  const exposedPath = path.join(dir, EXPOSED_FILE);
  // Its weights go to an external data file beside it, which ONNX Runtime maps instead of reading
  // the model into memory: sessions load faster and the registration's probe peaks lower.
  await pruneToTensorsFile(onnxPath, exposedPath, manifest.layers.map((l) => l.tensor), { externalData: EXPOSED_DATA_FILE });
  const mainInput = info.inputs.find((i) => i.name === (manifest.input.image?.name ?? manifest.input.text?.idsInput));
  const dynamicBatch = !mainInput?.dims || isDynamic(mainInput.dims[0]);
  if (manifest.modality === 'text' && mainInput?.dims && mainInput.dims.length === 2 && !isDynamic(mainInput.dims[1])) {
    // Fixed sequence length: texts are padded to it, which is fine as long as maxTokens fits.
    if (manifest.input.text!.maxTokens > (mainInput.dims[1] as number)) {
      throw new ValidationError(`manifest.input.text.maxTokens ${manifest.input.text!.maxTokens} exceeds the model's fixed sequence length ${mainInput.dims[1]}`, 'manifest.input.text.maxTokens');
    }
  }
  let session: NativeSession;
  try {
    session = await NativeSession.open(exposedPath, nativeOpts(ctx, manifest.name));
  } catch (e) {
    throw new ValidationError(`model.onnx does not load in ONNX Runtime: ${(e as Error).message}`, 'model');
  }
  const layers: LayerInfo[] = [];
  const layerTypes: string[] = [];
  const sheets: { layer: string; sheet: SheetLayout }[] = [];
  const batch = dynamicBatch ? 2 : 1;
  try {
    let probe: { feeds: Record<string, FeedSpec>; lengths: Int32Array | null };
    try {
      probe = probeFeeds(manifest, batch, dir);
    } catch (e) {
      if (e instanceof StimulusError) throw new ValidationError(e.message, 'manifest.input.text.tokenizer');
      throw e;
    }
    let shapes;
    try {
      shapes = await session.probe(probe.feeds, manifest.layers.map((l) => l.tensor));
    } catch (e) {
      throw new ValidationError(`model.onnx failed on a probe input built from the manifest: ${(e as Error).message}`, 'manifest.input');
    }
    if (manifest.modality === 'text') {
      // The longest input a contrast will feed: a model with fewer positions fails here, not in a job.
      const maxTokens = manifest.input.text!.maxTokens;
      try {
        await session.probe(longestTextFeeds(manifest, dir), [manifest.layers[0].tensor]);
      } catch (e) {
        throw new ValidationError(
          `manifest.input.text.maxTokens: the model fails on an input of ${maxTokens} tokens, so it probably accepts fewer positions; lower maxTokens (${(e as Error).message})`,
          'manifest.input.text.maxTokens',
        );
      }
    }
    manifest.layers.forEach((l, i) => {
      const s = shapes[i];
      const field = `manifest.layers[${i}]`;
      if (s.type !== 'float32' && s.type !== 'float16' && s.type !== 'float64') {
        throw new ValidationError(`${field}.tensor '${l.tensor}' is of type ${s.type}; a topographic layer must be a float tensor`, `${field}.tensor`);
      }
      if (l.unitAxis >= s.dims.length) {
        throw new ValidationError(`${field}.unitAxis ${l.unitAxis} is out of range: tensor '${l.tensor}' has shape [${s.dims.join(', ')}]`, `${field}.unitAxis`);
      }
      if (s.dims[0] !== batch) {
        throw new ValidationError(`${field}.tensor '${l.tensor}' does not have the batch on axis 0 (shape [${s.dims.join(', ')}] for a batch of ${batch})`, `${field}.tensor`);
      }
      if (manifest.modality === 'text' && s.dims.length !== 3) {
        throw new ValidationError(`${field}.tensor '${l.tensor}' has shape [${s.dims.join(', ')}]; a text layer must be [batch, tokens, units] or [batch, units, tokens]`, `${field}.tensor`);
      }
      const units = s.dims[l.unitAxis];
      let sheet;
      try {
        sheet = resolveLayout(l.layout, units);
      } catch (e) {
        if (e instanceof LayoutError) {
          throw new ValidationError(`${field}.layout: ${e.message} (tensor '${l.tensor}' has ${units} units on axis ${l.unitAxis})`, `${field}.layout${e.field ? '.' + e.field : ''}`);
        }
        throw e;
      }
      sheets.push({ layer: l.name, sheet });
      layerTypes.push(s.type);
      layers.push({
        name: l.name,
        tensor: l.tensor,
        unitAxis: l.unitAxis,
        pooling: l.pooling ?? 'mean',
        units,
        rows: sheet.rows,
        cols: sheet.cols,
        probeShape: s.dims,
      });
    });
  } finally {
    await session.close();
  }
  // Behaviour outputs: a second edited copy for lesions (the pruned copy above stays lean for contrasts).
  let lesion: LesionInfo | undefined;
  // (The lesion edit works on the model in memory: registration of a model with outputs holds it once.)
  if (outputs.length) lesion = await buildLesionCopy(ctx, await fs.promises.readFile(onnxPath), outputs, layers, layerTypes, dir, () => ({ feeds: probeFeeds(manifest, batch, dir).feeds, batch }), manifest.name);
  const dt = (t: number | null) => (t === null ? 'unknown' : (ELEM_TYPE_NAMES[t] ?? `type ${t}`));
  return {
    manifest,
    sheets,
    info: {
      inputs: info.inputs.map((i) => ({ name: i.name, type: dt(i.elemType), dims: i.dims ?? [] })),
      outputs: info.outputs.map((i) => ({ name: i.name, type: dt(i.elemType), dims: i.dims ?? [] })),
      opsets: info.opsets,
      externalDataFiles: info.externalDataFiles,
      dynamicBatch,
      layers,
      files: [],
      ...(lesion ? { lesion } : {}),
    },
  };
}

function sideFiles(manifest: Manifest, info: ModelInfo | { externalDataFiles: string[] }): string[] {
  const files = [...info.externalDataFiles];
  if (manifest.input.text?.tokenizer.type === 'huggingface') files.push(manifest.input.text.tokenizer.file);
  files.push(...outputSideFiles(manifest));
  return files;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Content hash of a model folder: canonical manifest plus the hashes of model.onnx and its side files. */
export async function modelHashOf(dir: string): Promise<{ hash: string; manifest: Manifest; files: { name: string; sha256: string; bytes: number }[]; header: ModelInfo }> {
  const manifest = parseManifest(fs.readFileSync(path.join(dir, MANIFEST_FILE)));
  const onnxPath = path.join(dir, MODEL_FILE);
  if (fs.statSync(onnxPath).size === 0) throw new ValidationError('model.onnx is empty', 'model');
  // The header from the graph's structure, the hash streamed: the file is never held in memory.
  let header: ModelInfo;
  try {
    header = inspectModelFile(onnxPath);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new ValidationError(`model.onnx: ${e.message}`, 'model');
    throw e;
  }
  const files: { name: string; sha256: string; bytes: number }[] = [{ name: MODEL_FILE, ...(await sha256File(onnxPath)) }];
  for (const f of sideFiles(manifest, header)) {
    const p = path.resolve(dir, f);
    if (!p.startsWith(path.resolve(dir) + path.sep)) throw new ValidationError(`side file '${f}' lies outside the model folder`, 'manifest');
    if (!fs.existsSync(p)) continue; // validateModelDir reports it with the right field
    files.push({ name: f, ...(await sha256File(p)) });
  }
  const hash = sha256(`${canonical(manifest)}\n${files.map((f) => `${f.name}:${f.sha256}`).join('\n')}`);
  return { hash, manifest, files, header };
}

/**
 * Registers the model held in `staging` (a folder the caller owns, with model.onnx, manifest.json
 * and side files). Moves it into the store on success; removes it on failure or when the same
 * model is already registered. Returns the record and whether it was new.
 */
export async function registerStagedModel(
  ctx: Context,
  staging: string,
  source: string,
  known?: Awaited<ReturnType<typeof modelHashOf>>,
): Promise<{ model: ModelRecord; created: boolean }> {
  try {
    // The hash of a copied folder is the hash of its source: no second pass over the bytes.
    const { hash, manifest, files } = known ?? (await modelHashOf(staging));
    const existing = getModelByHash(ctx.db, hash);
    if (existing) return { model: existing, created: false };
    const { info, sheets } = await validateModelDir(ctx, staging);
    info.files = files;
    const id = hash.slice(0, 16);
    const dirRel = path.join('models', hash);
    const final = path.join(ctx.paths.data, dirRel);
    rmrf(final); // a leftover of an interrupted registration has no row: replace it
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.renameSync(staging, final);
    const record: ModelRecord = {
      id,
      hash,
      name: manifest.name,
      modality: manifest.modality,
      manifest,
      onnxSha256: files[0].sha256,
      dir: dirRel,
      sizeBytes: files.reduce((s, f) => s + f.bytes, 0),
      info,
      source,
      createdAt: nowIso(),
    };
    try {
      ctx.db.transaction(() => {
        insertModel(ctx.db, record);
        putSheets(ctx.db, record.id, sheets);
      })();
    } catch (e) {
      // A concurrent registration of the same model won the race.
      const again = getModelByHash(ctx.db, hash);
      if (again) return { model: again, created: false };
      rmrf(final);
      throw e;
    }
    return { model: record, created: true };
  } finally {
    rmrf(staging);
  }
}

/**
 * Registers a model from a server-side folder. Client-given folders must lie inside the configured
 * models roots; `trusted` (bundled fixtures, the CLI's own arguments) skips that check.
 */
export async function registerModelFromFolder(
  ctx: Context,
  folder: string,
  opts: { source?: string; trusted?: boolean } = {},
): Promise<{ model: ModelRecord; created: boolean }> {
  const dir = opts.trusted ? path.resolve(folder) : resolveInsideRoots(folder, ctx.config.modelsRoots, 'path');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ValidationError(`path '${folder}' is not a folder`, 'path');
  for (const f of [MODEL_FILE, MANIFEST_FILE]) {
    if (!fs.existsSync(path.join(dir, f))) throw new ValidationError(`folder '${folder}' has no ${f}`, 'path');
  }
  const known = await modelHashOf(dir);
  const { hash, manifest, header } = known;
  const existing = getModelByHash(ctx.db, hash);
  if (existing) return { model: existing, created: false };
  const staging = tmpDir(ctx.paths.tmp, 'model-');
  try {
    await fs.promises.copyFile(path.join(dir, MODEL_FILE), path.join(staging, MODEL_FILE));
    await fs.promises.copyFile(path.join(dir, MANIFEST_FILE), path.join(staging, MANIFEST_FILE));
    for (const f of sideFiles(manifest, header)) {
      const src = path.resolve(dir, f);
      if (fs.existsSync(src)) {
        fs.mkdirSync(path.dirname(path.join(staging, f)), { recursive: true });
        fs.copyFileSync(src, path.join(staging, f));
      }
    }
  } catch (e) {
    rmrf(staging);
    throw e;
  }
  return registerStagedModel(ctx, staging, opts.source ?? `folder:${dir}`, known);
}

const SAFE_NAME = /^[A-Za-z0-9_.-]{1,200}$/;

/** One part of a multipart upload: a text field or a file stream. */
export type UploadPart =
  | { type: 'field'; fieldname: string; value: unknown }
  | { type: 'file'; fieldname: string; filename: string; file: NodeJS.ReadableStream };

/** Streams a multipart model upload into a staging folder. */
async function stageUpload(parts: AsyncIterable<UploadPart>, staging: string): Promise<void> {
  let sawModel = false;
  let sawManifest = false;
  for await (const part of parts) {
    if (part.type === 'field') {
      if (part.fieldname === 'manifest') {
        fs.writeFileSync(path.join(staging, MANIFEST_FILE), String(part.value));
        sawManifest = true;
        continue;
      }
      throw new ValidationError(`unknown form field '${part.fieldname}'; send 'model' (file), 'manifest' (file or text) and side files`, part.fieldname);
    }
    let name: string;
    if (part.fieldname === 'model') name = MODEL_FILE;
    else if (part.fieldname === 'manifest') name = MANIFEST_FILE;
    else {
      name = path.basename(part.filename || part.fieldname);
      if (!SAFE_NAME.test(name) || name === MODEL_FILE || name === MANIFEST_FILE || name.startsWith('.')) {
        throw new ValidationError(`side file name '${part.filename}' is not allowed: use letters, digits, '.', '_' and '-'`, part.fieldname);
      }
    }
    await pipeline(part.file, fs.createWriteStream(path.join(staging, name)));
    if (name === MODEL_FILE) sawModel = true;
    if (name === MANIFEST_FILE) sawManifest = true;
  }
  if (!sawModel) throw new ValidationError("the upload has no 'model' file (model.onnx)", 'model');
  if (!sawManifest) throw new ValidationError("the upload has no 'manifest' (manifest.json)", 'manifest');
  if (fs.statSync(path.join(staging, MODEL_FILE)).size === 0) throw new ValidationError('the uploaded model file is empty', 'model');
  if (fs.statSync(path.join(staging, MANIFEST_FILE)).size === 0) throw new ValidationError('the uploaded manifest is empty', 'manifest');
}

/** Registers a model sent as a multipart upload (model, manifest, side files). */
export async function registerUpload(ctx: Context, parts: AsyncIterable<UploadPart>): Promise<{ model: ModelRecord; created: boolean }> {
  const staging = tmpDir(ctx.paths.tmp, 'upload-');
  try {
    await stageUpload(parts, staging);
  } catch (e) {
    rmrf(staging);
    throw e;
  }
  return registerStagedModel(ctx, staging, 'upload');
}

/** A model as the API shows it. */
export function modelView(m: ModelRecord) {
  return {
    id: m.id,
    hash: m.hash,
    name: m.name,
    modality: m.modality,
    source: m.source,
    sizeBytes: m.sizeBytes,
    createdAt: m.createdAt,
    manifest: m.manifest,
    inputs: m.info.inputs,
    dynamicBatch: m.info.dynamicBatch,
    layers: m.info.layers,
    files: m.info.files,
  };
}

export function listModelViews(ctx: Context, q: { limit?: number; offset?: number; modality?: 'image' | 'text' }) {
  const limit = q.limit ?? 50;
  const offset = q.offset ?? 0;
  const r = listModels(ctx.db, { limit, offset, modality: q.modality });
  return { items: r.items.map(modelView), total: r.total, limit, offset };
}

/** By id, or else the latest model registered under that name. */
export function requireModel(ctx: Context, id: string): ModelRecord {
  const m = findModel(ctx.db, id);
  if (!m) throw new NotFoundError('model', id);
  return m;
}


/** Deletes a model. Refused while a job uses it; finished contrasts go too only with `cascade`. */
export function deleteModel(ctx: Context, ref: string, cascade: boolean): void {
  const m = requireModel(ctx, ref);
  const id = m.id;
  const active = activeJobsForModel(ctx.db, id);
  if (active > 0) throw new ConflictError(`model '${id}' is used by ${active} queued or running job(s); cancel them or wait for them to finish`);
  const done = jobsForModel(ctx.db, id);
  if (done > 0 && !cascade) {
    throw new ConflictError(`model '${id}' has ${done} stored contrast(s); delete with ?cascade=true to remove them too`);
  }
  for (const j of deleteModelAndJobs(ctx.db, id)) rmrf(activationsDir(ctx, j));
  rmrf(modelDir(ctx, m));
}

export interface TensorListing {
  name: string;
  opType: string;
  node: string;
  type: string;
  shape: number[];
  isLayer: string | null;
}

/** Every tensor the graph produces, with its op type and the shape ORT reports on a probe input built from `manifest` (batch of 1). */
async function probeTensors(ctx: Context, modelPath: string, manifest: Manifest, dir: string): Promise<TensorListing[]> {
  let feeds: Record<string, FeedSpec>;
  try {
    feeds = probeFeeds(manifest, 1, dir).feeds;
  } catch (e) {
    if (e instanceof StimulusError) throw new ValidationError(e.message, 'manifest.input.text.tokenizer');
    throw e;
  }
  let tensors;
  try {
    tensors = await listTensorsInChild(modelPath, feeds, nativeOpts(ctx, manifest.name));
  } catch (e) {
    if (e instanceof NativeChildError && e.failure.kind === 'timeout') throw new AppError(504, 'TIMEOUT', e.message);
    throw new UnprocessableError(`listing the tensors failed: ${(e as Error).message}`);
  }
  const layerOf = new Map(manifest.layers.map((l) => [l.tensor, l.name]));
  return tensors.map((t) => ({ name: t.name, opType: t.opType, node: t.node, type: t.type, shape: t.shape, isLayer: layerOf.get(t.name) ?? null }));
}

/** Every intermediate tensor of a registered model with its op type and probe shape (cached). */
export async function listTensors(ctx: Context, m: ModelRecord): Promise<TensorListing[]> {
  const dir = modelDir(ctx, m);
  const cache = path.join(dir, 'tensors.json');
  if (fs.existsSync(cache)) return JSON.parse(fs.readFileSync(cache, 'utf8')) as TensorListing[];
  const out = await probeTensors(ctx, path.join(dir, MODEL_FILE), m.manifest, dir);
  fs.writeFileSync(cache, JSON.stringify(out));
  return out;
}

/** A manifest whose `layers` may be missing or empty (for inspecting a model before choosing layers). */
const InspectManifestCheck = TypeCompiler.Compile(Type.Object({ ...ManifestSchema.properties, layers: Type.Optional(Type.Array(LayerSchema)) }, { additionalProperties: false }));

/**
 * Lists the tensors of an uploaded model without registering it: the manifest needs `input`; its
 * `layers` may be empty. Nothing is stored.
 */
export async function inspectUpload(ctx: Context, parts: AsyncIterable<UploadPart>) {
  const staging = tmpDir(ctx.paths.tmp, 'inspect-');
  try {
    await stageUpload(parts, staging);
    let value: unknown;
    try {
      value = JSON.parse(fs.readFileSync(path.join(staging, MANIFEST_FILE), 'utf8'));
    } catch (e) {
      throw new ValidationError(`manifest.json is not valid JSON: ${(e as Error).message}`, 'manifest');
    }
    if (!InspectManifestCheck.Check(value)) {
      const e = [...InspectManifestCheck.Errors(value)].sort((x, y) => y.path.length - x.path.length)[0];
      const field = jsonPointerToField(e.path);
      throw new ValidationError(`${field}: ${e.message}`, field);
    }
    const manifest = { ...(value as Manifest), layers: (value as Partial<Manifest>).layers ?? [] };
    if (!manifest.input[manifest.modality]) throw new ValidationError(`manifest.input.${manifest.modality} is required for a ${manifest.modality} model`, `manifest.input.${manifest.modality}`);
    const onnxPath = path.join(staging, MODEL_FILE);
    let info: ModelInfo;
    try {
      info = inspectModelFile(onnxPath);
    } catch (e) {
      if (e instanceof OnnxFormatError) throw new ValidationError(`model.onnx: ${e.message}`, 'model');
      throw e;
    }
    for (const f of info.externalDataFiles) {
      if (!fs.existsSync(path.join(staging, f))) throw new ValidationError(`model.onnx keeps weights in the external data file '${f}', which was not provided beside it`, 'model');
    }
    const inputNames = info.inputs.map((i) => i.name);
    const fed = [manifest.input.image?.name, manifest.input.text?.idsInput, manifest.input.text?.maskInput].filter((n): n is string => !!n);
    for (const n of fed) {
      if (!inputNames.includes(n)) throw new ValidationError(`the model has no input '${n}'; its inputs are ${inputNames.map((x) => `'${x}'`).join(', ')}`, 'manifest.input');
    }
    const unfed = inputNames.filter((n) => !fed.includes(n));
    if (unfed.length) throw new ValidationError(`the model has inputs the manifest does not feed: ${unfed.map((n) => `'${n}'`).join(', ')}`, 'manifest.input');
    const dt = (t: number | null) => (t === null ? 'unknown' : (ELEM_TYPE_NAMES[t] ?? `type ${t}`));
    return {
      inputs: info.inputs.map((i) => ({ name: i.name, type: dt(i.elemType), dims: i.dims ?? [] })),
      outputs: info.outputs.map((i) => ({ name: i.name, type: dt(i.elemType), dims: i.dims ?? [] })),
      tensors: await probeTensors(ctx, path.join(staging, MODEL_FILE), manifest, staging),
    };
  } finally {
    rmrf(staging);
  }
}

/** A layer's sheet, as stored at registration. */
export function sheetOf(ctx: Context, m: ModelRecord, layer: string): SheetLayout {
  const s = getSheet(ctx.db, m.id, layer);
  if (!s) throw new NotFoundError(`sheet of model ${m.id}`, layer);
  return s;
}

/** Stores the sheets of models registered before sheets were stored (once, at start-up). */
export function backfillSheets(ctx: Context): number {
  let n = 0;
  for (const m of listModels(ctx.db, { limit: 1e9, offset: 0 }).items) {
    const missing = m.info.layers.filter((l) => !getSheet(ctx.db, m.id, l.name));
    if (missing.length === 0) continue;
    putSheets(
      ctx.db,
      m.id,
      missing.map((l) => ({ layer: l.name, sheet: resolveLayout(m.manifest.layers.find((x) => x.name === l.name)?.layout, l.units) })),
    );
    n += missing.length;
  }
  return n;
}

/** By id, or else the latest model registered under that name; null when there is none. */
export function findModelRecord(ctx: Context, ref: string): ModelRecord | null {
  return findModel(ctx.db, ref);
}
