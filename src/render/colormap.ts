/**
 * Colours of figures. The diverging and sequential maps are defined by control points in CIELAB and
 * interpolated there, so lightness changes evenly along the scale: the diverging map runs from white
 * (L* 98) at 0 to dark blue / dark red (L* 22) at ∓vmax with equal lightness at ±v. Each is sampled
 * into a 1024-entry table once. Categories use colour-blind-safe qualitative palettes.
 */

export type RGB = [number, number, number];

/** Colour of a missing value (NaN, an empty sheet cell). */
export const NAN_COLOR: RGB = [200, 200, 200];

const LUT_SIZE = 1024;

type LabStop = [t: number, L: number, a: number, b: number];

/** Diverging blue–white–red, t ∈ [−1, 1]. */
const DIVERGING_STOPS: LabStop[] = [
  [-1.0, 22, 8, -40],
  [-0.75, 41, 5, -45],
  [-0.5, 60, -4, -36],
  [-0.25, 79, -8, -19],
  [0.0, 98, 0, 0],
  [0.25, 79, 20, 20],
  [0.5, 60, 45, 38],
  [0.75, 41, 58, 38],
  [1.0, 22, 42, 20],
];

/** Sequential white–yellow–orange–red–plum, t ∈ [0, 1] (for magnitudes such as −log10 p). */
const SEQUENTIAL_STOPS: LabStop[] = [
  [0.0, 98, 0, 5],
  [0.25, 88, -2, 55],
  [0.5, 68, 35, 65],
  [0.75, 45, 60, 45],
  [1.0, 18, 35, -15],
];

function labToRgb(L: number, a: number, b: number): RGB {
  const fy = (L + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - b / 200;
  const d = 6 / 29;
  const finv = (t: number): number => (t > d ? t * t * t : 3 * d * d * (t - 4 / 29));
  // D65 white.
  const X = 0.95047 * finv(fx);
  const Y = finv(fy);
  const Z = 1.08883 * finv(fz);
  const lin = [
    3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z,
    -0.969266 * X + 1.8760108 * Y + 0.041556 * Z,
    0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z,
  ];
  const out = lin.map((c) => {
    const s = c <= 0.0031308 ? 12.92 * c : 1.055 * Math.pow(c, 1 / 2.4) - 0.055;
    return Math.max(0, Math.min(255, Math.round(s * 255)));
  });
  return [out[0], out[1], out[2]];
}

function buildLut(stops: LabStop[]): Uint8Array {
  const lut = new Uint8Array(LUT_SIZE * 3);
  const t0 = stops[0][0];
  const t1 = stops[stops.length - 1][0];
  let k = 0;
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = t0 + ((t1 - t0) * i) / (LUT_SIZE - 1);
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [ta, La, aa, ba] = stops[k];
    const [tb, Lb, ab, bb] = stops[k + 1];
    const f = Math.max(0, Math.min(1, (t - ta) / (tb - ta)));
    const [r, g, b] = labToRgb(La + f * (Lb - La), aa + f * (ab - aa), ba + f * (bb - ba));
    lut[i * 3] = r;
    lut[i * 3 + 1] = g;
    lut[i * 3 + 2] = b;
  }
  return lut;
}

const DIVERGING_LUT = buildLut(DIVERGING_STOPS);
const SEQUENTIAL_LUT = buildLut(SEQUENTIAL_STOPS);

function lookup(lut: Uint8Array, f: number): RGB {
  const i = Math.round((f > 1 ? 1 : f > 0 ? f : 0) * (LUT_SIZE - 1)); // NaN → 0
  return [lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]];
}

export type ColormapName = 'diverging' | 'sequential';

/** Colour at fraction `f` ∈ [0, 1] along a map (clamped; NaN → the low end). */
export function colormapAt(map: ColormapName, f: number): RGB {
  return lookup(map === 'diverging' ? DIVERGING_LUT : SEQUENTIAL_LUT, f);
}

/**
 * (v − lo) / (hi − lo) without overflow for any finite lo < hi; ±Infinity saturate; NaN stays NaN.
 */
