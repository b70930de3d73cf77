#!/usr/bin/python3
"""Reference values for the toposcope stats kernels (tests/data/stats-reference.json).

Run with Debian's python3 (scipy 1.10, numpy, mpmath):

    /usr/bin/python3 scripts/reference/make_stats_reference.py

Everything is computed independently of the TypeScript code:
  * t-tests with scipy.stats.ttest_ind (equal_var False / True) on float64 copies of float32 data;
  * log10 p from scipy.stats.t.logsf where it is finite, confirmed (and, where scipy underflows, replaced)
    by mpmath's regularized incomplete beta at 60 digits;
  * z from mpmath (root of erfc(z/sqrt 2) = p at high precision);
  * Cohen's d / Hedges' g by formula (exact gamma correction via scipy.special.gammaln);
  * p.adjust re-implemented from R's definitions (R's stats::p.adjust source logic);
  * Moran's I with a dense weight matrix (numpy);
  * SSIM / Pearson with explicit window loops;
  * xoshiro128** outputs from a direct transcription of the published algorithm.
The raw inputs are stored next to the expected outputs. NaN is written as null.
"""
import json
import math
import os
import warnings

import mpmath as mp
import numpy as np
from scipy import special, stats

mp.mp.dps = 60
# scipy warns about "catastrophic cancellation" on the constant units; those are handled by convention.
warnings.filterwarnings("ignore", category=RuntimeWarning)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "stats-reference.json")


