"""Minimal PNG writer (8-bit grey, RGB or RGBA) on zlib, for uploading NumPy images."""
import struct
import zlib

import numpy as np


def _chunk(kind, data):
    c = kind + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)


def to_uint8(img):
    """uint8 arrays pass as they are; float arrays are read as [0, 1] and rounded to 0..255."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("image has NaN or infinite values")
        return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError("integer images must hold values in 0..255")
        return a.astype(np.uint8)
    raise ValueError(f"cannot make an image of dtype {a.dtype}")


def encode_png(img):
    """H×W (grey), H×W×1, H×W×3 or H×W×4 array → PNG bytes."""
    a = to_uint8(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        color = 0
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        color = 2 if a.shape[2] == 3 else 6
    else:
        raise ValueError(f"an image must be H×W, H×W×3 or H×W×4, got shape {a.shape}")
    h, w = a.shape[:2]
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
