"""PyTorch → model folder: `model.onnx` with the chosen modules' outputs as named graph outputs,
and the `manifest.json` that tells the service how to feed the model and where each sheet is.

torch and onnx are imported here only, so the client works without them.
"""
import json
import os
import shutil
import tempfile

from . import layout as _layout
from ._schema import validate_manifest
from .preprocess import image_input

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
# Protobuf's hard limit for one file; larger models keep their weights in DATA_FILE.
_PROTO_LIMIT = 2**31 - 2**24


class ExportError(ValueError):
    """The model, the layers or the options cannot be exported as asked; the message says why."""


class Layer:
    """A module whose output (or input) becomes a layer, with the manifest options for it.

    capture: "output" (default) or "input" (the tensor the module receives, e.g. c_proj's input
        is the MLP activation after GELU).
    index: which element when the module returns (or takes) a tuple, list or dict.
    call: which call when the module runs more than once per forward pass (0, 1, ..., or -1 for
        the last); by default a module that runs twice is an error.
    flatten: flatten every axis after the batch into units (TDANN-style: one unit per channel and
        position).
    unit_axis, pooling, layout, description: as in the manifest (defaults: axis 1 for images, 2 for
        [batch, tokens, units]; pooling "mean"; the TopoLoss grid).
    """

    def __init__(self, module, *, capture="output", index=None, call=None, flatten=False, unit_axis=None,
                 pooling=None, layout=None, description=None):
        if capture not in ("output", "input"):
            raise ExportError(f"capture must be 'output' or 'input', got {capture!r}")
        self.module = module
        self.capture = capture
        self.index = index
        self.call = call
        self.flatten = flatten
        self.unit_axis = unit_axis
        self.pooling = pooling
        self.layout = layout
        self.description = description


class Export:
    """What `export` wrote: the folder, the manifest (a dict) and the per-layer shapes it saw."""

    def __init__(self, folder, manifest, shapes):
        self.dir = folder
        self.manifest = manifest
        self.shapes = shapes

    @property
    def model_path(self):
        return os.path.join(self.dir, MODEL_FILE)

    def __repr__(self):
        layers = ", ".join(f"{n} {list(s)}" for n, s in self.shapes.items())
        return f"Export({self.dir!r}: {self.manifest['name']}, {self.manifest['modality']}, layers {layers})"


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError("toposcope.export needs PyTorch (and onnx): install torch and onnx") from e
    return torch


def _pick(value, index, what):
    torch = _torch()
    if index is not None:
        try:
            value = value[index]
        except (KeyError, IndexError, TypeError) as e:
            raise ExportError(f"{what}: cannot take element {index!r} of a {type(value).__name__}") from e
    elif isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        kind = type(value).__name__
        n = f" of {len(value)}" if isinstance(value, (tuple, list, dict)) else ""
        raise ExportError(f"{what} is a {kind}{n}, not a tensor: pass Layer(module, index=...) to pick one element")
    return value


def _logits_of(out):
    torch = _torch()
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits") and isinstance(out.logits, torch.Tensor):
        return out.logits
    if isinstance(out, dict):
        return out.get("logits")
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None


