"""A TopoLM-style model: a GPT-2-like causal transformer whose residual stream is 784 wide, each
block's output laid out on a 28 × 28 grid through a fixed random permutation of the units.

    python topolm_style.py --checkpoint topolm.pt --permutation positions.npy --out topolm

`--permutation` is a .npy file: one row of 784 cells for all layers, or one row per block (unit i of
block b sits in row-major cell perm[b][i]). Without it a seeded random permutation is used. The
checkpoint is a state dict with nanoGPT parameter names (see _gpt.py); rename keys of other layouts
before loading.
"""
import sys

import numpy as np
import torch

import toposcope
from _common import load_state_dict, parser
from _gpt import GPT, MASK_KEYS


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--permutation", help=".npy with 784 cells (or n_layer × 784)")
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--n-head", type=int, default=16)
    p.add_argument("--side", type=int, default=28, help="sheet side; the residual width is side²")
    p.add_argument("--vocab-size", type=int, default=50304)
    p.add_argument("--max-tokens", type=int, default=256)
    a = p.parse_args(argv)
    d = a.side * a.side
    torch.manual_seed(a.seed)
    model = GPT(vocab_size=a.vocab_size, n_layer=a.n_layer, n_head=a.n_head, n_embd=d, bias=True)
    if a.checkpoint:
        model.load_state_dict(load_state_dict(a.checkpoint, drop_suffixes=MASK_KEYS))
    model.eval()
    if a.permutation:
        perm = np.load(a.permutation)
        perm = np.broadcast_to(perm, (a.n_layer, d)) if perm.ndim == 1 else perm
    else:
        rng = np.random.default_rng(a.seed)
        perm = np.stack([rng.permutation(d)] * a.n_layer)
    layers = {f"resid{i}": toposcope.Layer(b, layout=toposcope.grid(a.side, a.side, permutation=perm[i]))
              for i, b in enumerate(model.transformer.h)}
    exp = toposcope.export(model, torch.randint(0, a.vocab_size, (1, 8)), layers=layers, modality="text", tokenizer="gpt2",
                           max_tokens=a.max_tokens, out_dir=a.out, name=a.name or "topolm-style",
                           description=f"TopoLM-style residual sheets on a permuted {a.side}×{a.side} grid; "
                                       f"weights: {a.checkpoint or f'random (seed {a.seed})'}")
    print(exp)
    return exp


if __name__ == "__main__":
    main(sys.argv[1:])
