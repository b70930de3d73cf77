/**
 * The tensors of an in-graph score (onnx/lesion.ts) by name. Apart from the lesion documents
 * (lesion.ts), so that a session, which only needs the names, does not load the schema library.
 */

/**
 * In-graph scoring of a language-model output: feed `targets` (int64 [batch, tokens, 1], the id of the
 * next token at each position), fetch `nll` (float32 [batch, tokens, 1], −log p(target) per position).
 */
export interface LmScore {
  targets: string;
  nll: string;
}

const SCORE_PREFIX = 'toposcope/score/';

/** The names of the i-th scored output's nodes' tensors. */
export function scoreNames(i: number): LmScore {
  return { targets: `${SCORE_PREFIX}${i}/targets`, nll: `${SCORE_PREFIX}${i}/nll` };
}

/** Whether a graph input is the targets of an in-graph score (fed [1, 1, 1] zeros by runs that do not score). */
export function isScoreTargets(input: string): boolean {
  return input.startsWith(SCORE_PREFIX) && input.endsWith('/targets');
}