export function fraction(v: number, lo: number, hi: number): number {
  if (v === Infinity) return 1;
  if (v === -Infinity) return 0;
  const span = hi - lo;
  if (Number.isFinite(span)) return (v - lo) / span;
  return (v / 2 - lo / 2) / (hi / 2 - lo / 2);
}

/**
 * Diverging colour of `v` on a scale symmetric about 0: −vmax → dark blue, 0 → white, +vmax → dark red.
 * Values beyond ±vmax saturate; NaN gives `NAN_COLOR`. With vmax not a finite positive number only the sign is shown.
 */
export function colorFor(v: number, vmax: number): RGB {
  if (Number.isNaN(v)) return [...NAN_COLOR];
  if (!(vmax > 0 && vmax < Infinity)) return lookup(DIVERGING_LUT, v > 0 ? 1 : v < 0 ? 0 : 0.5);
  return lookup(DIVERGING_LUT, fraction(v, -vmax, vmax));
}

/** Sequential colour of `v` on [vmin, vmax]: vmin → near-white, vmax → dark plum. NaN → `NAN_COLOR`. */
export function sequentialColorFor(v: number, vmin: number, vmax: number): RGB {
  if (Number.isNaN(v)) return [...NAN_COLOR];
  if (!(vmax > vmin) || !Number.isFinite(vmin) || !Number.isFinite(vmax)) return lookup(SEQUENTIAL_LUT, v > vmin ? 1 : 0);
  return lookup(SEQUENTIAL_LUT, fraction(v, vmin, vmax));
}

/**
 * RGB bytes (3 per value) of `values` on a map over finite [lo, hi], lo < hi: the same colours as
 * `colorFor(v, hi)` (diverging, lo = −hi) or `sequentialColorFor(v, lo, hi)`, without an allocation per value.
 */
export function mapColors(values: ArrayLike<number>, map: ColormapName, lo: number, hi: number): Uint8Array {
  const lut = map === 'diverging' ? DIVERGING_LUT : SEQUENTIAL_LUT;
  const out = new Uint8Array(3 * values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) {
      out[3 * i] = NAN_COLOR[0];
      out[3 * i + 1] = NAN_COLOR[1];
      out[3 * i + 2] = NAN_COLOR[2];
      continue;
    }
    const f = fraction(v, lo, hi);
    const o = 3 * Math.round((f > 1 ? 1 : f > 0 ? f : 0) * (LUT_SIZE - 1));
    out[3 * i] = lut[o];
    out[3 * i + 1] = lut[o + 1];
    out[3 * i + 2] = lut[o + 2];
  }
  return out;
}

/** Okabe & Ito's colour-blind-safe palette, reordered so the first colours are the most distinct on white. */
const OKABE_ITO: RGB[] = [
  [0, 114, 178],
  [230, 159, 0],
  [0, 158, 115],
  [213, 94, 0],
  [86, 180, 233],
  [204, 121, 167],
  [240, 228, 66],
  [0, 0, 0],
];

/** Paul Tol's "muted" scheme: nine colours, distinct under the common colour-vision deficiencies. */
const TOL_MUTED: RGB[] = [
  [204, 102, 119],
  [51, 34, 136],
  [221, 204, 119],
  [17, 119, 51],
  [136, 204, 238],
  [136, 34, 85],
  [68, 170, 153],
  [153, 153, 51],
  [170, 68, 153],
];

/**
 * `k` category colours: Okabe–Ito for k ≤ 8, Tol's muted scheme for k = 9, and beyond that hues evenly
 * spaced in CIELCh at alternating lightness, which are not guaranteed distinct for colour-blind readers.
 */
export function qualitativePalette(k: number): RGB[] {
  const n = Math.max(0, Math.floor(k));
  if (n <= OKABE_ITO.length) return OKABE_ITO.slice(0, n).map((c) => [...c]);
  if (n <= TOL_MUTED.length) return TOL_MUTED.map((c) => [...c]);
  return Array.from({ length: n }, (_, i) => {
    const h = (2 * Math.PI * i) / n;
    return labToRgb(i % 2 ? 52 : 74, 42 * Math.cos(h), 42 * Math.sin(h));
  });
}
