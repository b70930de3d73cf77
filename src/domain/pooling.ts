/**
 * Pooling in the graph: a copy of a model that reduces a layer to one value per unit per sample
 * itself (mean or max over its token or spatial positions), so a run returns B×U numbers per layer
 * instead of the whole activation tensor. The names the copy gives its new tensors.
 */
import type { ImageInput, Pooling } from './manifest.ts';

const PREFIX = 'toposcope/pool/';

/** Text copies: a bool input [batch, tokens], true at the real (not padded) positions. */
export const TOKEN_MASK_INPUT = `${PREFIX}token_mask`;

/**
 * Image copies that take 8-bit pixels: a uint8 input [batch, height, width, channels] (the decoded
 * pixels as they are cached), turned into the model's normalised N×C×H×W float32 input in the graph.
 */
export const PIXELS_INPUT = `${PREFIX}pixels`;

/** The image input a copy computes from 8-bit pixels, and its normalisation (one mean and std per channel). */
export interface PixelSpec {
  /** The model's N×C×H×W float32 image input, computed by the copy instead of fed. */
  input: string;
  height: number;
  width: number;
  channels: number;
  mean: number[];
  std: number[];
}

/** The mean and std of each channel (a manifest may give one value for all channels). */
export function channelNorm(image: Pick<ImageInput, 'channels' | 'mean' | 'std'>): { mean: number[]; std: number[] } {
  const at = (v: number[], c: number) => v[Math.min(c, v.length - 1)];
  return { mean: Array.from({ length: image.channels }, (_, c) => at(image.mean, c)), std: Array.from({ length: image.channels }, (_, c) => at(image.std, c)) };
}

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
