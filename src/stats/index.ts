/**
 * toposcope statistics: pure kernels over typed arrays (no I/O).
 */
export * from './moments.ts';
export * from './tdist.ts';
export * from './ttest.ts';
export * from './correction.ts';
export * from './rng.ts';
export * from './clusters.ts';
export * from './tfce.ts';
export * from './moran.ts';
export * from './smoothness.ts';
export * from './reliability.ts';
export * from './compare.ts';
export * from './masks.ts';
export * from './permutation.ts';
export * from './special.ts';
