/** Shared test helpers for the stats kernels (not a test file). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const REF_PATH = fileURLToPath(new URL('../data/stats-reference.json', import.meta.url));

/** tests/data/stats-reference.json (from scripts/reference/make_stats_reference.py), null → NaN. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadReference(): any {
  return JSON.parse(readFileSync(REF_PATH, 'utf8'), (_k, v) => (v === null ? NaN : v));
}

/** |a − e| ≤ rel·|e| + abs, NaN only matches NaN. */
export function expectClose(actual: number, expected: number, rel: number, abs = 0, what = ''): void {
  if (Number.isNaN(expected)) {
    expect(actual, what).toBeNaN();
    return;
  }
  if (!Number.isFinite(expected)) {
    expect(actual, what).toBe(expected);
    return;
  }
  const tol = rel * Math.abs(expected) + abs;
  if (!(Math.abs(actual - expected) <= tol)) {
    throw new Error(`${what}: expected ${expected} ± ${tol}, got ${actual} (rel err ${Math.abs(actual - expected) / Math.abs(expected)})`);
  }
}

export function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, abs = 0, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expectClose(actual[i], expected[i], rel, abs, `${what}[${i}]`);
}
