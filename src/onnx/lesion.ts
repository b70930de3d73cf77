/**
 * The lesion edit: after each chosen layer tensor x, insert y = x·m + o (Mul, then Add), with m and o
 * new float32 graph inputs shaped to broadcast along the unit axis, and rewire every consumer of x to
 * read y. x itself, and everything upstream of it, is untouched; y is added to the graph outputs.
 * Fed m = 1 and o = 0, the model computes exactly what it computed before (x·1 + 0 = x in IEEE
 * arithmetic), so one session serves the intact model, a lesion and all its controls.
 *
 * Language-model outputs are also scored in the graph: for logits z (B×T×V) and a new int64 input of
 * target ids (B×T×1), nll = −GatherElements(LogSoftmax(z, axis −1), targets, axis −1) is a new output
 * (B×T×1), so a run returns B×T numbers instead of B×T×V logits. Runs that do not score feed
 * the targets as [1, 1, 1] zeros (SessionCore does).
 *
 * Weights are never decoded: nodes that read x are re-encoded with the new input name, the new nodes
 * are spliced in right after the node producing x (the file stays topologically sorted), and every
 * other byte of the model is copied.
 */
import type { LesionSite } from '../domain/lesion.ts';
import { scoreNames, type LmScore } from '../domain/scoring.ts';
import { int, nodeBytes, valueInfo } from './build.ts';
import { GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_NODE, GRAPH_OUTPUT, NODE_INPUT, NODE_OP_TYPE, NODE_OUTPUT, TP_NAME, VI_NAME } from './fields.ts';
import { CONTROL_FLOW, defaultDomainOpset, OnnxFormatError, opsetsOf, parseTop, rebuildModel } from './model.ts';
import { concat, fieldString, lenField, readFields, stringField, type Field } from './proto.ts';

export class LesionEditError extends Error {}

/** Where a layer can be lesioned: its tensor, unit axis, rank and unit count (from the registration probe). */
export interface LesionSiteSpec {
  layer: string;
  tensor: string;
  unitAxis: number;
  rank: number;
  units: number;
}

const PREFIX = 'toposcope/lesion/';

/** The names the edit gives the site of a layer, and the broadcast shape of its m and o. */
export function siteOf(spec: LesionSiteSpec): LesionSite {
  if (!(spec.unitAxis >= 1 && spec.unitAxis < spec.rank)) throw new LesionEditError(`layer '${spec.layer}': unit axis ${spec.unitAxis} is out of range for rank ${spec.rank}`);
  const dims = Array.from({ length: spec.rank }, (_, i) => (i === spec.unitAxis ? spec.units : 1));
  const base = `${PREFIX}${spec.layer}`;
  return { layer: spec.layer, tensor: spec.tensor, output: `${base}/y`, scaleInput: `${base}/scale`, offsetInput: `${base}/offset`, dims, units: spec.units };
}

/**
 * The scoring nodes of one lm output (logits rank 3). LogSoftmax then GatherElements: ONNX Runtime's
 * LogSoftmax is vectorised (≈ 3.5× faster here than ReduceLogSumExp − GatherElements on GPT-2's 50,257
 * logits); for the last axis its pre-13 2-D coercion computes the same thing.
 */
function scoreNodes(logits: string, score: LmScore): Uint8Array[] {
  const { base, logp, picked } = scoreInternals(score);
  return [
    nodeBytes([logits], [logp], `${base}/LogSoftmax`, 'LogSoftmax', { axis: int(-1) }),
    nodeBytes([logp, score.targets], [picked], `${base}/GatherElements`, 'GatherElements', { axis: int(2) }),
    nodeBytes([picked], [score.nll], `${base}/Neg`, 'Neg'),
  ];
}

/** The intermediate tensors of a score, named beside its nll output. */
function scoreInternals(score: LmScore): { base: string; logp: string; picked: string } {
  const base = score.nll.slice(0, -'/nll'.length);
  return { base, logp: `${base}/logp`, picked: `${base}/picked` };
}

/**
 * Returns a copy of the model with a lesion site after each given layer tensor, and in-graph scoring
 * of each `lmOutputs` tensor (language-model logits; skipped below opset 11, which lacks GatherElements:
 * such outputs are scored from their logits). Refuses graphs with control-flow nodes (their subgraphs
 * may read x without naming it), tensors that no node produces, and names that would collide.
 */
