"""The anchors' way of computing a localizer, for `npm run bench` to compare with toposcope.

    /usr/bin/python3 bench/peer_hooks.py <spec.json>       (writes spec["out"], prints a summary)

What a notebook does: the PyTorch model, a forward hook on every layer's activation module, each
batch's activations reduced per stimulus (text: masked mean over the real tokens of right-padded
batches; images: mean over positions), stacked into a stimuli × units matrix per layer, then
scipy.stats.ttest_ind(a, b, equal_var=False) (Welch) and Benjamini–Hochberg per layer.

spec.json (written by bench/run.ts):
  kind        "text" | "image"
  threads     torch.set_num_threads (toposcope's workers × ORT threads)
  batch_size  stimuli per forward pass, batches in stimulus order
  alpha       BH level
  onnx        the registered model's model.onnx (the weights the peer must match)
  text:  ids = [[token ids of stimulus i], ...] (toposcope's tokenizer, truncated), labels = "a"/"b" per stimulus
  image: files = [path, ...], labels, size [h, w], mean, std   (torchvision: Resize + CenterCrop + ToTensor + Normalize)
  layers      toposcope's layer names, in order (text: mlp0…mlp11; image: conv3, conv4)
  toposcope_t path of a JSON file {layer: [t per unit]} from toposcope's contrast, for the agreement
  out         where to write the JSON result

Weights: the GPT-2-sized model is rebuilt by bench/make_gpt2.py's own code with its seed (0) (the
timed "load": building and initialising 124 M parameters, about what reading a checkpoint costs) and
checked against the ONNX initializers after the timed part (token embedding and first MLP matrix, bit
for bit); topo-cnn is fixtures/train/train_cnn.py's SheetCNN with the ONNX initializers loaded by name.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.stats
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p (q), NaN kept."""
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    ps = p[ok]
    n = ps.size
    if n == 0:
        return q
    order = np.argsort(ps)
    ranked = ps[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def onnx_initializers(path: str) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    return {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}


def text_model(spec: dict):
    sys.path.insert(0, str(HERE))
    import make_gpt2 as G  # the generator's own model code

    torch.manual_seed(0)
    model = G.GPT2().eval()
    G.init_weights(model)
    modules = [b.mlp.act for b in model.h]
    return model, modules


def check_text_weights(model, spec: dict) -> None:
    """Outside the timed part: the rebuilt model has the ONNX file's weights, bit for bit."""
    inits = onnx_initializers(spec["onnx"])
    same = np.array_equal(inits["wte.weight"], model.wte.weight.detach().numpy())
    fc0 = model.h[0].mlp.c_fc.weight.detach().numpy().T
    same = same and any(v.shape == fc0.shape and np.array_equal(v, fc0) for v in inits.values())
    if not same:
        raise SystemExit("the rebuilt GPT-2-sized model does not have the ONNX file's weights")


def image_model(spec: dict):
    sys.path.insert(0, str(ROOT / "fixtures" / "train"))
    from train_cnn import SheetCNN

    inits = onnx_initializers(spec["onnx"])
    model = SheetCNN(inits["head.weight"].shape[0]).eval()
    state = {k: torch.from_numpy(np.array(v)) for k, v in inits.items()}
    model.load_state_dict(state, strict=True)
    modules = [model.conv3.act, model.conv4.act]
    return model, modules


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(int(spec["threads"]))
    t0 = time.perf_counter()
    kind = spec["kind"]
    model, modules = text_model(spec) if kind == "text" else image_model(spec)
    labels = np.array([l == "a" for l in spec["labels"]])
    n = labels.size
    t_load = time.perf_counter() - t0

    # Forward hooks: each layer's activation of the current batch, reduced per stimulus.
    rows: list[list[np.ndarray]] = [[] for _ in modules]
    state = {"mask": None}

    def hook(li):
        def f(_mod, _inp, out):
            x = out.detach()
            if kind == "text":
                m = state["mask"]  # B×T, 1 on real tokens
                pooled = (x * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)
            else:
                pooled = x.mean(dim=(2, 3))
            rows[li].append(pooled.to(torch.float64).numpy())
        return f

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(modules)]
    bs = int(spec["batch_size"])
    t1 = time.perf_counter()
    t_decode = 0.0
    with torch.inference_mode():
        if kind == "text":
            ids = spec["ids"]
            for s in range(0, n, bs):
                batch = ids[s:s + bs]
                T = max(len(x) for x in batch)
                x = torch.zeros((len(batch), T), dtype=torch.long)
                m = torch.zeros((len(batch), T), dtype=torch.float32)
                for b, seq in enumerate(batch):
                    x[b, :len(seq)] = torch.tensor(seq)
                    m[b, :len(seq)] = 1
                state["mask"] = m
                model(x)
        else:
            from PIL import Image
            import torchvision.transforms as Tr

            h, w = spec["size"]
            tf = Tr.Compose([Tr.Resize(h), Tr.CenterCrop((h, w)), Tr.ToTensor(), Tr.Normalize(spec["mean"], spec["std"])])
            files = spec["files"]
            for s in range(0, n, bs):
                td = time.perf_counter()
                x = torch.stack([tf(Image.open(f).convert("RGB")) for f in files[s:s + bs]])
                t_decode += time.perf_counter() - td
                model(x)
    for hd in handles:
        hd.remove()
    t_forward = time.perf_counter() - t1

    t2 = time.perf_counter()
    result_layers = []
    for li, name in enumerate(spec["layers"]):
        mat = np.concatenate(rows[li], axis=0)
        t, p = scipy.stats.ttest_ind(mat[labels], mat[~labels], equal_var=False)
        q = bh(p)
        result_layers.append({"name": name, "t": t, "sig": int(np.sum(q <= spec["alpha"]))})
    t_stats = time.perf_counter() - t2
    total = time.perf_counter() - t0
    if kind == "text":
        check_text_weights(model, spec)

    agreement = None
    if spec.get("toposcope_t"):
        theirs = json.loads(Path(spec["toposcope_t"]).read_text())
        worst = 0.0
        worst_rel = 0.0
        for l in result_layers:
            a = np.asarray(theirs["t"][l["name"]], dtype=np.float64)
            ok = np.isfinite(a) & np.isfinite(l["t"])
            d = np.abs(a[ok] - l["t"][ok])
            if d.size:
                worst = max(worst, float(d.max()))
                worst_rel = max(worst_rel, float((d / np.maximum(1.0, np.abs(l["t"][ok]))).max()))
        agreement = {
            "maxAbsDeltaT": worst,
            "maxRelDeltaT": worst_rel,
            "significantPeer": sum(l["sig"] for l in result_layers),
            "significantToposcope": int(theirs["significant"]),
        }
    out = {
        "kind": kind,
        "torch": torch.__version__,
        "scipy": scipy.__version__,
        "threads": torch.get_num_threads(),
        "stimuli": int(n),
        "batchSize": bs,
        "seconds": {"total": total, "load": t_load, "forward": t_forward, "decode": t_decode, "stats": t_stats},
        "layers": [{"name": l["name"], "significant": l["sig"]} for l in result_layers],
        "agreement": agreement,
    }
    Path(spec["out"]).write_text(json.dumps(out))
    a = agreement or {}
    print(f"    peer ({kind}): {total:.2f} s [load {t_load:.2f}, forward+hooks {t_forward:.2f} (decode {t_decode:.2f}), "
          f"scipy t + BH {t_stats:.2f}]; significant {a.get('significantPeer')} vs toposcope {a.get('significantToposcope')}, "
          f"max |Δt| {a.get('maxAbsDeltaT', float('nan')):.3g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
