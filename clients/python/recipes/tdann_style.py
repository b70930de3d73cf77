"""A TDANN-style model: a ResNet-18 whose units are every (channel, position) of a stage's output,
each with its own learned x, y on the cortical sheet.

    python tdann_style.py --checkpoint tdann.pt --positions positions.npz --out tdann

`--positions` is an .npz with `<layer>_x` and `<layer>_y` arrays (one value per unit, units in
channel-major order: channel, then row, then column of the feature map), e.g. `layer4.1_x`. Without
it, seeded random positions stand in. The checkpoint is a torchvision ResNet-18 state dict.
"""
import sys

import numpy as np
import torch
import torchvision

import toposcope
from _common import load_state_dict, parser


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--positions", help=".npz with <layer>_x and <layer>_y per unit")
    p.add_argument("--layers", default="layer2.1,layer3.1,layer4.1")
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args(argv)
    torch.manual_seed(a.seed)
    model = torchvision.models.resnet18()
    if a.checkpoint:
        model.load_state_dict(load_state_dict(a.checkpoint))
    model.eval()
    names = a.layers.split(",")
    with torch.no_grad():
        shapes = {}
        hooks = [model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, o.shape[1:]))
                 for n in names]
        model(torch.zeros(1, 3, a.size, a.size))
        for h in hooks:
            h.remove()
    pos = np.load(a.positions) if a.positions else None
    rng = np.random.default_rng(a.seed)
    layers = {}
    for n in names:
        units = int(np.prod(shapes[n]))
        if pos is not None:
            x, y = pos[f"{n}_x"], pos[f"{n}_y"]
            layout = toposcope.coordinates(x, y)
        else:
            # Stand-in: each unit jittered inside its own cell of a shuffled grid.
            rows, cols = toposcope.topoloss_grid(units)
            cell = rng.permutation(units)
            x = cell % cols + rng.uniform(0.1, 0.9, units)
            y = cell // cols + rng.uniform(0.1, 0.9, units)
            layout = toposcope.coordinates(x, y)
        layers[n] = toposcope.Layer(model.get_submodule(n), flatten=True, layout=layout)
    preprocess = torchvision.transforms.Compose([
        torchvision.transforms.Resize(a.size * 8 // 7), torchvision.transforms.CenterCrop(a.size),
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    exp = toposcope.export(model, torch.randn(1, 3, a.size, a.size), layers=layers, modality="image", image=preprocess,
                           out_dir=a.out, name=a.name or "tdann-style",
                           description=f"TDANN-style ResNet-18, one unit per channel and position; positions: "
                                       f"{a.positions or f'random (seed {a.seed})'}")
    print(exp)
    return exp


if __name__ == "__main__":
    main(sys.argv[1:])
