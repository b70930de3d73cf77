"""The client against a real server: inspect, errors with the service's message and field, API keys,
image sets from arrays, batteries, layouts on the sheet."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

import toposcope
from _images import photos, renders
from _models import small_cnn
from _server import launch, server_url

IMAGE = toposcope.image_input(size=32, mean=[0.5], std=[0.5], resize="torchvision", resize_to=36)


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.client = toposcope.Client(server_url(), progress=False)
        m = cls.m = small_cnn()
        cls.perm = np.random.default_rng(3).permutation(32)
        cls.exp = toposcope.export(m, torch.randn(1, 3, 32, 32), modality="image", image=IMAGE, name="small-cnn",
                                   out_dir=os.path.join(cls.tmp.name, "cnn"), layers={
                                       "conv1": m.conv1,
                                       "conv2": toposcope.Layer(m.conv2, layout=toposcope.grid(4, 8, permutation=cls.perm))})
        cls.model = cls.client.register_model(cls.exp)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def folder_with(self, name, edit):
        d = os.path.join(self.tmp.name, name)
        shutil.copytree(self.exp.dir, d)
        with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
            man = json.load(f)
        edit(man)
        with open(os.path.join(d, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(man, f)
        return d

    def test_inspect_without_layers(self):
        d = self.folder_with("nolayers", lambda man: man.update(layers=[]))
        r = self.client.inspect_model(d)
        self.assertEqual([o["name"] for o in r["outputs"]], ["logits", "conv1", "conv2"])
        shapes = {t["name"]: t["shape"] for t in r["tensors"]}
        self.assertEqual(shapes["conv2"], [1, 32, 8, 8])
        self.assertEqual(shapes["logits"], [1, 10])
        self.assertEqual(len(self.client.models()), len({m["id"] for m in self.client.models()}))
        self.assertNotIn("nolayers", [m["source"] for m in self.client.models()])

    def test_errors_carry_message_and_field(self):
        d = self.folder_with("badtensor", lambda man: man["layers"][0].update(tensor="conv9"))
        with self.assertRaises(toposcope.ValidationError) as e:
            self.client.register_model(d)
        self.assertEqual((e.exception.status, e.exception.field), (400, "manifest.layers[0].tensor"))
        self.assertIn("conv9", e.exception.message)
        with self.assertRaises(toposcope.NotFoundError):
            self.client.model("no-such-model")
        s = self.client.create_set("err-a", renders("faces", 2))
        with self.assertRaises(toposcope.UnprocessableError) as e:
            self.client.contrast(self.model["id"], s, self.client.create_set("err-b", photos(2)), layers=["fc9"])
        self.assertEqual(e.exception.field, "layers[0]")
        with self.assertRaises(toposcope.UnprocessableError):
            self.client.contrast(self.model["id"], s, s)

    def test_api_key(self):
        url, stop = launch({"TOPOSCOPE_API_KEY": "s3cret"})
        try:
            with self.assertRaises(toposcope.AuthError) as e:
                toposcope.Client(url).create_set("k", ["hello"])
            self.assertEqual(e.exception.status, 401)
            self.assertEqual(toposcope.Client(url, api_key="s3cret").create_set("k", ["hello"])["nItems"], 1)
        finally:
            stop()

    def test_sets_from_arrays_and_files(self):
        grey = np.linspace(0, 1, 5 * 20 * 30).reshape(5, 20, 30)
        s = self.client.create_set("grey-floats", grey)
        self.assertEqual((s["modality"], s["nItems"]), ("image", 5))
        items = self.client.set_items(s)
        self.assertEqual([i["mediaType"] for i in items], ["image/png"] * 5)
        again = self.client.create_set("grey-floats", list(grey))
        self.assertEqual(again["id"], s["id"])
        from _server import fixture_images
        files = fixture_images("places", 3)
        self.assertEqual([i["label"] for i in self.client.set_items(self.client.create_set("files", files))],
                         [os.path.basename(f) for f in files])
        folder = os.path.dirname(files[0])
        self.assertEqual(self.client.create_set("folder", folder)["nItems"], len([f for f in os.listdir(folder) if f.endswith(".png")]))
        self.assertEqual(self.client.create_set("texts", ["one text", "two texts"])["modality"], "text")

    def test_battery_and_permuted_sheet(self):
        sets = [self.client.create_set(f"bat-{d}", renders(d, 4)) for d in ("faces", "places", "objects")]
        bat = self.client.battery(self.model["id"], categories=[s["name"] for s in sets])
        self.assertEqual(len(bat.contrasts), 3)
        for c in bat.contrasts:
            self.assertEqual(c.state, "succeeded")
        r = bat.contrasts[0].layer("conv2")
        self.assertEqual((r.nA, r.nB, r.rows, r.cols), (4, 8, 4, 8))
        self.assertEqual(r.cell_of_unit.tolist(), self.perm.tolist())
        m = bat.contrasts[0].map("conv2")
        self.assertEqual(m.flat[self.perm[5]], np.float32(r.t[5]))
        png = bat.contrasts[0].map_png("conv2", threshold=2)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertIs(bat[bat.contrasts[1].doc["label"]], bat.contrasts[1])


if __name__ == "__main__":
    unittest.main()
