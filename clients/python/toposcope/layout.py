"""Sheet layouts for the manifest: TopoLoss grids, permuted grids (TopoLM) and coordinates (TDANN)."""
import math

import numpy as np


def topoloss_grid(n):
    """(rows, cols) of the TopoLoss rule: rows = the largest divisor of n that is ≤ √n."""
    if n < 1:
        raise ValueError(f"a layer needs at least one unit, got {n}")
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return rows, n // rows


def grid(rows=None, cols=None, permutation=None):
    """A grid layout; with `permutation`, unit i sits in row-major cell permutation[i]."""
    out = {"type": "grid"}
    if rows is not None:
        out["rows"] = int(rows)
    if cols is not None:
        out["cols"] = int(cols)
    if permutation is not None:
        perm = np.asarray(permutation)
        if perm.ndim != 1 or not np.issubdtype(perm.dtype, np.integer):
            raise ValueError("permutation must be a 1-D array of integers")
        out["permutation"] = [int(v) for v in perm]
    return out


def coordinates(x, y, cell_size=None):
    """A coordinates layout: sheet x (column direction) and y (row direction) per unit."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x has {x.size} values and y has {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("coordinates must be finite")
    out = {"type": "coordinates", "x": x.tolist(), "y": y.tolist()}
    if cell_size is not None:
        out["cellSize"] = float(cell_size)
    return out


def resolve(layout, units, field):
    """Fills a layout in for a layer of `units` units (default: the TopoLoss grid) and checks its size."""
    if layout is None:
        rows, cols = topoloss_grid(units)
        return {"type": "grid", "rows": rows, "cols": cols}
    layout = dict(layout)
    if layout.get("type") == "grid":
        rows, cols = layout.get("rows"), layout.get("cols")
        if rows is None and cols is None:
            rows, cols = topoloss_grid(units)
        elif rows is None:
            rows = units // cols
        elif cols is None:
            cols = units // rows
        layout["rows"], layout["cols"] = int(rows), int(cols)
        perm = layout.get("permutation")
        if perm is not None:
            if len(perm) != units:
                raise ValueError(f"{field}: the permutation has {len(perm)} entries for {units} units")
            if len(set(perm)) != units or min(perm) < 0 or max(perm) >= rows * cols:
                raise ValueError(f"{field}: the permutation must give every unit its own cell in 0..{rows * cols - 1}")
        elif rows * cols != units:
            raise ValueError(f"{field}: a {rows}×{cols} grid has {rows * cols} cells for {units} units")
        return layout
    if layout.get("type") == "coordinates":
        if len(layout["x"]) != units:
            raise ValueError(f"{field}: {len(layout['x'])} coordinates for {units} units")
        return layout
    raise ValueError(f"{field}: unknown layout type {layout.get('type')!r} (grid or coordinates)")
