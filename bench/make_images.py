"""Generate the benchmark's image stimuli: 1,024 distinct, deterministic augmented renders.

    /usr/bin/python3 bench/make_images.py [--out bench/.cache/images] [--per-condition 512] [--force]

Each image is one of the fixture glyphs (fixtures/stimuli/images/faces/*.png for condition a,
objects/*.png for b; 96×96 RGBA renders) drawn on a white 96×96 canvas with its own random scale
(0.70–1.05), rotation (±25°), shift (±10 px), mirror flip, brightness/contrast/saturation jitter and a
pale background tint, then saved as an opaque 8-bit RGB PNG. The random numbers come from one seeded
generator per image (seed, condition, index), so the same command always writes the same bytes and no
two images are the same (checked: every file's sha256 is distinct). Needs Pillow and numpy (Debian's
python3-pil, python3-numpy).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "fixtures" / "stimuli" / "images"
SIZE = 96


def render(glyph: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = rng.uniform(0.70, 1.05)
    angle = rng.uniform(-25, 25)
    dx, dy = rng.integers(-10, 11, size=2)
    g = glyph.convert("RGBA")
    if rng.random() < 0.5:
        g = g.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = max(8, int(round(SIZE * scale)))
    g = g.resize((side, side), Image.Resampling.BICUBIC)
    g = g.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    rgb = Image.merge("RGB", g.split()[:3])
    rgb = ImageEnhance.Brightness(rgb).enhance(rng.uniform(0.8, 1.2))
    rgb = ImageEnhance.Contrast(rgb).enhance(rng.uniform(0.8, 1.25))
    rgb = ImageEnhance.Color(rgb).enhance(rng.uniform(0.6, 1.4))
    g = Image.merge("RGBA", (*rgb.split(), g.split()[3]))
    tint = tuple(int(v) for v in 255 - rng.integers(0, 24, size=3))
    canvas = Image.new("RGBA", (SIZE, SIZE), (*tint, 255))
    x = (SIZE - g.width) // 2 + int(dx)
    y = (SIZE - g.height) // 2 + int(dy)
    canvas.paste(g, (x, y), g)  # alpha as the mask; parts beyond the canvas are cut
    return canvas.convert("RGB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / ".cache" / "images")
    ap.add_argument("--per-condition", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    out: Path = args.out
    stamp = out / f"done-{args.per_condition}-{args.seed}.txt"
    if stamp.exists() and not args.force:
        print(f"{out} holds the {2 * args.per_condition} images already; --force to regenerate", flush=True)
        return 0
    seen: set[str] = set()
    for ci, (cond, folder) in enumerate((("a", "faces"), ("b", "objects"))):
        glyphs = sorted(p for p in (SRC / folder).iterdir() if p.suffix.lower() == ".png")
        if not glyphs:
            raise SystemExit(f"no PNG glyphs in {SRC / folder}")
        dst = out / folder
        dst.mkdir(parents=True, exist_ok=True)
        for old in dst.glob("*.png"):
            old.unlink()
        loaded = [Image.open(p) for p in glyphs]
        for i in range(args.per_condition):
            rng = np.random.default_rng([args.seed, ci, i])
            img = render(loaded[i % len(loaded)], rng)
            path = dst / f"{folder}-{i:04d}-{glyphs[i % len(glyphs)].stem}.png"
            img.save(path, format="PNG", optimize=False, compress_level=6)
            h = hashlib.sha256(path.read_bytes()).hexdigest()
            if h in seen:
                raise SystemExit(f"{path} repeats an earlier image")
            seen.add(h)
    stamp.write_text(f"{len(seen)} distinct images, seed {args.seed}\n")
    print(f"wrote {len(seen)} distinct {SIZE}x{SIZE} RGB PNGs to {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
