/**
 * Registration of a manifest's behaviour outputs (`outputs`: the logits lesions are scored on): check
 * them against the graph, resolve class names, build the lesion copy of the model (layers and outputs
 * kept, a lesion site after every float32 layer) and probe it through ONNX Runtime.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../domain/errors.ts';
import type { BehaviourOutput, LesionInfo } from '../domain/lesion.ts';
import type { Manifest } from '../domain/manifest.ts';
import type { LayerInfo } from '../domain/records.ts';
import { SessionPool } from '../inference/pool.ts';
import type { FeedSpec } from '../inference/worker-protocol.ts';
import { addLesionSites, LesionEditError } from '../onnx/lesion.ts';
import { pruneToTensors, type ModelInfo } from '../onnx/model.ts';
import type { Context } from '../store/context.ts';
import { LESION_FILE } from '../store/files.ts';

/** The side files the outputs name (class-name files). */
export function outputSideFiles(m: Manifest): string[] {
  const out: string[] = [];
  for (const o of m.outputs ?? []) if (o.classes && !Array.isArray(o.classes)) out.push(o.classes.file);
  return out;
}

export interface CheckedOutput {
  name: string;
  tensor: string;
  kind: 'lm' | 'classifier';
  classes: string[] | null;
}

/** Static checks of `outputs` (before any session): names, kinds, tensors, class names. */
export function checkOutputs(m: Manifest, info: ModelInfo, dir: string): CheckedOutput[] {
  const produced = new Set<string>();
  for (const n of info.nodes) for (const o of n.outputs) if (o) produced.add(o);
  const seen = new Set<string>();
  return (m.outputs ?? []).map((o, i) => {
    const field = `manifest.outputs[${i}]`;
    const name = o.name ?? o.tensor;
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) throw new ValidationError(`${field}.name: '${name}' cannot name an output (letters, digits, _ . : -); give 'name'`, `${field}.name`);
    if (seen.has(name)) throw new ValidationError(`${field}.name '${name}' is used by two outputs`, `${field}.name`);
    seen.add(name);
    if (!produced.has(o.tensor)) throw new ValidationError(`${field}.tensor: the model has no tensor '${o.tensor}' produced by a node`, `${field}.tensor`);
    if (o.kind === 'lm' && m.modality !== 'text') throw new ValidationError(`${field}.kind 'lm' needs a text model`, `${field}.kind`);
    if (o.kind === 'lm' && o.classes) throw new ValidationError(`${field}.classes: an 'lm' output has no class names`, `${field}.classes`);
    let classes: string[] | null = null;
    if (o.classes) {
      if (Array.isArray(o.classes)) classes = o.classes;
      else {
        const file = path.resolve(dir, o.classes.file);
        if (!file.startsWith(path.resolve(dir) + path.sep) || !fs.existsSync(file)) {
          throw new ValidationError(`${field}.classes.file '${o.classes.file}' was not provided beside the model`, `${field}.classes.file`);
        }
        let v: unknown;
        try {
          v = JSON.parse(fs.readFileSync(file, 'utf8'));
        } catch (e) {
          throw new ValidationError(`${field}.classes.file '${o.classes.file}' is not JSON: ${(e as Error).message}`, `${field}.classes.file`);
        }
        if (!Array.isArray(v) || v.length < 2 || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 200)) {
          throw new ValidationError(`${field}.classes.file '${o.classes.file}' must hold a JSON array of at least two class names`, `${field}.classes.file`);
        }
        classes = v as string[];
      }
      const dup = classes.find((c, k) => classes!.indexOf(c) !== k);
      if (dup !== undefined) throw new ValidationError(`${field}.classes: class '${dup}' is listed twice`, `${field}.classes`);
    }
    return { name, tensor: o.tensor, kind: o.kind, classes };
  });
}

/**
 * Writes the lesion copy of the model beside it and probes it: every layer site fed intact, each
 * output's shape checked against its kind (lm: [batch, tokens, vocabulary]; classifier: [batch, classes]
 * with as many classes as names). `probe` builds a fresh probe batch (feeds are transferred to the session);
 * `label` names the model in failures.
 */
