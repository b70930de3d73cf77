/**
 * Independent reference computations for the end-to-end tests: written separately from `src/stats`
 * (two-pass moments, a continued-fraction incomplete beta for the t distribution, a direct
 * Benjamini–Hochberg), so a bug in the service's kernels cannot hide in both.
 */

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta (modified Lentz). */
function betacf(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return Math.exp(lbt) * betacf(a, b, x) / a;
  return 1 - (Math.exp(lbt) * betacf(b, a, 1 - x)) / b;
}

/** Two-sided p of Student's t: P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2). */
export function tTwoSided(t: number, df: number): number {
  return incBeta(df / (df + t * t), df / 2, 0.5);
}

export interface RefStats {
  t: number[];
  df: number[];
  p: number[];
  q: number[];
  meanA: number[];
  meanB: number[];
  varA: number[];
  varB: number[];
  d: number[];
}

/** Welch (or Student) t per unit from per-stimulus rows (two-pass, Float64). */
export function referenceContrast(a: Float64Array[], b: Float64Array[], test: 'welch' | 'student' = 'welch'): RefStats {
  const units = a[0].length;
  const out: RefStats = { t: [], df: [], p: [], q: [], meanA: [], meanB: [], varA: [], varB: [], d: [] };
  const nA = a.length;
  const nB = b.length;
  for (let u = 0; u < units; u++) {
    let sa = 0;
    let sb = 0;
    for (const r of a) sa += r[u];
    for (const r of b) sb += r[u];
    const ma = sa / nA;
    const mb = sb / nB;
    let va = 0;
    let vb = 0;
    for (const r of a) va += (r[u] - ma) ** 2;
    for (const r of b) vb += (r[u] - mb) ** 2;
    va /= nA - 1;
    vb /= nB - 1;
    let t: number;
    let df: number;
    if (test === 'welch') {
      const se2 = va / nA + vb / nB;
      t = (ma - mb) / Math.sqrt(se2);
      df = se2 ** 2 / ((va / nA) ** 2 / (nA - 1) + (vb / nB) ** 2 / (nB - 1));
    } else {
      df = nA + nB - 2;
      const sp2 = ((nA - 1) * va + (nB - 1) * vb) / df;
      t = (ma - mb) / Math.sqrt(sp2 * (1 / nA + 1 / nB));
    }
    const sp = Math.sqrt(((nA - 1) * va + (nB - 1) * vb) / (nA + nB - 2));
    out.t.push(t);
    out.df.push(df);
    out.p.push(tTwoSided(t, df));
    out.meanA.push(ma);
    out.meanB.push(mb);
    out.varA.push(va);
    out.varB.push(vb);
    out.d.push((ma - mb) / sp);
  }
  out.q = benjaminiHochberg(out.p);
  return out;
}

export function benjaminiHochberg(p: number[]): number[] {
  const m = p.length;
  const order = p.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const q = new Array<number>(m);
  let running = 1;
  for (let k = m - 1; k >= 0; k--) {
    const [v, i] = order[k];
    running = Math.min(running, (v * m) / (k + 1));
    q[i] = Math.min(1, running);
  }
  return q;
}

/** Relative closeness with an absolute floor. */
export function close(a: number, b: number, rel: number, abs = 1e-12): boolean {
  return Math.abs(a - b) <= Math.max(abs, rel * Math.max(Math.abs(a), Math.abs(b)));
}
