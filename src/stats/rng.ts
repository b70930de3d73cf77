/**
 * A small seedable PRNG: xoshiro128** (Blackman & Vigna) with its 128-bit state filled from a 32-bit seed
 * by splitmix32. Same seed → same stream on every platform (all arithmetic is 32-bit integer).
 */

export type ShuffleArray = Int32Array | Uint32Array | Float64Array | Float32Array | Uint8Array | Uint16Array | Int16Array;

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal = NaN;

  /** seed: any number; it is reduced to an unsigned 32-bit integer (seed >>> 0). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number (got ${seed})`);
    let x = seed >>> 0;
    const next = (): number => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Unbiased integer in [0, n) for 1 ≤ n ≤ 2³², by rejection of the incomplete top range. */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= 4294967296) || !Number.isInteger(n)) throw new Error(`Rng.nextInt: n must be an integer in [1, 2^32] (got ${n})`);
    if (n === 1) return 0;
    return uniformBelow(this, n);
  }

  /** Standard normal deviate (Marsaglia polar method). */
  nextNormal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const v = this.spareNormal;
      this.spareNormal = NaN;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.nextFloat() - 1;
      v = 2 * this.nextFloat() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    return u * f;
  }

  /**
   * In-place Fisher–Yates shuffle of a[from, to) (the whole array by default); returns a. The draws are
   * `uniformBelow`'s, with the generator's state held in locals for the loop (the same stream).
   */
  shuffle<T extends ShuffleArray>(a: T, from = 0, to: number = a.length): T {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = to - 1; i > from; i--) {
      const n = i - from + 1;
      let r: number;
      for (;;) {
        const m = Math.imul(s1, 5);
        r = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
        const t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        // Rejection of the incomplete top range, as in uniformBelow.
        if (r < 4294967296 - n || r < 4294967296 - (4294967296 % n)) break;
      }
      const j = from + (r - n * Math.floor(r / n));
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return a;
  }

  /** A new independent-looking generator derived from this one (consumes one output). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

/**
 * `nextInt(n)` for an integer 2 ≤ n ≤ 2³² without the checks: the same draws and the same result.
 * A draw r is below the rejection limit (the largest multiple of n ≤ 2³², which exceeds 2³² − n)
 * whenever r < 2³² − n, so the limit is only computed for the rare draws above that; r mod n by
 * division, exact for integers below 2⁵³ (floor(r/n) < 2³² is never rounded up to the next integer).
 */
function uniformBelow(rng: Rng, n: number): number {
  let r = rng.nextUint32();
  if (r >= 4294967296 - n) {
    const limit = 4294967296 - (4294967296 % n);
    while (r >= limit) r = rng.nextUint32();
  }
  return r - n * Math.floor(r / n);
}

/** The integers 0 … n−1 in a random order. */
export function randomPermutation(n: number, rng: Rng): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return rng.shuffle(a);
}
