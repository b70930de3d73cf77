/**
 * The tensors of an in-graph score (onnx/lesion.ts) by name. Apart from the lesion documents
 * (lesion.ts), so that a session, which only needs the names, does not load the schema library.
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