export async function buildLesionCopy(
  ctx: Context,
  bytes: Uint8Array,
  outputs: CheckedOutput[],
  layers: LayerInfo[],
  layerTypes: string[],
  dir: string,
  probe: () => { feeds: Record<string, FeedSpec>; batch: number },
  label: string,
): Promise<LesionInfo> {
  const pruned = pruneToTensors(bytes, [...new Set([...layers.map((l) => l.tensor), ...outputs.map((o) => o.tensor)])]);
  const specs = layers
    .map((l, i) => ({ l, type: layerTypes[i] }))
    .filter((x) => x.type === 'float32')
    .map(({ l }) => ({ layer: l.name, tensor: l.tensor, unitAxis: l.unitAxis, rank: l.probeShape.length, units: l.units }));
  let edited: ReturnType<typeof addLesionSites>;
  try {
    edited = addLesionSites(
      pruned,
      specs,
      outputs.filter((o) => o.kind === 'lm').map((o) => o.tensor),
    );
  } catch (e) {
    if (e instanceof LesionEditError) throw new ValidationError(`manifest.outputs: the model cannot be edited for lesions: ${e.message}`, 'manifest.outputs');
    throw e;
  }
  const file = path.join(dir, LESION_FILE);
  await fs.promises.writeFile(file, edited.bytes);
  const siteOf = new Map(edited.sites.map((s) => [s.tensor, s]));
  const fetchOf = (tensor: string) => siteOf.get(tensor)?.output ?? tensor;
  let pool: SessionPool;
  try {
    pool = await SessionPool.create(file, { workers: 1, intraOpThreads: ctx.config.intraOpThreads, lesion: { sites: edited.sites, config: null }, label });
  } catch (e) {
    throw new ValidationError(`the lesion copy of model.onnx does not load in ONNX Runtime: ${(e as Error).message}`, 'manifest.outputs');
  }
  try {
    const { feeds, batch } = probe();
    let shapes;
    try {
      shapes = await pool.probe(feeds, outputs.map((o) => fetchOf(o.tensor)));
    } catch (e) {
      throw new ValidationError(`the behaviour outputs failed on a probe input: ${(e as Error).message}`, 'manifest.outputs');
    }
    const out: BehaviourOutput[] = outputs.map((o, i) => {
      const s = shapes[i];
      const field = `manifest.outputs[${i}]`;
      if (s.type !== 'float32') throw new ValidationError(`${field}.tensor '${o.tensor}' is of type ${s.type}; logits must be float32`, `${field}.tensor`);
      if (s.dims[0] !== batch) throw new ValidationError(`${field}.tensor '${o.tensor}' does not have the batch on axis 0 (shape [${s.dims.join(', ')}])`, `${field}.tensor`);
      if (o.kind === 'lm' && s.dims.length !== 3) throw new ValidationError(`${field}.tensor '${o.tensor}' has shape [${s.dims.join(', ')}]; 'lm' logits are [batch, tokens, vocabulary]`, `${field}.tensor`);
      if (o.kind === 'classifier') {
        if (s.dims.length !== 2) throw new ValidationError(`${field}.tensor '${o.tensor}' has shape [${s.dims.join(', ')}]; 'classifier' logits are [batch, classes]`, `${field}.tensor`);
        if (o.classes && o.classes.length !== s.dims[1]) {
          throw new ValidationError(`${field}.classes: ${o.classes.length} class names for ${s.dims[1]} logits`, `${field}.classes`);
        }
      }
      const score = edited.scores.get(o.tensor);
      return { name: o.name, tensor: o.tensor, fetch: fetchOf(o.tensor), kind: o.kind, probeShape: s.dims, classes: o.classes, ...(score ? { score } : {}) };
    });
    return { file: LESION_FILE, sites: edited.sites, outputs: out };
  } finally {
    await pool.close();
  }
}