export function addLesionSites(
  buf: Uint8Array,
  specs: LesionSiteSpec[],
  lmOutputs: string[] = [],
): { bytes: Uint8Array; sites: LesionSite[]; scores: Map<string, LmScore> } {
  let p;
  try {
    p = parseTop(buf);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new LesionEditError(e.message);
    throw e;
  }
  const sites = specs.map(siteOf);
  const byTensor = new Map<string, LesionSite>();
  for (const s of sites) {
    if (byTensor.has(s.tensor)) throw new LesionEditError(`tensor '${s.tensor}' is named by two layers; each lesion site needs its own tensor`);
    byTensor.set(s.tensor, s);
  }
  // Every name in use, to refuse collisions with the new ones.
  const used = new Set<string>();
  const nodes: { f: Field; fields: Field[]; inputs: string[]; outputs: string[]; op: string }[] = [];
  for (const f of p.graphFields) {
    if (f.no === GRAPH_NODE) {
      const fields = readFields(buf, f.valueStart, f.end);
      const n = { f, fields, inputs: [] as string[], outputs: [] as string[], op: '' };
      for (const nf of fields) {
        if (nf.no === NODE_INPUT) n.inputs.push(fieldString(buf, nf));
        else if (nf.no === NODE_OUTPUT) n.outputs.push(fieldString(buf, nf));
        else if (nf.no === NODE_OP_TYPE) n.op = fieldString(buf, nf);
      }
      for (const o of n.outputs) used.add(o);
      nodes.push(n);
    } else if (f.no === GRAPH_INPUT || f.no === GRAPH_INITIALIZER) {
      const nameF = readFields(buf, f.valueStart, f.end).find((x) => x.no === (f.no === GRAPH_INPUT ? VI_NAME : TP_NAME));
      if (nameF) used.add(fieldString(buf, nameF));
    }
  }
  const opset = defaultDomainOpset(opsetsOf(buf, p.modelFields));
  const scores = new Map<string, LmScore>();
  if (opset >= 11) lmOutputs.forEach((tensor, i) => scores.set(tensor, scoreNames(i)));
  const cf = nodes.find((n) => CONTROL_FLOW.has(n.op));
  if (cf) throw new LesionEditError(`the graph has a control-flow node (${cf.op}); lesion sites are not added to such graphs`);
  for (const s of sites) {
    if (!nodes.some((n) => n.outputs.includes(s.tensor))) throw new LesionEditError(`no node of the graph produces tensor '${s.tensor}' (layer '${s.layer}')`);
    for (const name of [s.output, s.scaleInput, s.offsetInput, `${PREFIX}${s.layer}/scaled`]) {
      if (used.has(name)) throw new LesionEditError(`the graph already has a tensor named '${name}'`);
    }
  }
  for (const [tensor, sc] of scores) {
    if (!nodes.some((n) => n.outputs.includes(tensor))) throw new LesionEditError(`no node of the graph produces output tensor '${tensor}'`);
    const { logp, picked } = scoreInternals(sc);
    for (const name of [sc.targets, sc.nll, logp, picked]) {
      if (used.has(name)) throw new LesionEditError(`the graph already has a tensor named '${name}'`);
    }
  }

  const parts: Uint8Array[] = [];
  for (const f of p.graphFields) {
    if (f.no !== GRAPH_NODE) {
      parts.push(buf.subarray(f.start, f.end));
      continue;
    }
    const n = nodes.find((x) => x.f === f)!;
    if (n.inputs.some((i) => byTensor.has(i))) {
      // Re-encode: the same fields, inputs renamed from x to y.
      const payload = n.fields.map((nf) => {
        if (nf.no === NODE_INPUT) {
          const s = byTensor.get(fieldString(buf, nf));
          if (s) return stringField(NODE_INPUT, s.output);
        }
        return buf.subarray(nf.start, nf.end);
      });
      parts.push(lenField(GRAPH_NODE, concat(payload)));
    } else {
      parts.push(buf.subarray(f.start, f.end));
    }
    for (const o of n.outputs) {
      const s = byTensor.get(o);
      if (!s) continue;
      const scaled = `${PREFIX}${s.layer}/scaled`;
      parts.push(nodeBytes([s.tensor, s.scaleInput], [scaled], `${PREFIX}${s.layer}/Mul`, 'Mul'));
      parts.push(nodeBytes([scaled, s.offsetInput], [s.output], `${PREFIX}${s.layer}/Add`, 'Add'));
    }
  }
  // Scoring reads the logits as the lesioned graph computes them (y when the logits are a site themselves).
  for (const [tensor, sc] of scores) parts.push(...scoreNodes(byTensor.get(tensor)?.output ?? tensor, sc));
  for (const s of sites) {
    parts.push(lenField(GRAPH_INPUT, valueInfo(s.scaleInput, 'float32', s.dims)));
    parts.push(lenField(GRAPH_INPUT, valueInfo(s.offsetInput, 'float32', s.dims)));
  }
  for (const sc of scores.values()) parts.push(lenField(GRAPH_INPUT, valueInfo(sc.targets, 'int64', ['batch', 'tokens', 1])));
  for (const s of sites) parts.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, s.output)));
  for (const sc of scores.values()) parts.push(lenField(GRAPH_OUTPUT, stringField(VI_NAME, sc.nll)));
  return { bytes: rebuildModel(buf, p, concat(parts)), sites, scores };
}

/** Dense m and o of one site for a sparse configuration (units not named keep m = 1, o = 0). */
export function denseSite(site: LesionSite, layer: { units: ArrayLike<number>; scale: ArrayLike<number>; offset: ArrayLike<number> } | undefined): { scale: Float32Array; offset: Float32Array } {
  const scale = new Float32Array(site.units).fill(1);
  const offset = new Float32Array(site.units);
  if (layer) {
    for (let k = 0; k < layer.units.length; k++) {
      scale[layer.units[k]] = layer.scale[k];
      offset[layer.units[k]] = layer.offset[k];
    }
  }
  return { scale, offset };
}
