"""The service's `torchvision` resize mode against torchvision itself, pixel by pixel: a model whose
only layer is its flattened input makes the service hand back exactly what it fed the model."""
import os
import tempfile
import unittest

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image

import toposcope
from _images import photos, renders
from _server import server_url

DOMAINS = ("faces", "bodies", "places", "characters", "objects")


class Pixels(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.flat = torch.nn.Flatten()

    def forward(self, x):
        return self.flat(x)


def service_pixels(client, name, preprocess, shape, a_imgs, b_imgs, tmp):
    """What the service feeds the model for each image, as N×C×H×W in 0..255 (a then b)."""
    model = Pixels()
    exp = toposcope.export(model, torch.zeros(1, *shape), layers={"pixels": model.flat}, modality="image", image=preprocess,
                           out_dir=os.path.join(tmp, name), name=name, logits=None)
    reg = client.register_model(exp)
    a = client.create_set(f"{name}-a", a_imgs)
    b = client.create_set(f"{name}-b", b_imgs)
    c = client.contrast(reg["id"], a, b, keep_activations=True, analysis={"topography": {"permutations": 1}})
    act = c.activations("pixels")
    return act.values.reshape(-1, *shape).astype(np.float64) * 255.0


def torchvision_pixels(preprocess, images):
    return np.stack([preprocess(Image.fromarray(im)).numpy() for im in images]).astype(np.float64) * 255.0


def tensor_path(resize_to, crop, images):
    """torchvision on uint8 tensors with antialias=True (the tensor path), for comparison."""
    out = []
    for im in images:
        t = torch.from_numpy(im).permute(2, 0, 1).contiguous()
        t = TF.center_crop(TF.resize(t, resize_to, antialias=True), crop)
        out.append(t.numpy())
    return np.stack(out).astype(np.float64)


class TorchvisionResize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = toposcope.Client(server_url(), progress=False)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.renders = [im for d in DOMAINS for im in renders(d, 4)]
        cls.photos = photos()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, name, preprocess, shape, resize_to, crop):
        got = service_pixels(self.client, name, preprocess, shape, self.renders, self.photos, self.tmp.name)
        ref = torchvision_pixels(preprocess, self.renders + self.photos)
        self.assertEqual(got.shape, ref.shape)
        d = np.abs(got - ref)
        n = len(self.renders)
        line = f"\n{name}: max |service - torchvision PIL| = {d.max():.2e} levels (renders {d[:n].max():.2e}, photos {d[n:].max():.2e})"
        if resize_to is not None:
            tens = np.abs(np.rint(got) - tensor_path(resize_to, crop, self.renders + self.photos))
            line += (f"; vs the tensor path (antialias=True): max {tens.max():.0f} levels, mean {tens.mean():.4f}, "
                     f"{(tens > 0).mean() * 100:.2f}% of values differ")
        print(line)
        # Pixels travel as k/255 in float32 both ways: equality up to float32 rounding of the 0..255 scale.
        self.assertLess(d.max(), 1e-3)

    def test_resize_then_center_crop(self):
        self.check("tv-256-224", T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()]), (3, 224, 224), 256, 224)

    def test_resize_to_height_width(self):
        self.check("tv-160x200", T.Compose([T.Resize((160, 200)), T.ToTensor()]), (3, 160, 200), [160, 200], [160, 200])

    def test_grayscale(self):
        self.check("tv-grey", T.Compose([T.Grayscale(), T.Resize(72), T.CenterCrop(64), T.ToTensor()]), (1, 64, 64), None, None)


if __name__ == "__main__":
    unittest.main()
