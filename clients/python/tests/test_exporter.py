"""Exporter rules that need PyTorch but no server."""
import json
import os
import tempfile
import unittest

import numpy as np
import onnx
import torch
import torch.nn as nn

import toposcope
from _models import small_cnn

IMAGE = toposcope.image_input(size=32, mean=[0.5], std=[0.5], resize="torchvision", resize_to=36)


class Exporter(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def out(self, name="m"):
        return os.path.join(self.tmp.name, name)

    def test_outputs_are_named_and_dynamic(self):
        m = small_cnn()
        exp = toposcope.export(m, torch.randn(1, 3, 32, 32), layers={"conv2": m.conv2, "fc": m.fc}, modality="image",
                               image=IMAGE, out_dir=self.out())
        g = onnx.load(exp.model_path).graph
        self.assertEqual([o.name for o in g.output], ["logits", "conv2", "fc"])
        self.assertEqual(g.input[0].type.tensor_type.shape.dim[0].dim_param, "batch")
        with open(os.path.join(exp.dir, "manifest.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f), exp.manifest)
        self.assertEqual(exp.manifest["layers"][1], {"name": "fc", "tensor": "fc", "unitAxis": 1, "pooling": "mean",
                                                     "layout": {"type": "grid", "rows": 2, "cols": 5}})

    def test_mode_restored_and_weights_untouched(self):
        m = small_cnn()
        m.train()
        before = m.bn1.running_mean.clone()
        toposcope.export(m, torch.randn(4, 3, 32, 32) * 5 + 3, layers={"conv2": m.conv2}, modality="image", image=IMAGE,
                         out_dir=self.out())
        self.assertTrue(m.training and m.bn1.training)
        self.assertTrue(torch.equal(before, m.bn1.running_mean))

    def test_module_run_twice(self):
        m = small_cnn()
        with self.assertRaises(toposcope.ExportError) as e:
            toposcope.export(m, torch.randn(1, 3, 32, 32), layers={"relu": m.relu}, modality="image", image=IMAGE, out_dir=self.out())
        self.assertIn("ran 2 times", str(e.exception))
        exp = toposcope.export(m, torch.randn(1, 3, 32, 32), layers={"relu2": toposcope.Layer(m.relu, call=1)}, modality="image",
                               image=IMAGE, out_dir=self.out())
        self.assertEqual(exp.shapes["relu2"], (1, 32, 8, 8))

    def test_tuple_output_needs_index(self):
        class Pair(nn.Module):
            def forward(self, x):
                return x * 2, x + 1

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.pair = Pair()

            def forward(self, x):
                a, b = self.pair(x)
                return (a * b).flatten(1)

        net = Net()
        with self.assertRaises(toposcope.ExportError) as e:
            toposcope.export(net, torch.randn(1, 3, 32, 32), layers={"p": net.pair}, modality="image", image=IMAGE, out_dir=self.out())
        self.assertIn("index=", str(e.exception))
        exp = toposcope.export(net, torch.randn(1, 3, 32, 32), layers={"p": toposcope.Layer(net.pair, index=1)}, modality="image",
                               image=IMAGE, out_dir=self.out())
        self.assertEqual(exp.manifest["layers"][0]["layout"], {"type": "grid", "rows": 1, "cols": 3})

    def test_flatten_with_coordinates_and_permutation(self):
        m = small_cnn()
        rng = np.random.default_rng(0)
        xy = rng.uniform(0, 10, (2, 16 * 16 * 16))
        perm = rng.permutation(32)
        exp = toposcope.export(m, torch.randn(1, 3, 32, 32), modality="image", image=IMAGE, out_dir=self.out(), layers={
            "conv1": toposcope.Layer(m.conv1, flatten=True, layout=toposcope.coordinates(xy[0], xy[1])),
            "conv2": toposcope.Layer(m.conv2, layout=toposcope.grid(4, 8, permutation=perm))})
        l1, l2 = exp.manifest["layers"]
        self.assertEqual((l1["unitAxis"], len(l1["layout"]["x"]), l1["layout"]["type"]), (1, 4096, "coordinates"))
        self.assertEqual(l2["layout"]["permutation"], perm.tolist())
        with self.assertRaises(toposcope.ExportError):
            toposcope.export(m, torch.randn(1, 3, 32, 32), modality="image", image=IMAGE, out_dir=self.out(),
                             layers={"conv2": toposcope.Layer(m.conv2, layout=toposcope.grid(4, 8, permutation=perm[:31]))})

    def test_manifest_outputs_not_accepted_yet(self):
        m = small_cnn()
        with self.assertRaises(toposcope.ManifestError) as e:
            toposcope.export(m, torch.randn(1, 3, 32, 32), layers={"conv2": m.conv2}, modality="image", image=IMAGE,
                             out_dir=self.out(), manifest_outputs=True)
        self.assertEqual(e.exception.field, "manifest.outputs")

    def test_preprocessing_must_fit_the_example(self):
        m = small_cnn()
        with self.assertRaises(toposcope.ExportError) as e:
            toposcope.export(m, torch.randn(1, 3, 40, 40), layers={"conv2": m.conv2}, modality="image", image=IMAGE, out_dir=self.out())
        self.assertIn("3×40×40", str(e.exception))

    def test_text_with_mask_by_keyword(self):
        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(50, 12)
                self.mix = nn.Linear(12, 12)
                self.out = nn.Linear(12, 50)

            def forward(self, input_ids, attention_mask=None):
                h = self.mix(self.emb(input_ids)) * attention_mask.unsqueeze(-1)
                return {"logits": self.out(h)}

        lm = LM()
        ids = torch.randint(0, 50, (2, 5))
        exp = toposcope.export(lm, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, layers={"mix": lm.mix},
                               modality="text", tokenizer="gpt2", out_dir=self.out(), pad_token_id=0)
        self.assertEqual(exp.manifest["input"]["text"], {"tokenizer": {"type": "gpt2"}, "maxTokens": 128, "idsInput": "input_ids",
                                                         "maskInput": "attention_mask", "padTokenId": 0})
        g = onnx.load(exp.model_path).graph
        self.assertEqual([i.name for i in g.input], ["input_ids", "attention_mask"])
        self.assertEqual([d.dim_param for d in g.output[1].type.tensor_type.shape.dim[:2]], ["batch", "tokens"])
        with self.assertRaises(toposcope.ExportError) as e:
            toposcope.export(lm, {"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                             layers={"pooled": toposcope.Layer(lm.mix, flatten=True)}, modality="text", tokenizer="gpt2",
                             out_dir=self.out())
        self.assertIn("[batch, tokens, units]", str(e.exception))


if __name__ == "__main__":
    unittest.main()
