"""Fallback image model for `npm run bench`, used only when no trained fixture CNN exists
(fixtures/models/topo-cnn, else any other fixtures/models/* image model).

    /usr/bin/python3 bench/make_cnn.py [--out bench/.cache/cnn-random] [--force]

Same architecture as fixtures/train/train_cnn.py (64×64 RGB → conv1 32 → conv2 64 → conv3 256 →
conv4 256 → 12 classes) with random weights (seeded); exported with torch.onnx.export (opset 17,
dynamic batch) with a toposcope manifest listing the post-ReLU conv3 (N×256×8×8) and conv4
(N×256×4×4) tensors, unit axis 1, mean pooling, 16×16 grid. Run with /usr/bin/python3.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / ".cache" / "cnn-random"
SIZE = 64
LAYERS = ["conv3", "conv4"]


class Stage(nn.Module):
    def __init__(self, cin, cout, k, stride=1, pool=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x):
        return self.pool(self.act(self.conv(x)))


class SheetCNN(nn.Module):
    def __init__(self, n_classes: int = 12):
        super().__init__()
        self.conv1 = Stage(3, 32, 5, stride=2)
        self.conv2 = Stage(32, 64, 3)
        self.conv3 = Stage(64, 256, 3, pool=False)
        self.pool3 = nn.MaxPool2d(2)
        self.conv4 = Stage(256, 256, 3, pool=False)
        self.head = nn.Linear(256, n_classes)

    def forward(self, x):
        a4 = self.conv4(self.pool3(self.conv3(self.conv2(self.conv1(x)))))
        return self.head(a4.mean(dim=(2, 3)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out: Path = args.out
    onnx_path = out / "model.onnx"
    if onnx_path.exists() and (out / "manifest.json").exists() and not args.force:
        print(f"{onnx_path} exists; --force to regenerate", flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    model = SheetCNN().eval()
    tmp = out / "model.onnx.tmp"
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(2, 3, SIZE, SIZE), str(tmp), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          do_constant_folding=True)
    import onnx

    nodes = onnx.load(str(tmp)).graph.node
    tensors = {}
    for layer in LAYERS:
        cands = [o for n in nodes for o in n.output if o.startswith(f"/{layer}/act/") and o.endswith("_output_0")]
        if len(cands) != 1:
            raise SystemExit(f"{layer}: expected one ReLU output, found {cands}")
        tensors[layer] = cands[0]
    tmp.replace(onnx_path)
    manifest = {
        "name": "cnn-random",
        "version": "1",
        "description": "Benchmark fallback: the fixture CNN architecture (train_cnn.py) with random weights; bench/make_cnn.py.",
        "modality": "image",
        "input": {"image": {"name": "input", "size": [SIZE, SIZE], "channels": 3, "mean": [0.5, 0.5, 0.5],
                            "std": [0.5, 0.5, 0.5], "resize": "contain", "background": [255, 255, 255]}},
        "layers": [{"name": layer, "tensor": tensors[layer], "unitAxis": 1, "pooling": "mean",
                    "layout": {"type": "grid", "rows": 16, "cols": 16}} for layer in LAYERS],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB, layers {tensors}) in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
