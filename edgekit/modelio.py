"""Loading user models (`.pt2` or `file.py:factory`) and data (`.npz` with `x` and optional `y`)."""
from __future__ import annotations

import importlib.util
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import InputError


@dataclass
class LoadedModel:
    module: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    source: str


def _example_from_exported(ep: torch.export.ExportedProgram) -> tuple[torch.Tensor, ...]:
    example = getattr(ep, "example_inputs", None)
    if example and example[0]:
        return tuple(example[0])
    user_inputs = set(ep.graph_signature.user_inputs)
    tensors = []
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta["val"]
            tensors.append(torch.zeros(tuple(int(s) for s in val.shape), dtype=val.dtype))
    return tuple(tensors)


def load_model(spec: str) -> LoadedModel:
    """`model.pt2` (torch.export.save) or `path/to/file.py:factory` returning (model, example_inputs)."""
    if ":" in spec and not Path(spec).exists():
        file, _, factory = spec.rpartition(":")
        path = Path(file)
        if not path.is_file():
            raise InputError(f"model file not found: {path}")
        module_name = f"_edgekit_user_{path.stem}"
        spec_obj = importlib.util.spec_from_file_location(module_name, path)
        mod = importlib.util.module_from_spec(spec_obj)
        sys.modules[module_name] = mod
        try:
            spec_obj.loader.exec_module(mod)
        except Exception as exc:
            raise InputError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
        fn = getattr(mod, factory, None)
        if not callable(fn):
            raise InputError(f"{path} has no function '{factory}'", "MODEL is path/to/file.py:factory")
        result = fn()
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module)):
            raise InputError(f"{spec} must return (model, example_inputs)")
        model, example = result
        example = (example,) if isinstance(example, torch.Tensor) else tuple(example)
        return LoadedModel(model.eval(), example, spec)
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"model file not found: {path}", "MODEL is a .pt2 from torch.export.save or file.py:factory")
    if path.suffix != ".pt2":
        raise InputError(f"unsupported model file {path}", "use a .pt2 saved with torch.export.save, or file.py:factory")
    if not zipfile.is_zipfile(path):
        raise InputError(f"cannot read {path} as a torch.export program: not a .pt2 archive",
                         "save it with torch.export.save")
    try:
        ep = torch.export.load(path)
    except (zipfile.BadZipFile, RuntimeError, ValueError, KeyError, EOFError) as exc:
        raise InputError(f"cannot read {path} as a torch.export program: {str(exc).splitlines()[0]}",
                         "re-save it with torch.export.save") from None
    return LoadedModel(ep.module(), _example_from_exported(ep), str(path))


@dataclass
class Dataset:
    x: np.ndarray
    y: np.ndarray | None


def load_data(path: str | Path) -> Dataset:
    """An `.npz` file with an array `x` (samples first) and optionally `y` (integer labels)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path} as .npz: {exc}") from None
    if "x" not in arrays:
        raise InputError(f"{path} has no array 'x'", f"it has: {', '.join(arrays) or 'nothing'}")
    x, y = arrays["x"], arrays.get("y")
    if y is not None and len(y) != len(x):
        raise InputError(f"{path}: 'x' has {len(x)} samples but 'y' has {len(y)}")
    return Dataset(x.astype(np.float32) if x.dtype == np.float64 else x, y)


def check_sample_shape(data: Dataset, example: torch.Tensor, what: str) -> None:
    if tuple(data.x.shape[1:]) != tuple(example.shape[1:]):
        raise InputError(f"{what} data has samples of shape {tuple(data.x.shape[1:])}, "
                         f"the model takes {tuple(example.shape[1:])}", "reshape 'x' to (N, *input_shape)")
