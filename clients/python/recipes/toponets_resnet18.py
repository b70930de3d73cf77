"""TopoNets ResNet-18 / ResNet-50: torchvision's architecture with every stride-2 convolution that
reads ≥ 16 channels preceded by a fixed depthwise 3×3 binomial blur (BlurPool), exported with one
sheet per stage (one cell per output channel, TopoLoss grid).

    python toponets_resnet18.py --checkpoint resnet18_tau_10.0.pt --out topo-resnet18
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import toposcope
from _common import load_state_dict, parser


class BlurPoolConv2d(nn.Module):
    """A [1 2 1]ᵀ[1 2 1]/16 blur per input channel, then the wrapped convolution. The attribute names
    (`conv`, `blur_filter`) are those of the TopoNets checkpoints."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        self.register_buffer("blur_filter", k.expand(conv.in_channels, 1, 3, 3).clone())

    def forward(self, x):
        x = F.conv2d(x, self.blur_filter, padding=1, groups=self.conv.in_channels)
        return self.conv(x)


def add_blurpool(module):
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and max(child.stride) > 1 and child.in_channels >= 16:
            setattr(module, name, BlurPoolConv2d(child))
        else:
            add_blurpool(child)
    return module


def build(arch="resnet18", checkpoint=None, seed=0):
    torch.manual_seed(seed)
    model = add_blurpool(getattr(torchvision.models, arch)())
    if checkpoint:
        model.load_state_dict(load_state_dict(checkpoint))
    return model.eval()


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet50"])
    p.add_argument("--layers", default="layer1,layer2,layer3,layer4",
                   help="comma-separated module paths to expose (e.g. layer4.1.conv2)")
    p.add_argument("--size", type=int, default=224, help="crop size (Resize(size·8/7) + CenterCrop(size))")
    a = p.parse_args(argv)
    model = build(a.arch, a.checkpoint, a.seed)
    layers = {path: model.get_submodule(path) for path in a.layers.split(",")}
    preprocess = torchvision.transforms.Compose([
        torchvision.transforms.Resize(a.size * 8 // 7), torchvision.transforms.CenterCrop(a.size),
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    exp = toposcope.export(model, torch.randn(1, 3, a.size, a.size), layers=layers, modality="image", image=preprocess,
                           out_dir=a.out, name=a.name or f"topo-{a.arch}",
                           description=f"TopoNets {a.arch} with BlurPool; weights: {a.checkpoint or f'random (seed {a.seed})'}")
    print(exp)
    return exp


if __name__ == "__main__":
    main(sys.argv[1:])
