"""Test images: fixture renders flattened onto white, and photo-like images made from a seed."""
import numpy as np
from PIL import Image

from _server import fixture_images


def flat_render(path):
    """A fixture render (RGBA) composited onto white, as H×W×3 uint8."""
    a = np.asarray(Image.open(path).convert("RGBA")).astype(np.float64)
    alpha = a[:, :, 3:4] / 255.0
    return np.rint(a[:, :, :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)


def renders(domain, n):
    return [flat_render(p) for p in fixture_images(domain, n)]


def photo(h, w, seed):
    """Smooth colour fields, hard-edged shapes and sensor-like noise: the frequencies a photo has."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.3)]
        img[:, :, c] = 128 + 90 * np.sin(x * fx + ph) * np.cos(y * fy + ph / 2)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.3) * min(h, w)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
    stripes = (np.floor(x / max(2, w // 60)) % 2 == 0) & (y > h * 0.7)
    img[stripes] *= 0.5
    img += rng.normal(0, 10, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


PHOTO_SIZES = [(240, 320), (300, 200), (333, 517), (257, 256), (480, 640), (199, 301), (256, 384), (120, 90)]


def photos(n=len(PHOTO_SIZES), seed=0):
    return [photo(h, w, seed + i) for i, (h, w) in enumerate(PHOTO_SIZES[:n])]