def clean(x):
    """NaN → None, numpy → python, recursively."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return None if math.isnan(x) else x
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


# ---------------------------------------------------------------- t distribution helpers

def mp_two_sided_p(t, df):
    """Two-sided p = I_x(df/2, 1/2), x = df/(df+t^2), at 60 digits."""
    t = abs(mp.mpf(t))
    df = mp.mpf(df)
    if t == 0:
        return mp.mpf(1)
    x = df / (df + t * t)
    if x < mp.mpf("0.9"):
        return mp.betainc(df / 2, mp.mpf(1) / 2, 0, x, regularized=True)
    # x near 1 (large df, moderate t): mpmath's hypergeometric series stalls; integrate the density instead.
    return 2 * mp_t_sf_quad(t, df)


def mp_t_sf_quad(t, df):
    """Upper tail of Student t by quadrature after the substitution y = (df+1)/2 · ln((df+s²)/(df+t²)),
    so sf(t) = f(t) ∫_0^∞ e^{-y} (df+s²)/((df+1) s) dy with s(y)² = (df+t²) e^{2y/(df+1)} − df: a smooth,
    slowly varying integrand at any depth of the tail."""
    lnc = mp.loggamma((df + 1) / 2) - mp.loggamma(df / 2) - mp.log(df * mp.pi) / 2
    ft = mp.exp(lnc - (df + 1) / 2 * mp.log1p(t * t / df))

    def g(y):
        s2 = (df + t * t) * mp.exp(2 * y / (df + 1)) - df
        return mp.exp(-y) * (df + s2) / ((df + 1) * mp.sqrt(s2))

    return ft * mp.quad(g, [0, 0.5, 2, 8, 30, 100, mp.inf])


def log10p_reference(t, df):
    """(log10 p, source). scipy t.logsf where finite, checked against mpmath."""
    mpv = float(mp.log10(mp_two_sided_p(t, df)))
    sp = (stats.t.logsf(abs(t), df) + math.log(2)) / math.log(10)
    if np.isfinite(sp) and sp > -300:
        assert abs(sp - mpv) <= 1e-9 * max(1.0, abs(mpv)), (t, df, sp, mpv)
        return float(sp), "scipy"
    return mpv, "mpmath"


def z_reference(p_mp, sign):
    """Signed z with two-sided p: erfc(|z|/sqrt2) = p."""
    if sign == 0 or p_mp >= 1:
        return 0.0
    lnp = mp.log(p_mp)
    guess = mp.sqrt(-2 * lnp)
    z = mp.findroot(lambda z: mp.log(mp.erfc(z / mp.sqrt(2))) - lnp, guess)
    return float(sign * z)


# ---------------------------------------------------------------- t-tests

def hedges_j(m):
    return math.exp(special.gammaln(m / 2) - 0.5 * math.log(m / 2) - special.gammaln((m - 1) / 2))


def exact_t(a_col, b_col, equal_var):
    """t from exact rational means and variances of the (float32) inputs, one rounding at the end."""
    from fractions import Fraction as Fr
    a = [Fr(float(v)) for v in a_col]
    b = [Fr(float(v)) for v in b_col]
    nA, nB = len(a), len(b)
    ma, mb = sum(a) / nA, sum(b) / nB
    m2a = sum((x - ma) ** 2 for x in a)
    m2b = sum((x - mb) ** 2 for x in b)
    if m2a == 0 and m2b == 0:
        return 0.0
    se2 = (m2a + m2b) / (nA + nB - 2) * (Fr(1, nA) + Fr(1, nB)) if equal_var else m2a / (nA - 1) / nA + m2b / (nB - 1) / nB
    d = ma - mb
    return float(mp.mpf(d.numerator) / d.denominator / mp.sqrt(mp.mpf(se2.numerator) / se2.denominator))


def ttest_case(name, a, b):
    """a: nA×units, b: nB×units float32."""
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    nA, units = a.shape
    nB = b.shape[0]
    res = {"name": name, "nA": nA, "nB": nB, "units": units,
           "a": a64.ravel().tolist(), "b": b64.ravel().tolist()}
    va = a64.var(axis=0, ddof=1)
    vb = b64.var(axis=0, ddof=1)
    zero = (va == 0) & (vb == 0)
    res["varA"] = va
    res["varB"] = vb
    res["zeroVariance"] = zero.astype(int).tolist()
    m = nA + nB - 2
    sp = np.sqrt(((nA - 1) * va + (nB - 1) * vb) / m)
    diff = a64.mean(axis=0) - b64.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(sp > 0, diff / sp, 0.0)
    res["d"] = d
    res["g"] = d * hedges_j(m)
    for kind, equal_var in (("welch", False), ("student", True)):
        out = {"t": [], "df": [], "p": [], "log10p": [], "log10pSource": [], "z": [],
               "tExact": [exact_t(a64[:, j], b64[:, j], equal_var) for j in range(units)]}
        for j in range(units):
            if zero[j]:
                # The documented convention (scipy would give nan): t = 0, p = 1.
                out["t"].append(0.0); out["df"].append(float(m)); out["p"].append(1.0)
                out["log10p"].append(0.0); out["log10pSource"].append("convention"); out["z"].append(0.0)
                continue
            r = stats.ttest_ind(a64[:, j], b64[:, j], equal_var=equal_var)
            t = float(r.statistic)
            if equal_var:
                df = float(m)
            else:
                sa = va[j] / nA
                sb = vb[j] / nB
                df = float((sa + sb) ** 2 / (sa ** 2 / (nA - 1) + sb ** 2 / (nB - 1)))
            # scipy's own p (two-sided) must agree with 2*sf at this df
            p = float(r.pvalue)
            l10, src = log10p_reference(t, df)
            out["t"].append(t); out["df"].append(df); out["p"].append(p)
            out["log10p"].append(l10); out["log10pSource"].append(src)
            out["z"].append(z_reference(mp_two_sided_p(t, df), int(np.sign(t))))
        res[kind] = out
    return res


def make_ttests():
    rng = np.random.default_rng(20240611)
    cases = []

    # 1: small, unequal n, one huge separation with tiny noise (t ~ 1e4, p ~ 1e-40)
    a = rng.normal(0.3, 1.0, (5, 6)).astype(np.float32)
    b = rng.normal(0.0, 1.5, (7, 6)).astype(np.float32)
    a[:, 5] = rng.normal(100.0, 0.01, 5).astype(np.float32)
    b[:, 5] = rng.normal(0.0, 0.01, 7).astype(np.float32)
    cases.append(ttest_case("small-unequal-n", a, b))

    # 2: unequal variances and n
    a = rng.normal(0.5, 1.0, (12, 10)).astype(np.float32)
    b = rng.normal(0.0, 3.0, (30, 10)).astype(np.float32)
    cases.append(ttest_case("unequal-variance", a, b))

    # 3: special units
    a = rng.normal(0.2, 1.0, (50, 8)).astype(np.float32)
    b = rng.normal(0.0, 1.0, (40, 8)).astype(np.float32)
    a[:, 0] = 0.0; b[:, 0] = 0.0                      # dead unit: zero variance in both groups
    a[:, 1] = np.float32(0.5)                           # zero variance in A only
    a[:, 2] = rng.normal(1e5, 1.0, 50).astype(np.float32)  # p < 1e-300 (scipy's p underflows to 0)
    b[:, 2] = rng.normal(0.0, 1.0, 40).astype(np.float32)
    a[:, 3] = rng.normal(-2e5, 0.5, 50).astype(np.float32)  # negative extreme
    b[:, 3] = rng.normal(0.0, 0.5, 40).astype(np.float32)
    a[:, 6] = rng.normal(2.0, 1.0, 50).astype(np.float32)  # moderate extreme, p ~ 1e-20
    b[:, 6] = rng.normal(0.0, 0.3, 40).astype(np.float32)
    a[:, 4] = np.float32(1.25); b[:, 4] = np.float32(1.25)     # constant, same value in both
    cases.append(ttest_case("special-units", a, b))

    # 4: minimal groups
    a = rng.normal(1.0, 1.0, (2, 5)).astype(np.float32)
    b = rng.normal(0.0, 0.5, (3, 5)).astype(np.float32)
    cases.append(ttest_case("minimal-n", a, b))

    # 5: large offset, many samples (cancellation check)
    a = (10000.0 + rng.normal(0.02, 0.1, (200, 4))).astype(np.float32)
    b = (10000.0 + rng.normal(0.0, 0.1, (150, 4))).astype(np.float32)
    cases.append(ttest_case("large-offset", a, b))
    return cases


def make_tdist():
    rows = []
    ts = [0.5, 1.0, 2.0, 3.5, 10.0, 50.0, 200.0, 1e3, 1e4, 1e6, 1e100]
    dfs = [1.0, 2.5, 5.0, 30.0, 98.3, 1e3, 1e5, 1e6]
    for t in ts:
        for df in dfs:
            p_mp = mp_two_sided_p(t, df)
            l10, src = log10p_reference(t, df)
            p_sc = float(2 * stats.t.cdf(-t, df))
            rows.append({"t": t, "df": df, "p": float(p_mp), "pScipy": p_sc, "log10p": l10, "source": src,
                         "z": z_reference(p_mp, 1)})
    return rows


# ---------------------------------------------------------------- p.adjust (R's definitions)

def p_adjust(p, method):
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    nna = ~np.isnan(p)
    q = p[nna]
    n = len(q)
    if n == 0:
        return out
    if method == "none":
        r = q.copy()
    elif method == "bonferroni":
        r = np.minimum(1.0, n * q)
    elif method == "holm":
        i = np.arange(1, n + 1)
        o = np.argsort(q, kind="stable")
        ro = np.argsort(o, kind="stable")
        r = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * q[o]))[ro]
    elif method in ("bh", "by"):
        i = np.arange(n, 0, -1)
        o = np.argsort(-q, kind="stable")
        ro = np.argsort(o, kind="stable")
        if method == "bh":
            v = n / i * q[o]
        else:
            c = math.fsum(1.0 / k for k in range(1, n + 1))
            v = c * n / i * q[o]
        r = np.minimum(1.0, np.minimum.accumulate(v))[ro]
    else:
        raise ValueError(method)
    out[nna] = r
    return out


def make_padjust():
    rng = np.random.default_rng(7)
    vectors = {
        "ties-nan-edges": [0.01, 0.04, 0.04, np.nan, 0.0, 1.0, 0.2, 0.04, np.nan, 0.5, 1e-10],
        "uniform-50": rng.uniform(0, 1, 50).tolist(),
        "mixed-200": np.concatenate([rng.uniform(0, 1, 150), 10 ** rng.uniform(-320, -2, 50)]).tolist(),
        "single": [0.03],
        "all-nan": [np.nan, np.nan],
    }
    out = []
    for name, p in vectors.items():
        out.append({"name": name, "p": p, **{m: p_adjust(p, m) for m in ("bh", "by", "holm", "bonferroni", "none")}})
    return out


# ---------------------------------------------------------------- Moran's I

def moran_dense(x, rows, cols, contiguity):
    x = np.asarray(x, dtype=float).reshape(rows, cols)
    occ = [(r, c) for r in range(rows) for c in range(cols) if not np.isnan(x[r, c])]
    idx = {rc: k for k, rc in enumerate(occ)}
    n = len(occ)
    W = np.zeros((n, n))
    for (r, c), k in idx.items():
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr == 0 and dc == 0:
                    continue
                if contiguity == "rook" and dr != 0 and dc != 0:
                    continue
                j = idx.get((r + dr, c + dc))
                if j is not None:
                    W[k, j] = 1.0
    v = np.array([x[r, c] for r, c in occ])
    z = v - v.mean()
    return float(n / W.sum() * (z @ W @ z) / (z @ z))


def make_moran():
    rng = np.random.default_rng(99)
    maps = []
    noise = rng.normal(size=(8, 8))
    maps.append(("noise-8x8", 8, 8, noise))
    rr, cc = np.mgrid[0:10, 0:12]
    smooth = np.sin(rr / 3.0) + np.cos(cc / 4.0) + 0.3 * rng.normal(size=(10, 12))
    maps.append(("smooth-10x12", 10, 12, smooth))
    holes = rng.normal(size=(9, 11)) + rr[:9, :11] * 0.3
    holes[rng.uniform(size=(9, 11)) < 0.15] = np.nan
    maps.append(("holes-9x11", 9, 11, holes))
    out = []
    for name, rows, cols, m in maps:
        out.append({"name": name, "rows": rows, "cols": cols, "map": m.ravel(),
                    "queen": moran_dense(m, rows, cols, "queen"), "rook": moran_dense(m, rows, cols, "rook")})
    return out


# ---------------------------------------------------------------- SSIM / Pearson

def ssim_loops(a, b, rows, cols, window, sigma=1.5, size=7):
    a = np.asarray(a, float).reshape(rows, cols)
    b = np.asarray(b, float).reshape(rows, cols)
    valid = np.isfinite(a) & np.isfinite(b)
    if window == "gaussian":
        r = max(1, int(round(3.5 * sigma)))
        k1 = np.exp(-0.5 * (np.arange(-r, r + 1) ** 2) / sigma ** 2)
    else:
        r = (size - 1) // 2
        k1 = np.ones(size)
    k1 = k1 / k1.sum()
    L = max(a[valid].max(), b[valid].max()) - min(a[valid].min(), b[valid].min())
    C1 = (0.01 * L) ** 2
    C2 = (0.03 * L) ** 2
    vals = []
    for i in range(rows):
        for j in range(cols):
            if not valid[i, j]:
                continue
            ws = xs = ys = []
            ws, xs, ys = [], [], []
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    ii, jj = i + di, j + dj
                    if 0 <= ii < rows and 0 <= jj < cols and valid[ii, jj]:
                        ws.append(k1[di + r] * k1[dj + r]); xs.append(a[ii, jj]); ys.append(b[ii, jj])
            w = np.array(ws) / np.sum(ws)
            x = np.array(xs); y = np.array(ys)
            mx = w @ x; my = w @ y
            vx = w @ (x - mx) ** 2; vy = w @ (y - my) ** 2; cxy = w @ ((x - mx) * (y - my))
            vals.append(((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2)))
    return float(np.mean(vals))


def make_compare():
    rng = np.random.default_rng(5)
    rows, cols = 12, 14
    rr, cc = np.mgrid[0:rows, 0:cols]
    base = np.sin(rr / 2.5) * np.cos(cc / 3.0) * 3
    a = base + 0.4 * rng.normal(size=(rows, cols))
    b = 0.8 * base + 0.8 * rng.normal(size=(rows, cols)) + 0.5
    c = rng.normal(size=(rows, cols))
    a[rng.uniform(size=(rows, cols)) < 0.1] = np.nan
    b[0, :3] = np.nan
    out = []
    for name, x, y in (("a-b", a, b), ("a-c", a, c), ("b-c", b, c)):
        valid = np.isfinite(x) & np.isfinite(y)
        out.append({"name": name, "rows": rows, "cols": cols, "x": x.ravel(), "y": y.ravel(),
                    "pearson": float(np.corrcoef(x[valid], y[valid])[0, 1]),
                    "ssimGaussian": ssim_loops(x, y, rows, cols, "gaussian"),
                    "ssimUniform7": ssim_loops(x, y, rows, cols, "uniform", size=7),
                    "ssimUniform3": ssim_loops(x, y, rows, cols, "uniform", size=3)})
    return out


# ---------------------------------------------------------------- xoshiro128**

M32 = 0xFFFFFFFF


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def xoshiro_outputs(seed, count):
    x = seed & M32
    s = []
    for _ in range(4):
        x = (x + 0x9E3779B9) & M32
        z = x
        z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
        s.append(z ^ (z >> 16))
    out = []
    for _ in range(count):
        result = (rotl((s[1] * 5) & M32, 7) * 9) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = rotl(s[3], 11)
        out.append(result)
    return out


def main():
    ref = {
        "generator": "scripts/reference/make_stats_reference.py",
        "versions": {"numpy": np.__version__, "scipy": __import__("scipy").__version__, "mpmath": mp.__version__},
        "ttest": make_ttests(),
        "tdist": make_tdist(),
        "padjust": make_padjust(),
        "moran": make_moran(),
        "compare": make_compare(),
        "rng": [{"seed": s, "uint32": xoshiro_outputs(s, 8)} for s in (0, 42, 4294967295)],
    }
    text = json.dumps(clean(ref), allow_nan=False, separators=(",", ":"))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.normpath(OUT)} ({len(text) / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
