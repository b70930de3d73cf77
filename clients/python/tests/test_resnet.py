"""torchvision ResNet-18 (random weights) exported with toposcope.export, run by the service, checked
against PyTorch forward hooks on the same images preprocessed by torchvision."""
import os
import tempfile
import unittest

import numpy as np
import torch
import torchvision
from PIL import Image

import toposcope
from _images import photos, renders
from _server import server_url

TOL = 1e-4


def rel_err(got, ref):
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref)) / np.max(np.abs(ref)))


def welch_t(a, b):
    va, vb = a.var(0, ddof=1) / len(a), b.var(0, ddof=1) / len(b)
    return (a.mean(0) - b.mean(0)) / np.sqrt(va + vb)


class ResNet18(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.model = torchvision.models.resnet18().eval()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.preprocess = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
        m = cls.model
        cls.exp = toposcope.export(m, torch.randn(2, 3, 224, 224), layers={"layer3": m.layer3, "layer4": m.layer4},
                                   modality="image", image=cls.preprocess, out_dir=os.path.join(cls.tmp.name, "r18"),
                                   name="resnet18-test")
        cls.client = toposcope.Client(server_url(), progress=False)
        cls.registered = cls.client.register_model(cls.exp)
        cls.a_imgs, cls.b_imgs = renders("faces", 8), photos(8)
        cls.a = cls.client.create_set("r18-faces", cls.a_imgs)
        cls.b = cls.client.create_set("r18-photos", cls.b_imgs)
        cls.contrast = cls.client.contrast(cls.registered["id"], cls.a, cls.b, keep_activations=True)
        cls.ref = cls.reference(cls.a_imgs + cls.b_imgs)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def reference(cls, images):
        """Layer outputs pooled over positions, by forward hooks, on torchvision's preprocessing of PIL images."""
        batch = torch.stack([cls.preprocess(Image.fromarray(im)) for im in images])
        seen = {}
        hooks = [getattr(cls.model, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.detach()))
                 for n in ("layer3", "layer4")]
        with torch.no_grad():
            cls.model(batch)
        for h in hooks:
            h.remove()
        return {n: v.double().mean(dim=(2, 3)).numpy() for n, v in seen.items()}

    def test_manifest(self):
        im = self.exp.manifest["input"]["image"]
        self.assertEqual(im["resize"], "torchvision")
        self.assertEqual(im["resizeTo"], 256)
        self.assertEqual(im["size"], [224, 224])
        self.assertEqual([(l["name"], l["tensor"], l["unitAxis"]) for l in self.exp.manifest["layers"]],
                         [("layer3", "layer3", 1), ("layer4", "layer4", 1)])
        self.assertEqual([(l["units"], l["rows"], l["cols"]) for l in self.registered["layers"]], [(256, 16, 16), (512, 16, 32)])

    def test_activations_match_forward_hooks(self):
        for layer in ("layer3", "layer4"):
            act = self.contrast.activations(layer)
            self.assertEqual(act.values.shape, (16, self.ref[layer].shape[1]))
            self.assertEqual(act.stimulus.tolist(), list(range(16)))
            self.assertEqual((act.token == -1).all(), True)
            self.assertEqual(list(act.condition), ["a"] * 8 + ["b"] * 8)
            err = rel_err(act.values, self.ref[layer])
            print(f"\nresnet18 {layer}: max relative error vs forward hooks {err:.2e}")
            self.assertLessEqual(err, TOL)

    def test_statistics_and_map(self):
        r = self.contrast.layer("layer4")
        ref = self.ref["layer4"]
        self.assertEqual((r.nA, r.nB, r.units), (8, 8, 512))
        self.assertLessEqual(rel_err(r.meanA, ref[:8].mean(0)), TOL)
        self.assertLessEqual(rel_err(r.meanB, ref[8:].mean(0)), TOL)
        np.testing.assert_allclose(r.t, welch_t(ref[:8], ref[8:]), rtol=1e-3, atol=1e-3)
        m = self.contrast.map("layer4", "t")
        self.assertEqual(m.shape, (16, 32))
        np.testing.assert_allclose(m, r.sheet(r.t), rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    unittest.main()