def _wrapper(model, specs, names, by_keyword, logits):
    torch = _torch()

    class Wrapped(torch.nn.Module):
        """Runs the model and returns (logits, *layer tensors) so each becomes a named graph output."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            seen = [[] for _ in specs]
            handles = []
            for i, (_, s) in enumerate(specs):
                # Clone at capture time: later in-place ops (ReLU(inplace), +=) must not change what was seen.
                if s.capture == "output":
                    hook = (lambda i: lambda m, a, out: seen[i].append(_clone(out)))(i)
                    handles.append(s.module.register_forward_hook(hook))
                else:
                    hook = (lambda i: lambda m, a: seen[i].append(_clone(a)))(i)
                    handles.append(s.module.register_forward_pre_hook(hook))
            try:
                out = self.model(**dict(zip(names, inputs))) if by_keyword else self.model(*inputs)
            finally:
                for h in handles:
                    h.remove()
            tensors = []
            for (name, s), calls in zip(specs, seen):
                if not calls:
                    raise ExportError(f"layer '{name}': the module never ran in the forward pass")
                if s.call is None and len(calls) > 1:
                    raise ExportError(f"layer '{name}': the module ran {len(calls)} times in one forward pass "
                                      "(a shared module such as a reused ReLU); pass Layer(module, call=k) or pick another module")
                value = calls[s.call if s.call is not None else 0]
                t = _pick(value, s.index, f"layer '{name}' ({s.capture} of {type(s.module).__name__})")
                tensors.append(t.flatten(1) if s.flatten else t)
            if logits is None:
                return tuple(tensors)
            lg = _logits_of(out) if logits == "auto" else logits(out)
            if lg is None:
                raise ExportError("could not find the logits in the model's output; pass logits=callable or logits=None")
            return (lg, *tensors)

    return Wrapped()


def _clone(v):
    torch = _torch()
    if isinstance(v, torch.Tensor):
        return v.clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_clone(x) for x in v)
    return v


def _fill_layernorm_bias(proto):
    """Gives every LayerNormalization without a bias (LayerNorm(bias=False), as in nanoGPT) an explicit
    zero bias: ONNX Runtime 1.30 crashes on the empty optional input."""
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    producer = {o: n for n in proto.graph.node for o in n.output}

    def constant(name):
        """The initializer or Constant tensor behind `name`, following Identity nodes."""
        while name not in inits and name in producer and producer[name].op_type == "Identity":
            name = producer[name].input[0]
        if name in inits:
            return inits[name]
        node = producer.get(name)
        if node is not None and node.op_type == "Constant":
            return next((a.t for a in node.attribute if a.name == "value"), None)
        return None

    for node in proto.graph.node:
        if node.op_type != "LayerNormalization" or (len(node.input) > 2 and node.input[2]):
            continue
        scale = constant(node.input[1])
        if scale is None:
            raise ExportError(f"LayerNormalization '{node.name}' has no bias and a computed scale; give the LayerNorm a bias")
        name = f"{node.name or node.output[0]}.zero_bias"
        zeros = numpy_helper.to_array(scale) * 0
        proto.graph.initializer.append(numpy_helper.from_array(zeros, name))
        if len(node.input) > 2:
            node.input[2] = name
        else:
            node.input.append(name)


def _inputs(example_input, input_names, modality):
    torch = _torch()
    if isinstance(example_input, dict):
        names, values, by_kw = list(example_input), list(example_input.values()), True
    elif isinstance(example_input, torch.Tensor):
        names, values, by_kw = None, [example_input], False
    else:
        names, values, by_kw = None, list(example_input), False
    if input_names is not None:
        names = list(input_names)
    if names is None:
        names = (["input"] if modality == "image" else ["input_ids", "attention_mask"])[: len(values)]
        if len(names) < len(values):
            raise ExportError(f"{len(values)} example inputs: pass input_names for them")
    if len(names) != len(values):
        raise ExportError(f"{len(values)} example inputs but {len(names)} input names")
    for n, v in zip(names, values):
        if not isinstance(v, torch.Tensor):
            raise ExportError(f"example input '{n}' is a {type(v).__name__}, not a tensor")
    if modality == "image":
        if len(values) != 1 or values[0].dim() != 4 or not values[0].is_floating_point():
            raise ExportError("an image model takes one float tensor [batch, channels, height, width]")
    else:
        if len(values) > 2:
            raise ExportError("a text model takes token ids and at most an attention mask")
        for n, v in zip(names, values):
            if v.dim() != 2 or v.dtype != torch.int64:
                raise ExportError(f"text input '{n}' must be an int64 [batch, tokens] tensor, got {v.dtype} {list(v.shape)}")
            if v.shape[1] < 2:
                raise ExportError("the example text must have at least 2 tokens (the token axis is found by changing its length)")
    return names, values, by_kw


def _tokenizer_entry(tokenizer, folder):
    if tokenizer == "gpt2":
        return {"type": "gpt2"}
    target = os.path.join(folder, TOKENIZER_FILE)
    if isinstance(tokenizer, (str, os.PathLike)):
        if not os.path.isfile(tokenizer):
            raise ExportError(f"tokenizer: '{tokenizer}' is not 'gpt2' nor a tokenizer.json file")
        shutil.copyfile(tokenizer, target)
    elif hasattr(tokenizer, "backend_tokenizer"):  # transformers' fast tokenizers
        tokenizer.backend_tokenizer.save(target)
    elif hasattr(tokenizer, "save") and hasattr(tokenizer, "encode"):  # tokenizers.Tokenizer
        tokenizer.save(target)
    else:
        raise ExportError("tokenizer: pass 'gpt2', the path of a Hugging Face tokenizer.json, or a tokenizers/transformers fast tokenizer")
    return {"type": "huggingface", "file": TOKENIZER_FILE}


def export(model, example_input, layers, modality, out_dir, *, name=None, image=None, tokenizer=None,
           max_tokens=128, pad_token_id=None, bos_token_id=None, input_names=None, logits="auto", opset=17,
           description=None, version=None, manifest_outputs=False):
    """Exports `model` to `out_dir` (model.onnx + manifest.json [+ tokenizer.json]) and returns an `Export`.

    layers: {name: module or Layer(...)}; each becomes a graph output of that name and a manifest layer.
    name: the model's name in the manifest (default: the folder's name).
    modality: "image" or "text".
    example_input: a tensor, a tuple (positional) or a dict (keyword) of tensors; its batch axis,
        and for text its token axis, are exported as dynamic.
    image: `image_input(...)` or torchvision preprocessing (Compose or a weights preset); required
        for image models.
    tokenizer: "gpt2" (the service's builtin GPT-2 BPE), a tokenizer.json path, or a fast tokenizer.
    logits: "auto" (the model's output, `.logits` or first tensor), a callable on the output, or
        None; exported as the graph output "logits".
    manifest_outputs: also write `outputs: {"logits": "logits"}` into the manifest, for lesions. The
        service's manifest schema does not accept that field yet, so this raises until it does.
    The model runs in eval mode; its own mode is restored afterwards.
    """
    torch = _torch()
    if modality not in ("image", "text"):
        raise ExportError(f"modality must be 'image' or 'text', got {modality!r}")
    if not layers:
        raise ExportError("layers is empty: name at least one module, e.g. layers={'layer4': model.layer4}")
    specs = [(n, l if isinstance(l, Layer) else Layer(l)) for n, l in layers.items()]
    for n, s in specs:
        if not isinstance(s.module, torch.nn.Module):
            raise ExportError(f"layer '{n}': expected a torch.nn.Module, got {type(s.module).__name__}")
    names, values, by_kw = _inputs(example_input, input_names, modality)
    out_names = (["logits"] if logits is not None else []) + [n for n, _ in specs]
    clash = set(out_names) & set(names)
    if clash or len(set(out_names)) != len(out_names):
        raise ExportError(f"layer names must be unique and differ from the inputs and 'logits': {sorted(clash) or out_names}")

    was_training = model.training
    try:
        return _export(model, specs, names, values, by_kw, out_names, modality, out_dir, name, image, tokenizer,
                       max_tokens, pad_token_id, bos_token_id, logits, opset, description, version, manifest_outputs)
    finally:
        model.train(was_training)


def _export(model, specs, names, values, by_kw, out_names, modality, out_dir, name, image, tokenizer, max_tokens,
            pad_token_id, bos_token_id, logits, opset, description, version, manifest_outputs):
    torch = _torch()
    import onnx

    # The wrapper is in eval mode too: torch.onnx.export restores the wrapper's mode afterwards, recursively.
    wrapped = _wrapper(model, specs, names, by_kw, logits).eval()
    with torch.no_grad():
        outs = wrapped(*values)
        if modality == "text":
            shorter = wrapped(*[v[:, :-1] for v in values])
    batch = values[0].shape[0]
    dynamic = {n: {0: "batch", 1: "tokens"} if modality == "text" else {0: "batch"} for n in names}
    shapes = {}
    for i, (n, t) in enumerate(zip(out_names, outs)):
        if t.dim() == 0 or t.shape[0] != batch:
            raise ExportError(f"output '{n}' has shape {list(t.shape)}: axis 0 must be the batch ({batch})")
        axes = {0: "batch"}
        if modality == "text":
            for a in range(1, t.dim()):
                if shorter[i].shape[a] != t.shape[a]:
                    axes[a] = "tokens"
        dynamic[n] = axes
        shapes[n] = tuple(t.shape)

    manifest_layers = []
    for n, s in specs:
        shape = shapes[n]
        field = f"layers['{n}']"
        if s.unit_axis is not None:
            axis = s.unit_axis
        elif modality == "text":
            axis = 2
        else:
            axis = 2 if len(shape) == 3 else 1
        if modality == "text":
            if len(shape) != 3 or dynamic[n].get(axis) == "tokens" or "tokens" not in dynamic[n].values():
                raise ExportError(f"{field}: a text layer must be [batch, tokens, units] (shape {list(shape)}, token axes "
                                  f"{[a for a, v in dynamic[n].items() if v == 'tokens']})")
        if not 1 <= axis < len(shape):
            raise ExportError(f"{field}: unit axis {axis} is out of range for shape {list(shape)}")
        units = int(shape[axis])
        try:
            lay = _layout.resolve(s.layout, units, field)
        except ValueError as e:
            raise ExportError(str(e)) from None
        entry = {"name": n, "tensor": n, "unitAxis": axis, "pooling": s.pooling or "mean", "layout": lay}
        if s.description:
            entry["description"] = s.description
        manifest_layers.append(entry)

    os.makedirs(out_dir, exist_ok=True)
    if modality == "image":
        if image is None:
            raise ExportError("an image model needs image=image_input(...) or image=<torchvision preprocessing>")
        im = dict(image) if isinstance(image, dict) else image_input(image)
        im["name"] = names[0]
        c, h, w = values[0].shape[1:]
        if list(im["size"]) != [h, w] or im["channels"] != c:
            raise ExportError(f"the preprocessing gives {im['channels']}×{im['size'][0]}×{im['size'][1]} images but the "
                              f"example input is {c}×{h}×{w}")
        inp = {"image": im}
    else:
        if tokenizer is None:
            raise ExportError("a text model needs tokenizer='gpt2', a tokenizer.json path or a fast tokenizer")
        text = {"tokenizer": _tokenizer_entry(tokenizer, out_dir), "maxTokens": int(max_tokens), "idsInput": names[0]}
        if len(names) > 1:
            text["maskInput"] = names[1]
        if pad_token_id is not None:
            text["padTokenId"] = int(pad_token_id)
        if bos_token_id is not None:
            text["bosTokenId"] = int(bos_token_id)
        inp = {"text": text}
    manifest = {"name": name or os.path.basename(os.path.normpath(out_dir)), "modality": modality, "input": inp, "layers": manifest_layers}
    if version is not None:
        manifest["version"] = str(version)
    if description is not None:
        manifest["description"] = description
    if manifest_outputs:
        manifest["outputs"] = {"logits": "logits"} if logits is not None else {}
    validate_manifest(manifest)

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        path = os.path.join(tmp, MODEL_FILE)
        with torch.no_grad():
            torch.onnx.export(wrapped, tuple(values), path, opset_version=opset, input_names=names,
                              output_names=out_names, dynamic_axes=dynamic, do_constant_folding=True)
        proto = onnx.load(path)
        _fill_layernorm_bias(proto)
        got = [o.name for o in proto.graph.output]
        if got != out_names:
            raise ExportError(f"the exported graph's outputs are {got}, expected {out_names}")
        final = os.path.join(out_dir, MODEL_FILE)
        for f in (final, os.path.join(out_dir, DATA_FILE)):
            if os.path.exists(f):
                os.remove(f)
        if proto.ByteSize() < _PROTO_LIMIT:
            onnx.save_model(proto, final)
            onnx.checker.check_model(final)
        else:
            onnx.save_model(proto, final, save_as_external_data=True, all_tensors_to_one_file=True, location=DATA_FILE)
            onnx.checker.check_model(final)
    with open(os.path.join(out_dir, MANIFEST_FILE), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    return Export(out_dir, manifest, shapes)
