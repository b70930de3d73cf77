"""Checks a manifest against the service's JSON Schema (a copy ships with the package).

Only the draft-07 keywords that schema uses are implemented; an unknown keyword raises, so a
schema that grows a new rule cannot be half-checked in silence.
"""
import json
import math
import os
import re

from .errors import ManifestError

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "manifest.schema.json")
_IGNORED = {"$schema", "$id", "title", "description", "default", "examples"}
_KNOWN = _IGNORED | {
    "type", "properties", "required", "additionalProperties", "anyOf", "const", "items", "additionalItems",
    "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
    "maxLength", "pattern",
}


def load_schema():
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        return json.load(f)


def _is_type(v, t):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "null":
        return v is None
    if isinstance(v, bool):
        return False
    if t == "integer":
        return isinstance(v, int) or (isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and math.isfinite(v)
    raise ValueError(f"schema type '{t}' is not supported")


def errors(value, schema, path="manifest"):
    """Yields (field, message) for every rule of `schema` that `value` breaks."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"the manifest schema uses keywords this client does not check: {sorted(unknown)}")
    if "anyOf" in schema:
        branches = [list(errors(value, s, path)) for s in schema["anyOf"]]
        if all(branches):
            consts = [s["const"] for s in schema["anyOf"] if "const" in s]
            if len(consts) == len(schema["anyOf"]):
                yield path, f"must be one of {', '.join(json.dumps(c) for c in consts)} (found {json.dumps(value)})"
            else:
                yield max((e for b in branches for e in b), key=lambda e: len(e[0]))
        return
    if "const" in schema and value != schema["const"]:
        yield path, f"must be {json.dumps(schema['const'])} (found {json.dumps(value)})"
        return
    t = schema.get("type")
    if t is not None and not _is_type(value, t):
        yield path, f"must be of type {t} (found {json.dumps(value)[:60]})"
        return
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                yield f"{path}.{k}", "is required"
        for k, v in value.items():
            if k in props:
                yield from errors(v, props[k], f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                yield f"{path}.{k}", f"is not a field the service accepts here (known: {', '.join(props)})"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield path, f"needs at least {schema['minItems']} item(s)"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield path, f"takes at most {schema['maxItems']} item(s)"
        items = schema.get("items")
        if isinstance(items, list):
            for i, v in enumerate(value[: len(items)]):
                yield from errors(v, items[i], f"{path}[{i}]")
            if schema.get("additionalItems") is False and len(value) > len(items):
                yield path, f"takes {len(items)} item(s)"
        elif isinstance(items, dict):
            for i, v in enumerate(value):
                yield from errors(v, items, f"{path}[{i}]")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield path, f"must have at least {schema['minLength']} character(s)"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield path, f"must have at most {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield path, f"must match {schema['pattern']} (found {json.dumps(value)})"
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            yield path, f"must be ≥ {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield path, f"must be ≤ {schema['maximum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield path, f"must be > {schema['exclusiveMinimum']}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            yield path, f"must be < {schema['exclusiveMaximum']}"


def validate_manifest(manifest, schema=None):
    """Raises ManifestError on the first schema violation, then on the rules the service adds on top."""
    schema = schema if schema is not None else load_schema()
    for field, message in errors(manifest, schema):
        raise ManifestError(message, field)
    inp = manifest["input"]
    modality = manifest["modality"]
    if modality not in inp:
        raise ManifestError(f"is required for a {modality} model", f"manifest.input.{modality}")
    other = "text" if modality == "image" else "image"
    if other in inp:
        raise ManifestError(f"is given but modality is {modality}", f"manifest.input.{other}")
    names = set()
    for i, layer in enumerate(manifest["layers"]):
        if layer["name"] in names:
            raise ManifestError(f"'{layer['name']}' is used by two layers", f"manifest.layers[{i}].name")
        names.add(layer["name"])
        if modality == "image" and layer.get("pooling") in ("last", "tokens"):
            raise ManifestError("'last' and 'tokens' are for text models", f"manifest.layers[{i}].pooling")
    im = inp.get("image")
    if im:
        for k in ("mean", "std"):
            if len(im[k]) not in (1, im["channels"]):
                raise ManifestError(f"has {len(im[k])} values for {im['channels']} channels", f"manifest.input.image.{k}")
        if "resizeTo" in im and im.get("resize") != "torchvision":
            raise ManifestError("is only used with resize 'torchvision'", "manifest.input.image.resizeTo")
    return manifest
