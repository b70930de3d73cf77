"""The recipe scripts at small sizes: they export, the service registers what they write, and
checkpoints in the published layouts load."""
import importlib
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

import toposcope
from _server import server_url

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))


def recipe(name):
    return importlib.import_module(name)


class Recipes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.client = toposcope.Client(server_url(), progress=False)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def register(self, exp):
        return {l["name"]: (l["units"], l["rows"], l["cols"]) for l in self.client.register_model(exp)["layers"]}

    def test_toponets_resnet18_blurpool(self):
        r = recipe("toponets_resnet18")
        model = r.build()
        blurred = [n for n, m in model.named_modules() if isinstance(m, r.BlurPoolConv2d)]
        self.assertEqual(blurred, ["layer2.0.conv1", "layer2.0.downsample.0", "layer3.0.conv1", "layer3.0.downsample.0",
                                   "layer4.0.conv1", "layer4.0.downsample.0"])
        sd = model.state_dict()
        self.assertIn("layer2.0.conv1.conv.weight", sd)
        self.assertEqual(tuple(sd["layer2.0.conv1.blur_filter"].shape), (64, 1, 3, 3))
        ckpt = self.out("r18.pt")
        torch.manual_seed(5)
        other = r.build(seed=5)
        torch.save({f"module.{k}": v for k, v in other.state_dict().items()}, ckpt)
        loaded = r.build(checkpoint=ckpt)
        self.assertTrue(torch.equal(loaded.fc.weight, other.fc.weight))
        exp = r.main(["--out", self.out("r18"), "--size", "64", "--layers", "layer3,layer4"])
        self.assertEqual(exp.manifest["input"]["image"]["resizeTo"], 73)
        self.assertEqual(self.register(exp), {"layer3": (256, 16, 16), "layer4": (512, 16, 32)})

    def test_toponets_nanogpt(self):
        r = recipe("toponets_nanogpt")
        cfg = dict(n_layer=2, n_head=4, n_embd=64, block_size=32)
        src = r.build(seed=3, **cfg)
        sd = {f"_orig_mod.{k}": v for k, v in src.state_dict().items()}
        sd["_orig_mod.transformer.h.0.attn.bias"] = torch.ones(1, 1, 32, 32)
        ckpt = self.out("nanogpt.pt")
        torch.save({"model": sd, "model_args": cfg}, ckpt)
        loaded = r.build(checkpoint=ckpt, **cfg)
        self.assertTrue(torch.equal(loaded.transformer.h[1].mlp.c_fc.weight, src.transformer.h[1].mlp.c_fc.weight))
        exp = r.main(["--out", self.out("nanogpt"), "--checkpoint", ckpt, "--n-layer", "2", "--n-head", "4", "--n-embd", "64",
                      "--block-size", "32"])
        self.assertEqual(exp.manifest["input"]["text"]["tokenizer"], {"type": "gpt2"})
        self.assertEqual(self.register(exp), {"mlp0": (256, 16, 16), "mlp1": (256, 16, 16)})
        # Full size: 3072 MLP units per block on 48 × 64 (TopoLoss grid), without building the model.
        self.assertEqual(toposcope.topoloss_grid(4 * 768), (48, 64))

    def test_topolm_style(self):
        perm = np.random.default_rng(1).permutation(64)
        path = self.out("perm.npy")
        np.save(path, perm)
        exp = recipe("topolm_style").main(["--out", self.out("topolm"), "--n-layer", "2", "--n-head", "4", "--side", "8",
                                           "--permutation", path])
        self.assertEqual(exp.manifest["layers"][1]["layout"]["permutation"], perm.tolist())
        self.assertEqual(self.register(exp), {"resid0": (64, 8, 8), "resid1": (64, 8, 8)})

    def test_tdann_style(self):
        rng = np.random.default_rng(2)
        path = self.out("positions.npz")
        cell = rng.permutation(2048)
        np.savez(path, **{"layer4.1_x": cell % 64 + rng.uniform(0.2, 0.8, 2048), "layer4.1_y": cell // 64 + rng.uniform(0.2, 0.8, 2048)})
        exp = recipe("tdann_style").main(["--out", self.out("tdann"), "--size", "64", "--layers", "layer4.1", "--positions", path])
        lay = exp.manifest["layers"][0]
        self.assertEqual((lay["unitAxis"], lay["layout"]["type"], len(lay["layout"]["x"])), (1, "coordinates", 2048))
        self.assertEqual(self.register(exp)["layer4.1"][0], 2048)
        stand_in = recipe("tdann_style").main(["--out", self.out("tdann-random"), "--size", "64", "--layers", "layer3.1"])
        self.assertEqual(self.register(stand_in)["layer3.1"][0], 4096)

    def test_hugging_face(self):
        try:
            import transformers  # noqa: F401
            present = True
        except ImportError:
            present = False
        exp = recipe("hf_causal_lm").main(["--out", self.out("hf")])
        self.assertEqual(exp is not None, present)
        if present:
            self.assertEqual(self.register(exp)["mlp0"], (3072, 48, 64))


if __name__ == "__main__":
    unittest.main()
