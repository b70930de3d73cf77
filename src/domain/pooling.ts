/**
 * Pooling in the graph: a copy of a model that reduces a layer to one value per unit per sample
 * itself (mean or max over its token or spatial positions), so a run returns B×U numbers per layer
 * instead of the whole activation tensor. The names the copy gives its new tensors.
 */
import type { Pooling } from './manifest.ts';

const PREFIX = 'toposcope/pool/';

/** Text copies: a bool input [batch, tokens], true at the real (not padded) positions. */
export const TOKEN_MASK_INPUT = `${PREFIX}token_mask`;

/** The output holding `tensor` pooled (`mean` or `max`) along every axis but the batch and `unitAxis`. */
export function pooledOutputName(tensor: string, unitAxis: number, pooling: Pooling): string {
  return `${PREFIX}${pooling}/${unitAxis}/${tensor}`;
}

/** What the copy pools: a layer tensor, its unit axis, its rank, and the pooling. */
export interface PooledSpec {
  tensor: string;
  unitAxis: number;
  rank: number;
  pooling: 'mean' | 'max';
}
