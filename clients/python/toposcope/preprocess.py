"""The manifest's `input.image` from torchvision preprocessing (or from plain arguments)."""


def _pair(v, what):
    if isinstance(v, int):
        return [v, v]
    v = list(v)
    if len(v) == 1:
        return [int(v[0]), int(v[0])]
    if len(v) == 2:
        return [int(v[0]), int(v[1])]
    raise ValueError(f"{what}: expected an int or (height, width), got {v!r}")


def _is_bilinear(interp):
    return getattr(interp, "value", interp) in ("bilinear", 2)


def image_input(preprocess=None, *, size=None, mean=None, std=None, resize="torchvision",
                resize_to=None, channels=3, name="input", background=None):
    """Builds `input.image` of the manifest.

    `preprocess` may be a torchvision `Compose` (Resize, CenterCrop, ToTensor / PILToTensor +
    ConvertImageDtype, Normalize, Grayscale) or a weights preset such as
    `ResNet18_Weights.DEFAULT.transforms()`; it is translated to the service's `torchvision` resize
    mode, so the service feeds the model the bytes torchvision would on a PIL image. Without it,
    the keyword arguments are used as given (`resize` one of stretch, contain, cover, torchvision).
    """
    if preprocess is not None:
        return _from_torchvision(preprocess, name=name, background=background)
    if size is None:
        raise ValueError("image_input needs `preprocess` or `size`")
    mean = [0.0] * channels if mean is None else mean
    std = [1.0] * channels if std is None else std
    out = {"name": name, "size": _pair(size, "size"), "channels": int(channels), "mean": [float(m) for m in mean],
           "std": [float(s) for s in std], "resize": resize}
    if resize_to is not None:
        out["resizeTo"] = int(resize_to) if isinstance(resize_to, int) else _pair(resize_to, "resize_to")
    if background is not None:
        out["background"] = [int(c) for c in background]
    return out


def _from_torchvision(t, name, background):
    if hasattr(t, "crop_size") and hasattr(t, "resize_size"):  # torchvision weights preset (ImageClassification)
        if not _is_bilinear(t.interpolation):
            raise ValueError(f"the preset resizes with {t.interpolation}; the service reproduces bilinear only")
        rs = list(t.resize_size)
        return image_input(size=_pair(t.crop_size, "crop_size"), mean=t.mean, std=t.std, resize="torchvision",
                           resize_to=rs[0] if len(rs) == 1 else rs, name=name, background=background)
    steps = list(getattr(t, "transforms", t))
    resize_to, crop, mean, std, channels, scaled = None, None, None, None, 3, False
    for s in steps:
        kind = type(s).__name__
        if kind == "Resize":
            if not _is_bilinear(s.interpolation):
                raise ValueError(f"Resize uses {s.interpolation}; the service reproduces bilinear only")
            if getattr(s, "max_size", None) is not None:
                raise ValueError("Resize(max_size=...) has no manifest equivalent")
            sz = s.size
            resize_to = sz if isinstance(sz, int) else (int(sz[0]) if len(sz) == 1 else _pair(sz, "Resize"))
        elif kind == "CenterCrop":
            crop = _pair(s.size, "CenterCrop")
        elif kind in ("ToTensor", "PILToTensor", "ConvertImageDtype"):
            scaled = scaled or kind != "PILToTensor"
        elif kind == "Normalize":
            mean, std = list(s.mean), list(s.std)
        elif kind == "Grayscale":
            if s.num_output_channels != 1:
                raise ValueError("Grayscale(num_output_channels=3) has no manifest equivalent; use 1 channel")
            channels = 1
        else:
            raise ValueError(f"the transform {kind} has no manifest equivalent (supported: Resize, CenterCrop, ToTensor, "
                             "PILToTensor + ConvertImageDtype, Normalize, Grayscale)")
    if not scaled:
        raise ValueError("the preprocessing never scales pixels to [0, 1] (ToTensor or ConvertImageDtype); the service always does")
    if resize_to is None:
        raise ValueError("the preprocessing has no Resize: the service must resize every image to one size")
    if crop is None:
        if isinstance(resize_to, int):
            raise ValueError("Resize(int) without CenterCrop gives a size that depends on each image's shape; add CenterCrop")
        crop = resize_to
    mean = [0.0] * channels if mean is None else mean
    std = [1.0] * channels if std is None else std
    if len(mean) != 1 and len(mean) != channels:
        raise ValueError(f"Normalize has {len(mean)} means for {channels} channel(s)")
    return image_input(size=crop, mean=mean, std=std, resize="torchvision", resize_to=resize_to, channels=channels,
                       name=name, background=background)
