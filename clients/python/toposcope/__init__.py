"""toposcope from Python: export PyTorch models for the service, and drive it with NumPy results.

    import toposcope
    exp = toposcope.export(model, torch.randn(1, 3, 224, 224), layers={"layer4": model.layer4},
                           modality="image", image=weights.transforms(), out_dir="resnet18-topo")
    ts = toposcope.Client("http://127.0.0.1:3000")
    ts.register_model(exp)

torch and onnx are imported only when `export` runs.
"""
from ._schema import validate_manifest
from .client import Battery, Client, Contrast, LayerResult
from .errors import (AuthError, ConflictError, JobFailed, ManifestError, NotFoundError, TooLargeError, ToposcopeError,
                     UnprocessableError, ValidationError)
from .exporter import Export, ExportError, Layer, export
from .layout import coordinates, grid, topoloss_grid
from .preprocess import image_input

__version__ = "0.1.0"

__all__ = [
    "AuthError", "Battery", "Client", "ConflictError", "Contrast", "Export", "ExportError", "JobFailed", "Layer",
    "LayerResult", "ManifestError", "NotFoundError", "TooLargeError", "ToposcopeError", "UnprocessableError",
    "ValidationError", "coordinates", "export", "grid", "image_input", "topoloss_grid", "validate_manifest",
]
