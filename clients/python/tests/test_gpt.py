"""A small GPT written here (causal, learned positions, GELU MLP) exported with toposcope.export and
run by the service on texts of different lengths; the service pads them into batches, and its
mean over real tokens must equal PyTorch forward hooks on each text alone."""
import json
import math
import os
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn

import toposcope
from _server import server_url

TOL = 1e-4
WORDS = ("the a one cat dog bird fish man woman child tree house road river city sun moon rain snow wind "
         "runs walks sees eats likes finds makes takes gives sleeps sings jumps reads writes big small red green old "
         "new happy sad quick slow near far over under with without and but because then").split()
A_TEXTS = ["the cat sees a bird", "a dog runs", "the old man reads the big book near the river",
           "happy child sings", "the woman writes a new song with the quick pen and then sleeps", "one fish"]
B_TEXTS = ["rain and snow", "the sun is over the city", "wind", "a small red tree near the old house because of rain",
           "the moon", "green river runs under the road without the slow bird"]


def tokenizer_json(path):
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    special = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
                "special": True} for t, i in (("[PAD]", 0), ("[UNK]", 1))]
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": special, "normalizer": None,
           "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
           "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return vocab


class Attention(nn.Module):
    def __init__(self, d, heads, block):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.register_buffer("causal", torch.tril(torch.ones(block, block, dtype=torch.bool)), persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.heads)
        att = att.masked_fill(~self.causal[:T, :T], float("-inf")).softmax(dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.proj(self.act(self.fc(x)))


class ScaleOnlyNorm(nn.Module):
    """LayerNorm without a bias (nanoGPT's bias=False), exported as LayerNormalization with no B input."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(d) + 0.5)

    def forward(self, x):
        return nn.functional.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class Block(nn.Module):
    def __init__(self, d, heads, block):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d), Attention(d, heads, block)
        self.ln2, self.mlp = ScaleOnlyNorm(d), MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab, d=64, heads=4, layers=2, block=32):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(Block(d, heads, block) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


class SmallGPT(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tok = os.path.join(cls.tmp.name, "tokenizer.json")
        cls.vocab = tokenizer_json(tok)
        torch.manual_seed(0)
        cls.model = m = TinyGPT(len(cls.vocab)).eval()
        cls.layers = {"mlp0": m.blocks[0].mlp.act, "mlp1": toposcope.Layer(m.blocks[1].mlp.proj, capture="input"),
                      "block1": m.blocks[1]}
        cls.exp = toposcope.export(m, torch.randint(2, len(cls.vocab), (2, 7)), layers=cls.layers, modality="text",
                                   tokenizer=tok, max_tokens=32, out_dir=os.path.join(cls.tmp.name, "gpt"), name="tiny-gpt")
        cls.client = toposcope.Client(server_url(), progress=False)
        cls.registered = cls.client.register_model(cls.exp)
        cls.a = cls.client.create_set("gpt-a", A_TEXTS)
        cls.b = cls.client.create_set("gpt-b", B_TEXTS)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def ids(self, text):
        return [self.vocab.get(w, 1) for w in text.split()]

    def per_token(self, text):
        """{layer: tokens × units float64} from forward hooks on the text alone (no padding)."""
        seen = {}
        mods = {"mlp0": (self.model.blocks[0].mlp.act, "out"), "mlp1": (self.model.blocks[1].mlp.proj, "in"),
                "block1": (self.model.blocks[1], "out")}
        hooks = []
        for n, (mod, kind) in mods.items():
            if kind == "out":
                hooks.append(mod.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o[0].double().numpy())))
            else:
                hooks.append(mod.register_forward_pre_hook(lambda m, i, n=n: seen.__setitem__(n, i[0][0].double().numpy())))
        with torch.no_grad():
            self.model(torch.tensor([self.ids(text)]))
        for h in hooks:
            h.remove()
        return seen

    def test_manifest(self):
        man = self.exp.manifest
        self.assertEqual(man["input"]["text"], {"tokenizer": {"type": "huggingface", "file": "tokenizer.json"},
                                                "maxTokens": 32, "idsInput": "input_ids"})
        self.assertEqual([(l["name"], l["unitAxis"], l["layout"]["rows"], l["layout"]["cols"]) for l in man["layers"]],
                         [("mlp0", 2, 16, 16), ("mlp1", 2, 16, 16), ("block1", 2, 8, 8)])

    def test_mean_over_real_tokens_with_padding(self):
        c = self.client.contrast(self.registered["id"], self.a, self.b, keep_activations=True)
        texts = A_TEXTS + B_TEXTS
        self.assertGreater(max(len(t.split()) for t in texts), 3 * min(len(t.split()) for t in texts))
        refs = [self.per_token(t) for t in texts]
        for layer in ("mlp0", "mlp1", "block1"):
            act = c.activations(layer)
            self.assertEqual([s["text"] for s in act.stimuli], texts)
            ref = np.stack([r[layer].mean(0) for r in refs])
            err = float(np.max(np.abs(act.values - ref)) / np.max(np.abs(ref)))
            print(f"\ngpt {layer} mean pooling: max relative error vs forward hooks {err:.2e}")
            self.assertLessEqual(err, TOL)
            self.assertEqual(act.values.shape, (len(texts), ref.shape[1]))
        # Averaging the padding in (right-padded to the longest text) would give other numbers.
        short = texts.index("wind")
        padded = self.ids("wind") + [0] * (max(len(t.split()) for t in texts) - 1)
        seen = {}
        h = self.model.blocks[0].mlp.act.register_forward_hook(lambda m, i, o: seen.__setitem__("v", o[0].double().numpy()))
        with torch.no_grad():
            self.model(torch.tensor([padded]))
        h.remove()
        got = c.activations("mlp0").values[short]
        self.assertGreater(float(np.max(np.abs(got - seen["v"].mean(0)))), 100 * TOL * float(np.max(np.abs(got))))

    def test_every_token(self):
        c = self.client.contrast(self.registered["id"], self.a, self.b, keep_activations=True, pooling="tokens",
                                 layers=["mlp0"])
        act = c.activations("mlp0")
        texts = A_TEXTS + B_TEXTS
        self.assertEqual(act.values.shape[0], sum(len(t.split()) for t in texts))
        ref = np.stack([self.per_token(texts[s])["mlp0"][t] for s, t in zip(act.stimulus, act.token)])
        expected = [(s, t) for s, text in enumerate(texts) for t in range(len(text.split()))]
        self.assertEqual(list(zip(act.stimulus.tolist(), act.token.tolist())), expected)
        self.assertLessEqual(float(np.max(np.abs(act.values - ref)) / np.max(np.abs(ref))), TOL)


if __name__ == "__main__":
    unittest.main()
