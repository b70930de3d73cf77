"""The client: register models and stimulus sets, run contrasts and batteries, get NumPy arrays back."""
import io
import json
import os
import time

import numpy as np

from ._http import Http, Part
from ._png import encode_png
from ._progress import Progress
from .errors import JobFailed, ValidationError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_FINAL = ("succeeded", "failed", "cancelled")
# Per-unit arrays of the layer document; null (a non-finite value) becomes NaN.
_FLOAT_ARRAYS = ("t", "df", "p", "log10p", "q", "d", "g", "meanA", "meanB", "varA", "varB", "pFWE", "tfce")


def _npy(raw):
    return np.load(io.BytesIO(raw), allow_pickle=False)


def _floats(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _ref(s):
    """A set, model or contrast given as its document, an object with .id, or an id/name string."""
    if isinstance(s, dict):
        return s["id"]
    return getattr(s, "id", s)


def _refs(s):
    return [_ref(x) for x in s] if isinstance(s, (list, tuple)) else _ref(s)


class LayerResult:
    """Per-unit statistics of one layer of a contrast, as NumPy arrays (float64, NaN where not finite).

    Attributes: name, units, rows, cols, nA, nB, cell_of_unit (row-major sheet cell of each unit),
    t, df, p, log10p, q, d, g, meanA, meanB, varA, varB, pFWE and tfce (None unless computed),
    cluster_label (None or int per unit), summary, analysis, clusters (the documents as given).
    """

    def __init__(self, doc):
        self.doc = doc
        self.name = doc["layer"]
        self.units, self.rows, self.cols = doc["units"], doc["rows"], doc["cols"]
        self.nA, self.nB = doc["nA"], doc["nB"]
        self.cell_of_unit = np.asarray(doc["cellOfUnit"], dtype=np.int64)
        for k in _FLOAT_ARRAYS:
            v = doc.get(k)
            setattr(self, k, None if v is None else _floats(v))
        cl = doc.get("clusterLabel")
        self.cluster_label = None if cl is None else np.asarray(cl, dtype=np.int64)
        self.summary = doc["summary"]
        self.analysis = doc.get("analysis", {})
        self.clusters = doc.get("clusters", [])

    def sheet(self, values):
        """Puts one value per unit on the rows × cols sheet (NaN where no unit sits)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.units,):
            raise ValueError(f"expected {self.units} values, got shape {values.shape}")
        out = np.full(self.rows * self.cols, np.nan)
        out[self.cell_of_unit] = values
        return out.reshape(self.rows, self.cols)

    def __repr__(self):
        return f"LayerResult({self.name}: {self.units} units on {self.rows}×{self.cols}, nA={self.nA}, nB={self.nB})"


class Activations:
    """Kept pooled activations of one layer: `values` (rows × units float32), and for each row the
    stimulus index (`stimulus`, into `stimuli`) and the token index (`token`, −1 when pooled).
    `stimuli` lists the contrast's stimuli in order: idx, condition ('a'/'b'), setId, sha256,
    label (image file name) and, for text sets, the text."""

    def __init__(self, values, rows, stimuli):
        self.values = values
        self.stimulus = rows[:, 0].astype(np.int64)
        self.token = rows[:, 1].astype(np.int64)
        self.stimuli = stimuli

    @property
    def condition(self):
        """'a' or 'b' for every row."""
        cond = np.array([s["condition"] for s in self.stimuli])
        return cond[self.stimulus]

    def __repr__(self):
        return f"Activations({self.values.shape[0]} rows × {self.values.shape[1]} units)"


class _Job:
    """A job the service runs in the background and that is polled until it ends.

    Lesions belong here too once the service runs them: a Lesion subclass with its own `_path`
    and result accessors, submitted by a `Client.lesion` method, waits the same way."""

    _path = None

    def __init__(self, client, doc):
        self._client = client
        self.doc = doc

    @property
    def id(self):
        return self.doc["id"]

    @property
    def state(self):
        return self.doc["state"]

    @property
    def done(self):
        return self.state in _FINAL

    def refresh(self):
        self.doc = self._client._http.json("GET", f"{self._path}/{self.id}")
        return self

    def _raise_if_bad(self):
        if self.state != "succeeded":
            err = self.doc.get("error") or self.state
            raise JobFailed(200, self.state.upper(), f"{self._path.rsplit('/', 1)[-1][:-1]} {self.id} {self.state}: {err}")


class Contrast(_Job):
    """A contrast job; the result accessors need it to have succeeded (call `wait()` first)."""

    _path = "/v1/contrasts"

    def wait(self, progress=None, timeout=None, poll=0.25):
        """Polls until the job ends; shows progress (tqdm when installed). Raises JobFailed unless it succeeded."""
        show = self._client.progress if progress is None else progress
        bar = Progress(self.doc.get("label") or self.id, show)
        until = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                p = self.doc["progress"]
                bar.update(p["done"], p["total"], self.state)
                if self.done:
                    break
                if until is not None and time.monotonic() > until:
                    raise TimeoutError(f"contrast {self.id} still {self.state} after {timeout} s")
                time.sleep(poll)
                self.refresh()
        finally:
            bar.close(self.state)
        self._raise_if_bad()
        return self

    def cancel(self):
        self.doc = self._client._http.json("DELETE", f"{self._path}/{self.id}")
        return self

    @property
    def layers(self):
        """Layer names of the result, in order."""
        return [l["name"] for l in self.doc["layers"]]

    def layer(self, name):
        """Per-unit statistics of a layer as a LayerResult."""
        return LayerResult(self._client._http.json("GET", f"{self._path}/{self.id}/layers/{name}"))

    def map(self, name, stat="t"):
        """The statistic on the sheet: rows × cols float32, NaN where no unit sits (stat: t, d, log10p, q, tfce, pfwe)."""
        return _npy(self._client._http.bytes(f"{self._path}/{self.id}/layers/{name}/map.npy", {"stat": stat}))

    def map_png(self, name, stat="t", threshold=None, vmax=None, outline=None):
        """The rendered map as PNG bytes (e.g. IPython.display.Image(data=...))."""
        q = {"stat": stat, "threshold": threshold, "vmax": vmax, "outline": outline}
        return self._client._http.bytes(f"{self._path}/{self.id}/layers/{name}/map.png", q)

    def clusters(self, name):
        return self._client._http.json("GET", f"{self._path}/{self.id}/layers/{name}/clusters")["clusters"]

    def topography(self, name):
        return self._client._http.json("GET", f"{self._path}/{self.id}/layers/{name}/topography")

    def stimuli(self, texts=True):
        """The stimulus order of the contrast; with `texts`, text items carry their text."""
        items = self._client._http.json("GET", f"{self._path}/{self.id}/stimuli")["items"]
        if texts:
            cache = {}
            for s in items:
                if s["setId"] not in cache:
                    cache[s["setId"]] = self._client.set_items(s["setId"])
                it = cache[s["setId"]]
                # Items are content-addressed: one hash, one text.
                s["text"] = next((x["text"] for x in it if x["sha256"] == s["sha256"]), None)
        return items

    def activations(self, name):
        """Kept activations of a layer (the contrast must have been run with keep_activations=True)."""
        base = f"{self._path}/{self.id}/layers/{name}"
        values = _npy(self._client._http.bytes(f"{base}/activations.npy"))
        rows = _npy(self._client._http.bytes(f"{base}/activations.rows.npy"))
        return Activations(values, rows, self.stimuli())

    def __repr__(self):
        return f"Contrast({self.id}, {self.state}, layers={self.layers})"


class Battery:
    """Several contrasts run in one pass through the model; `contrasts` are Contrast objects."""

    def __init__(self, client, doc):
        self._client = client
        self.id = doc["id"]
        self.contrasts = [Contrast(client, c) for c in doc["contrasts"]]

    def refresh(self):
        doc = self._client._http.json("GET", f"/v1/batteries/{self.id}")
        for c, d in zip(self.contrasts, doc["contrasts"]):
            c.doc = d
        return self

    def wait(self, progress=None, timeout=None, poll=0.25):
        show = self._client.progress if progress is None else progress
        bar = Progress(f"battery {self.id}", show)
        until = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                done = sum(c.doc["progress"]["done"] for c in self.contrasts)
                total = sum(c.doc["progress"]["total"] for c in self.contrasts)
                finished = sum(c.done for c in self.contrasts)
                bar.update(done, total, f"{finished}/{len(self.contrasts)} contrasts done")
                if finished == len(self.contrasts):
                    break
                if until is not None and time.monotonic() > until:
                    raise TimeoutError(f"battery {self.id} not finished after {timeout} s")
                time.sleep(poll)
                self.refresh()
        finally:
            bar.close("done")
        for c in self.contrasts:
            c._raise_if_bad()
        return self

    def cancel(self):
        self._client._http.json("DELETE", f"/v1/batteries/{self.id}")
        return self.refresh()

    def __getitem__(self, label):
        """A contrast by position or by label."""
        if isinstance(label, int):
            return self.contrasts[label]
        for c in self.contrasts:
            if c.doc.get("label") == label:
                return c
        raise KeyError(f"battery {self.id} has no contrast labelled {label!r}; labels: {[c.doc.get('label') for c in self.contrasts]}")

    def __repr__(self):
        return f"Battery({self.id}, {len(self.contrasts)} contrasts)"


def _model_parts(folder, extra_files):
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    parts = [Part("model", path=os.path.join(folder, "model.onnx"), filename="model.onnx"),
             Part("manifest", path=os.path.join(folder, "manifest.json"), filename="manifest.json", content_type="application/json")]
    side = list(extra_files)
    tok = manifest.get("input", {}).get("text", {}).get("tokenizer", {})
    if tok.get("type") == "huggingface":
        side.append(tok["file"])
    if os.path.exists(os.path.join(folder, "model.onnx.data")):
        side.append("model.onnx.data")
    for name in dict.fromkeys(side):
        path = name if os.path.isabs(name) else os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"side file '{name}' is not in {folder}")
        parts.append(Part(os.path.basename(path), path=path))
    return parts


class Client:
    """A toposcope server. Errors come back as ToposcopeError subclasses carrying the service's
    message, code and field; results come back as NumPy arrays.

    progress: show a progress bar while waiting (tqdm when installed, else lines on stderr).
    """

    def __init__(self, url="http://127.0.0.1:3000", api_key=None, timeout=600, progress=True):
        self._http = Http(url, api_key=api_key, timeout=timeout)
        self.progress = progress

    @property
    def url(self):
        return self._http.base

    def health(self):
        return self._http.json("GET", "/health")

    # ---- models ----
    def register_model(self, source, server_path=False, extra_files=()):
        """Registers a model folder (an Export or a path) by upload; with `server_path`, `source` names a
        folder inside the server's TOPOSCOPE_MODELS_ROOTS instead. Returns the model document."""
        if server_path:
            return self._http.json("POST", "/v1/models", {"path": str(source)})
        folder = getattr(source, "dir", source)
        return self._http.upload("/v1/models/upload", _model_parts(os.fspath(folder), extra_files))

    def inspect_model(self, source, extra_files=()):
        """Every tensor of a model folder's graph with op type and probe shape, without registering it
        (the manifest's `layers` may be empty). Returns {inputs, outputs, tensors}."""
        folder = os.fspath(getattr(source, "dir", source))
        return self._http.upload("/v1/models/inspect", _model_parts(folder, extra_files))

    def models(self, modality=None):
        return self._pages("/v1/models", {"modality": modality})

    def model(self, ref):
        return self._http.json("GET", f"/v1/models/{_ref(ref)}")

    def tensors(self, ref):
        """Every tensor of a registered model (op type, probe shape, which layer it is)."""
        return self._http.json("GET", f"/v1/models/{_ref(ref)}/tensors")["tensors"]

    def delete_model(self, ref, cascade=False):
        self._http.request("DELETE", f"/v1/models/{_ref(ref)}", query={"cascade": "true" if cascade else None})

    # ---- stimulus sets ----
    def create_set(self, name, items):
        """Creates (or finds, sets are content-addressed) a stimulus set and returns its document.

        items: a list of strings (a text set); a NumPy array of images (N×H×W grey, N×H×W×3 RGB or
        N×H×W×4 RGBA; uint8, or floats in [0, 1]); a list of such arrays; a list of PNG/JPEG file
        paths; or a folder holding PNG/JPEG files (taken in name order)."""
        if isinstance(items, (str, os.PathLike)):
            folder = os.fspath(items)
            if not os.path.isdir(folder):
                raise ValueError(f"'{folder}' is not a folder; pass a list of strings for a text set")
            items = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if os.path.splitext(f)[1].lower() in IMAGE_TYPES]
            if not items:
                raise ValueError(f"folder '{folder}' holds no PNG or JPEG files")
        if isinstance(items, np.ndarray):
            if items.ndim not in (3, 4):
                raise ValueError(f"an array of images must be N×H×W or N×H×W×C, got shape {items.shape}")
            items = list(items)
        items = list(items)
        if not items:
            raise ValueError("a stimulus set needs at least one item")
        if all(isinstance(x, str) for x in items) and not all(os.path.splitext(x)[1].lower() in IMAGE_TYPES and os.path.isfile(x) for x in items):
            return self._http.json("POST", "/v1/stimulus-sets", {"name": name, "texts": items})
        parts = [Part("name", value=name)]
        for i, x in enumerate(items):
            if isinstance(x, (str, os.PathLike)):
                path = os.fspath(x)
                ext = os.path.splitext(path)[1].lower()
                if ext not in IMAGE_TYPES:
                    raise ValueError(f"'{path}' is not a PNG or JPEG file")
                parts.append(Part("files", path=path, content_type=IMAGE_TYPES[ext]))
            else:
                parts.append(Part("files", data=encode_png(x), filename=f"{name}-{i:05d}.png", content_type="image/png"))
        return self._http.upload("/v1/stimulus-sets/upload", parts)

    def sets(self, modality=None):
        return self._pages("/v1/stimulus-sets", {"modality": modality})

    def set(self, ref):
        return self._http.json("GET", f"/v1/stimulus-sets/{_ref(ref)}")

    def set_items(self, ref):
        """Items of a set in order: position, sha256, label, mediaType, text (for text sets)."""
        return self._pages(f"/v1/stimulus-sets/{_ref(ref)}/items", {}, limit=500)

    def delete_set(self, ref):
        self._http.request("DELETE", f"/v1/stimulus-sets/{_ref(ref)}")

    # ---- contrasts and batteries ----
    def contrast(self, model, a, b, *, layers=None, pooling=None, test=None, correction=None, correction_scope=None,
                 alpha=None, keep_activations=False, label=None, analysis=None, wait=True, progress=None):
        """Submits a contrast (a vs b; each a set or a list of sets) and, with `wait`, waits for it."""
        body = {"model": _ref(model), "a": _refs(a), "b": _refs(b), "layers": layers, "pooling": pooling, "test": test,
                "correction": correction, "correctionScope": correction_scope, "alpha": alpha,
                "keepActivations": keep_activations or None, "label": label, "analysis": analysis}
        c = Contrast(self, self._http.json("POST", "/v1/contrasts", {k: v for k, v in body.items() if v is not None}))
        return c.wait(progress=progress) if wait else c

    def get_contrast(self, ref):
        return Contrast(self, self._http.json("GET", f"/v1/contrasts/{_ref(ref)}"))

    def contrasts(self, model=None, state=None):
        return [Contrast(self, d) for d in self._pages("/v1/contrasts", {"model": model and _ref(model), "state": state})]

    def battery(self, model, categories=None, contrasts=None, *, layers=None, pooling=None, test=None, correction=None,
                correction_scope=None, alpha=None, analysis=None, wait=True, progress=None):
        """Several contrasts in one pass: `categories` (each vs the rest) and/or `contrasts` [(a, b) or
        {a, b, label}]. Returns a Battery (waited for unless wait=False)."""
        pairs = None
        if contrasts is not None:
            pairs = [dict(c, a=_refs(c["a"]), b=_refs(c["b"])) if isinstance(c, dict) else {"a": _refs(c[0]), "b": _refs(c[1])}
                     for c in contrasts]
        if categories is None and pairs is None:
            raise ValidationError(400, "VALIDATION", "a battery needs categories or contrasts", "categories")
        body = {"model": _ref(model), "categories": categories and [_ref(c) for c in categories], "contrasts": pairs,
                "layers": layers, "pooling": pooling, "test": test, "correction": correction,
                "correctionScope": correction_scope, "alpha": alpha, "analysis": analysis}
        bat = Battery(self, self._http.json("POST", "/v1/batteries", {k: v for k, v in body.items() if v is not None}))
        return bat.wait(progress=progress) if wait else bat

    def _pages(self, path, query, limit=100):
        out, offset = [], 0
        while True:
            doc = self._http.json("GET", path, query={**query, "limit": limit, "offset": offset})
            out.extend(doc["items"])
            offset += len(doc["items"])
            if not doc["items"] or offset >= doc["total"]:
                return out
