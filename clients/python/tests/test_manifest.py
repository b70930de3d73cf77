"""The manifest check against the service's schema, layouts and preprocessing translation (no server)."""
import json
import os
import unittest

import torchvision.models
import torchvision.transforms as T

import toposcope
from toposcope._schema import SCHEMA_FILE, load_schema
from _server import REPO


def manifest(**over):
    m = {"name": "m", "modality": "image",
         "input": {"image": {"name": "input", "size": [224, 224], "channels": 3, "mean": [0.5], "std": [0.5]}},
         "layers": [{"name": "layer4", "tensor": "layer4", "unitAxis": 1}]}
    m.update(over)
    return m


class Schema(unittest.TestCase):
    def test_bundled_schema_is_the_services(self):
        with open(os.path.join(REPO, "openapi", "manifest.schema.json"), encoding="utf-8") as f:
            service = json.load(f)
        self.assertEqual(load_schema(), service, f"{SCHEMA_FILE} is stale: copy openapi/manifest.schema.json over it")

    def test_valid(self):
        toposcope.validate_manifest(manifest())

    def assertField(self, m, field):
        with self.assertRaises(toposcope.ManifestError) as e:
            toposcope.validate_manifest(m)
        self.assertEqual(e.exception.field, field, str(e.exception))

    def test_violations_name_the_field(self):
        self.assertField(manifest(layers=[]), "manifest.layers")
        self.assertField(manifest(modality="audio"), "manifest.modality")
        self.assertField(manifest(outputs={"logits": "logits"}), "manifest.outputs")
        bad = manifest()
        bad["layers"][0]["name"] = "has space"
        self.assertField(bad, "manifest.layers[0].name")
        bad = manifest()
        bad["layers"][0]["pooling"] = "last"
        self.assertField(bad, "manifest.layers[0].pooling")
        bad = manifest()
        bad["input"]["image"]["size"] = [224]
        self.assertField(bad, "manifest.input.image.size")
        bad = manifest()
        bad["input"]["image"]["resizeTo"] = 256
        self.assertField(bad, "manifest.input.image.resizeTo")
        bad = manifest()
        bad["layers"][0]["layout"] = {"type": "grid", "rows": 0}
        self.assertField(bad, "manifest.layers[0].layout.rows")
        self.assertField(manifest(input={"text": {"tokenizer": {"type": "gpt2"}, "maxTokens": 8, "idsInput": "ids"}}),
                         "manifest.input.image")


class Layouts(unittest.TestCase):
    def test_topoloss_rule(self):
        for n, rc in {64: (8, 8), 128: (8, 16), 256: (16, 16), 512: (16, 32), 768: (24, 32), 3072: (48, 64),
                      1000: (25, 40), 784: (28, 28), 7: (1, 7)}.items():
            self.assertEqual(toposcope.topoloss_grid(n), rc)

    def test_layout_helpers(self):
        self.assertEqual(toposcope.grid(2, 3, permutation=[5, 0, 1, 2, 3, 4]),
                         {"type": "grid", "rows": 2, "cols": 3, "permutation": [5, 0, 1, 2, 3, 4]})
        self.assertEqual(toposcope.coordinates([0, 1.5], [2, 3], cell_size=0.5),
                         {"type": "coordinates", "x": [0.0, 1.5], "y": [2.0, 3.0], "cellSize": 0.5})
        with self.assertRaises(ValueError):
            toposcope.coordinates([0, 1], [0])


class Preprocessing(unittest.TestCase):
    def test_weights_preset(self):
        im = toposcope.image_input(torchvision.models.ResNet18_Weights.DEFAULT.transforms())
        self.assertEqual(im, {"name": "input", "size": [224, 224], "channels": 3, "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225], "resize": "torchvision", "resizeTo": 256})

    def test_compose(self):
        im = toposcope.image_input(T.Compose([T.Resize((100, 120)), T.ToTensor(), T.Normalize([0.5], [0.25])]))
        self.assertEqual((im["size"], im["resizeTo"], im["mean"], im["std"]), ([100, 120], [100, 120], [0.5], [0.25]))
        im = toposcope.image_input(T.Compose([T.Grayscale(), T.Resize(72), T.CenterCrop(64), T.ToTensor()]))
        self.assertEqual((im["channels"], im["size"], im["resizeTo"], im["mean"]), (1, [64, 64], 72, [0.0]))

    def test_untranslatable(self):
        for t, word in [(T.Compose([T.Resize(256), T.ToTensor()]), "CenterCrop"),
                        (T.Compose([T.Resize(256, interpolation=T.InterpolationMode.NEAREST), T.CenterCrop(224), T.ToTensor()]), "bilinear"),
                        (T.Compose([T.RandomHorizontalFlip(), T.Resize(256), T.CenterCrop(224), T.ToTensor()]), "RandomHorizontalFlip"),
                        (T.Compose([T.Resize(256), T.CenterCrop(224)]), "ToTensor")]:
            with self.assertRaises(ValueError) as e:
                toposcope.image_input(t)
            self.assertIn(word, str(e.exception))


if __name__ == "__main__":
    unittest.main()
