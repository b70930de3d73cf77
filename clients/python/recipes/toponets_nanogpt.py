"""TopoNets NanoGPT: 12 blocks, 768 wide, no biases, vocabulary 50304, GPT-2 BPE; TopoLoss on every
block's `c_fc`, so each block's 3072 MLP units sit on a 48 × 64 sheet (TopoLoss grid).

    python toponets_nanogpt.py --checkpoint nanogpt_tau_50.0.pt --out topo-nanogpt
"""
import sys

import torch

import toposcope
from _common import load_state_dict, parser
from _gpt import GPT, MASK_KEYS


def build(checkpoint=None, seed=0, **config):
    torch.manual_seed(seed)
    model = GPT(**config)
    if checkpoint:
        # nanoGPT checkpoints keep the weights under 'model', prefixed '_orig_mod.' after torch.compile.
        model.load_state_dict(load_state_dict(checkpoint, key="model", drop_suffixes=MASK_KEYS))
    return model.eval()


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--pre-gelu", action="store_true", help="expose c_fc's output instead of the MLP activation after GELU")
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--n-head", type=int, default=12)
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--block-size", type=int, default=1024)
    a = p.parse_args(argv)
    model = build(a.checkpoint, a.seed, n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, block_size=a.block_size)
    mlp = [b.mlp for b in model.transformer.h]
    layers = {f"mlp{i}": (m.c_fc if a.pre_gelu else m.gelu) for i, m in enumerate(mlp)}
    exp = toposcope.export(model, torch.randint(0, 50257, (1, 8)), layers=layers, modality="text", tokenizer="gpt2",
                           max_tokens=min(a.max_tokens, a.block_size), out_dir=a.out, name=a.name or "topo-nanogpt",
                           description=f"TopoNets NanoGPT, MLP units {'before' if a.pre_gelu else 'after'} GELU; "
                                       f"weights: {a.checkpoint or f'random (seed {a.seed})'}")
    print(exp)
    return exp


if __name__ == "__main__":
    main(sys.argv[1:])
