"""Shared bits of the recipes: checkpoint loading and the command line."""
import argparse

import torch


def load_state_dict(path, key=None, strip=("module.", "_orig_mod."), drop_suffixes=()):
    """Loads a checkpoint file on the CPU: the state dict itself, or the entry `key` of a dict holding it.
    Prefixes in `strip` (DataParallel, torch.compile) and keys ending in `drop_suffixes` are removed."""
    obj = torch.load(path, map_location="cpu")
    if key is not None:
        if key not in obj:
            raise SystemExit(f"{path}: no '{key}' entry (it has {sorted(obj)[:10]})")
        obj = obj[key]
    out = {}
    for k, v in obj.items():
        for p in strip:
            while k.startswith(p):
                k = k[len(p):]
        if not k.endswith(tuple(drop_suffixes)):
            out[k] = v
    return out


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", required=True, help="model folder to write (model.onnx + manifest.json)")
    p.add_argument("--checkpoint", help="weights on this machine; without it the weights are random (seeded)")
    p.add_argument("--name", help="model name in the manifest")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights / layouts")
    return p
