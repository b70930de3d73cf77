"""Hugging Face GPT-2 or GPT-Neo (transformers) from a folder on this machine, with each block's MLP
activation (after GELU) as a layer; GPT-2's 3072 units sit on a 48 × 64 TopoLoss grid.

    python hf_causal_lm.py --checkpoint ./gpt2 --out gpt2        # a folder saved by save_pretrained

Without --checkpoint a small random GPT-2 is built from a config (nothing is downloaded). Exits
with a message, and status 0, when transformers is not installed.
"""
import sys

import torch

import toposcope
from _common import parser


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--n-layer", type=int, default=2, help="layers of the random model (without --checkpoint)")
    a = p.parse_args(argv)
    try:
        import transformers
    except ImportError:
        print("transformers is not installed: nothing to export (pip install transformers)")
        return None
    if a.checkpoint:
        model = transformers.AutoModelForCausalLM.from_pretrained(a.checkpoint, local_files_only=True)
    else:
        torch.manual_seed(a.seed)
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=a.n_layer))
    model.config.use_cache = False
    model.eval()
    blocks = model.transformer.h
    layers = {f"mlp{i}": b.mlp.act for i, b in enumerate(blocks)}
    ids = torch.randint(0, model.config.vocab_size, (1, 8))
    example = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    # GPT-2 and GPT-Neo use the GPT-2 byte-level BPE, which the service has built in.
    exp = toposcope.export(model, example, layers=layers, modality="text", tokenizer="gpt2", max_tokens=a.max_tokens,
                           pad_token_id=model.config.eos_token_id, out_dir=a.out,
                           name=a.name or (model.config.name_or_path or model.config.model_type).replace("/", "-") or "hf-lm",
                           description=f"{type(model).__name__} from {a.checkpoint or f'a random config (seed {a.seed})'}")
    print(exp)
    return exp


if __name__ == "__main__":
    main(sys.argv[1:])
