"""Generate the GPT-2-sized benchmark model (random weights) for `npm run bench`.

    /usr/bin/python3 bench/make_gpt2.py [--out bench/.cache/gpt2-random] [--force]

GPT-2 small's shape: 12 blocks × 768 hidden, 12 heads, MLP 3072 (tanh GELU), vocabulary 50257,
1024 positions, pre-LayerNorm, causal self-attention, LM head tied to the token embedding. Weights
are random (N(0, 0.02), seeded): the benchmark measures speed, not language. Exported with
torch.onnx.export (opset 17, dynamic batch and sequence axes) to <out>/model.onnx (~500 MB, never
commit it: bench/.cache/ is git-ignored), plus a toposcope manifest.json whose layers are every
block's MLP activation (the output of the GELU after the first MLP projection, B×T×3072, unit axis 2,
mean pooling, 48×64 grid). The exact ONNX tensor names are read back from the exported graph with
the `onnx` package: the GELU output is the input of each block's second MLP projection MatMul.

Needs Debian's python3-torch (1.13) and python3-onnx: run it with /usr/bin/python3.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / ".cache" / "gpt2-random"

N_LAYER = 12
N_EMBD = 768
N_HEAD = 12
N_INNER = 3072
VOCAB = 50257
N_POS = 1024
MAX_TOKENS = 64


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD)
        self.c_proj = nn.Linear(N_EMBD, N_EMBD)
        mask = torch.tril(torch.ones(N_POS, N_POS, dtype=torch.bool)).view(1, 1, N_POS, N_POS)
        self.register_buffer("bias", mask, persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(N_EMBD, dim=2)
        hd = N_EMBD // N_HEAD
        q = q.view(b, t, N_HEAD, hd).transpose(1, 2)
        k = k.view(b, t, N_HEAD, hd).transpose(1, 2)
        v = v.view(b, t, N_HEAD, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        causal = self.bias[:, :, :t, :t]
        att = att.masked_fill(~causal, torch.finfo(att.dtype).min)
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(N_EMBD, N_INNER)
        self.act = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(N_INNER, N_EMBD)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(N_EMBD)
        self.attn = Attention()
        self.ln_2 = nn.LayerNorm(N_EMBD)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, N_EMBD)
        self.wpe = nn.Embedding(N_POS, N_EMBD)
        self.h = nn.ModuleList([Block() for _ in range(N_LAYER)])
        self.ln_f = nn.LayerNorm(N_EMBD)

    def forward(self, input_ids):
        t = input_ids.shape[1]
        pos = torch.arange(t, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.wte.weight.t()  # LM head tied to the token embedding (see tie_lm_head)


def init_weights(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            nn.init.normal_(p, mean=0.0, std=0.02)
        elif name.endswith("weight"):  # LayerNorm gains
            nn.init.ones_(p)
        else:
            nn.init.zeros_(p)
    # GPT-2 scales the residual projections by 1/sqrt(2·n_layer)
    for block in model.h:
        for proj in (block.attn.c_proj, block.mlp.c_proj):
            nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * N_LAYER))


def tie_lm_head(onnx_path: Path) -> None:
    """The exporter's constant folding stores the tied LM head as a second, transposed copy of wte
    (768×50257, +154 MB on disk). Feed the head's MatMul from Transpose(wte) instead and drop the copy:
    the file stays ~500 MB like GPT-2's checkpoint; ONNX Runtime folds the Transpose at session load."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_path))
    g = model.graph
    wte = [i for i in g.initializer if list(i.dims) == [VOCAB, N_EMBD]]
    head = [i for i in g.initializer if list(i.dims) == [N_EMBD, VOCAB]]
    if len(wte) != 1 or len(head) != 1:
        print("LM head: no transposed copy of wte to remove", flush=True)
        return
    wte, head = wte[0], head[0]
    assert (numpy_helper.to_array(head) == numpy_helper.to_array(wte).T).all(), "LM head is not wte transposed"
    users = [k for k, n in enumerate(g.node) if head.name in n.input]
    if len(users) != 1 or g.node[users[0]].op_type != "MatMul":
        raise SystemExit(f"unexpected users of {head.name}: {[(g.node[k].name, g.node[k].op_type) for k in users]}")
    k = users[0]
    tname = "lm_head.weight_transposed"
    g.node.insert(k, helper.make_node("Transpose", [wte.name], [tname], name="/lm_head/Transpose", perm=[1, 0]))
    mm = g.node[k + 1]
    mm.input[1] = tname
    g.initializer.remove(head)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def gelu_outputs(onnx_path: Path) -> list[str]:
    """For every block i, the tensor fed to /h.i/mlp/c_proj's MatMul: the GELU output (B×T×3072)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    nodes = list(model.graph.node)
    names = []
    for i in range(N_LAYER):
        mm = [n for n in nodes if n.name.startswith(f"/h.{i}/mlp/c_proj/") and n.op_type in ("MatMul", "Gemm")]
        if len(mm) != 1:
            raise SystemExit(f"block {i}: expected one MatMul in /h.{i}/mlp/c_proj/, found {[n.name for n in mm]}")
        src = mm[0].input[0]
        producer = [n for n in nodes if src in n.output]
        if len(producer) != 1 or not producer[0].name.startswith(f"/h.{i}/mlp/act/"):
            raise SystemExit(f"block {i}: c_proj input '{src}' is not produced by the GELU (/h.{i}/mlp/act/...): "
                             f"{[(n.name, n.op_type) for n in producer]}")
        names.append(src)
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true", help="regenerate even if model.onnx exists")
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
    model = GPT2().eval()
    init_weights(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"GPT-2-sized model: {N_LAYER} blocks x {N_EMBD} hidden, {N_HEAD} heads, MLP {N_INNER}, "
          f"vocab {VOCAB}, {N_POS} positions, {n_params / 1e6:.1f} M parameters (random, seed {args.seed})", flush=True)

    dummy = torch.randint(0, VOCAB, (2, 16), dtype=torch.long)
    tmp = out / "model.onnx.tmp"
    print(f"exporting to {onnx_path} (torch {torch.__version__}, opset 17, dynamic batch and sequence) ...", flush=True)
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), str(tmp), input_names=["input_ids"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "logits": {0: "batch", 1: "sequence"}},
                          opset_version=17, do_constant_folding=True)
    tie_lm_head(tmp)
    tensors = gelu_outputs(tmp)
    tmp.replace(onnx_path)
    print("MLP activation tensors (GELU outputs):", ", ".join(tensors), flush=True)

    rows, cols = 48, 64
    manifest = {
        "name": "gpt2-random",
        "version": "1",
        "description": (f"Benchmark model: GPT-2 small shape ({N_LAYER}x{N_EMBD}, {N_HEAD} heads, MLP {N_INNER}, "
                        f"vocab {VOCAB}) with random weights (seed {args.seed}); generated by bench/make_gpt2.py."),
        "modality": "text",
        "input": {"text": {"tokenizer": {"type": "gpt2"}, "maxTokens": MAX_TOKENS, "idsInput": "input_ids"}},
        "layers": [
            {"name": f"mlp{i}", "tensor": name, "unitAxis": 2, "pooling": "mean",
             "layout": {"type": "grid", "rows": rows, "cols": cols},
             "description": f"block {i} MLP activation (GELU of c_fc), B×T×{N_INNER}"}
            for i, name in enumerate(tensors)
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    size = onnx_path.stat().st_size
    print(f"wrote {onnx_path} ({size / 1e6:.1f} MB) and manifest.json in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
