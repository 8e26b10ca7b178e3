"""Loading user models (`.pt2` or `file.py:factory`) and data (`.npz`: the model's inputs, optional labels `y`).

A data file holds one array per model input, samples first: `x` for a model with one input, or arrays named like
the inputs (`input_ids`, `attention_mask`: the names of the model's forward arguments, as in the manifest).
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .errors import InputError


@dataclass
class LoadedModel:
    module: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    source: str
    input_names: tuple[str, ...] = ()


def input_names(model: torch.nn.Module, count: int) -> tuple[str, ...]:
    """The names of the model's first `count` forward arguments (input_<i> where a signature says nothing)."""
    names: list[str] = []
    try:
        params = inspect.signature(model.forward).parameters.values()
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        pass
    if len(names) < count or len(set(names[:count])) < count:
        return tuple(f"input_{i}" for i in range(count))
    return tuple(names[:count])


def check_example_inputs(example: object, where: str) -> tuple[torch.Tensor, ...]:
    """One tensor per model input, as a tuple (a bare tensor is a one-input model's, not a tuple of rows)."""
    example = (example,) if isinstance(example, torch.Tensor) else example
    if isinstance(example, list):
        example = tuple(example)
    if not isinstance(example, tuple) or not example or not all(isinstance(t, torch.Tensor) for t in example):
        raise InputError(f"{where}: example_inputs must be a tensor or a tuple of tensors, one per model input; "
                         f"got {type(example).__name__}")
    return example


def _example_from_exported(ep: torch.export.ExportedProgram) -> tuple[torch.Tensor, ...]:
    example = getattr(ep, "example_inputs", None)
    if example and example[0]:
        return tuple(example[0])
    user_inputs = set(_user_input_names(ep))
    tensors = []
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta["val"]
            tensors.append(torch.zeros(tuple(int(s) for s in val.shape), dtype=val.dtype))
    return tuple(tensors)


def _user_input_names(ep: torch.export.ExportedProgram) -> list[str]:
    return [s.arg.name for s in ep.graph_signature.input_specs
            if s.kind == torch.export.graph_signature.InputKind.USER_INPUT and hasattr(s.arg, "name")]


def check_pt2_archive(path: Path) -> None:
    """A .pt2 is a zip archive holding a torch.export program (`<name>/archive_format`, or `version` in the older
    layout). Every member's CRC is checked here: torch reads the weights without checking them, so a corrupted
    weight would otherwise compile silently; and torch's own error for a zip of something else says no more than
    "check the warnings above"."""
    cannot_read = f"cannot read {path} as a torch.export program"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "version" not in names and not any(n.endswith("/archive_format") for n in names):
                raise InputError(f"{cannot_read}: the zip archive holds {len(names)} file(s) and no torch.export "
                                 "program (no <name>/archive_format)", "save the model with torch.export.save")
            corrupted = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{cannot_read}: not a .pt2 archive ({exc})", "save it with torch.export.save") from None
    if corrupted is not None:
        raise InputError(f"{cannot_read}: {corrupted} in it fails its CRC check (the file is corrupted)",
                         "save the model again with torch.export.save, or copy the file again")


def _register_structure_types(path: Path) -> list[str]:
    """Import the modules that define the types of a .pt2's input and output structure (a transformers model's
    ModelOutput: 'transformers.modeling_outputs.BaseModelOutput'): torch.export.load rebuilds the structure by type
    name and knows only the types registered so far. Returns the type names that could not be imported."""
    from torch.utils._pytree import SERIALIZED_TYPE_TO_PYTHON_TYPE as registered
    missing = []
    for name in sorted(_structure_type_names(path) - set(registered)):
        module = name.rpartition(".")[0]
        # Modules of installed third-party packages only (transformers, ...), by name: nothing from the file runs,
        # and no standard-library module (some act on import) is imported because a file names it.
        if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", module) and \
                module.split(".")[0] not in sys.stdlib_module_names:
            try:
                importlib.import_module(module)
            except Exception:  # not installed, or broken: torch.export.load's failure is then explained
                pass
        if name not in registered:
            missing.append(name)
    return missing


def _structure_type_names(path: Path) -> set[str]:
    """The type names in the serialized input/output specs (pytree TreeSpecs as JSON) of a .pt2's programs."""
    names: set[str] = set()
    with zipfile.ZipFile(path) as archive:
        for program in (n for n in archive.namelist() if re.fullmatch(r"[^/]+/models/[^/]+\.json", n)):
            try:
                for call in json.loads(archive.read(program))["graph_module"]["module_call_graph"]:
                    signature = call.get("signature") or {}
                    for spec in (signature.get("in_spec"), signature.get("out_spec")):
                        if isinstance(spec, str):
                            names.update(_spec_types(json.loads(spec)[1]))
            except (ValueError, KeyError, TypeError, IndexError):  # another layout: torch.export.load judges it
                continue
    return names


def _spec_types(node: Any) -> set[str]:
    """The types named in a serialized TreeSpec node ({"type", "context", "children_spec"}) and below it."""
    if not isinstance(node, dict):
        return set()
    found = {node["type"]} if isinstance(node.get("type"), str) else set()
    for child in node.get("children_spec") or []:
        found |= _spec_types(child)
    return found


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
        try:
            result = fn()
        except Exception as exc:  # the user's code: its failure is an input problem, not ours
            raise InputError(f"{spec} raised {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                             "fix the factory; EDGEKIT_DEBUG=1 shows the traceback") from exc
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module)):
            raise InputError(f"{spec} must return (model, example_inputs)")
        model, example = result
        example = check_example_inputs(example, spec)
        return LoadedModel(model.eval(), example, spec, input_names(model, len(example)))
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"model file not found: {path}", "MODEL is a .pt2 from torch.export.save or file.py:factory")
    if path.suffix != ".pt2":
        raise InputError(f"unsupported model file {path}", "use a .pt2 saved with torch.export.save, or file.py:factory")
    check_pt2_archive(path)
    missing = _register_structure_types(path)
    try:
        ep = torch.export.load(path)
    except (zipfile.BadZipFile, RuntimeError, ValueError, KeyError, EOFError) as exc:
        if missing:
            raise InputError(f"cannot read {path}: its inputs or outputs are {', '.join(missing)}, from a package "
                             "that is not installed here", f"install {missing[0].split('.')[0]}") from None
        raise InputError(f"cannot read {path} as a torch.export program: {str(exc).splitlines()[0]}",
                         "re-save it with torch.export.save") from None
    example = _example_from_exported(ep)
    names = _user_input_names(ep)
    return LoadedModel(ep.module(), example, str(path),
                       tuple(names) if len(names) == len(example) else tuple(f"input_{i}" for i in range(len(example))))


@dataclass
class Dataset:
    """Samples for a model: `x` is one array (a one-input model) or {input name: array}; `y` optional labels.

    Arrays the model does not take (an id column, say) may sit beside its inputs: for_inputs picks the model's."""

    x: np.ndarray | Mapping[str, np.ndarray]
    y: np.ndarray | None = None
    source: str = field(default="data", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.x, (np.ndarray, Mapping)):
            raise InputError(f"{self.source}: x is a {type(self.x).__name__}, not a numpy array or a mapping of "
                             "input names to arrays", "pass edgekit.Dataset(x, y) with numpy arrays")
        if self.y is not None and not isinstance(self.y, np.ndarray):
            raise InputError(f"{self.source}: y is a {type(self.y).__name__}, not a numpy array",
                             "pass the labels as a numpy array, or None")
        arrays = self.arrays
        if not arrays:
            raise InputError(f"{self.source} has no input arrays", "store 'x' (one input) or one array per input")
        for name, a in arrays.items():
            if not isinstance(a, np.ndarray):
                raise InputError(f"{self.source}: '{name}' is a {type(a).__name__}, not a numpy array")
            if a.ndim == 0:
                raise InputError(f"{self.source}: '{name}' is a scalar", "samples go first: shape (N, ...)")

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return {"x": self.x} if isinstance(self.x, np.ndarray) else dict(self.x)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def for_inputs(self, names: Sequence[str], shapes: Sequence[Sequence[int]], what: str,
                   dtypes: Sequence[str] | None = None) -> list[np.ndarray]:
        """One array per model input, in the model's order, each checked against that input's sample shape (and,
        given `dtypes`, cast to that input's dtype where the cast keeps every value: see as_input_dtype)."""
        chosen = self._arrays_for(names, what)
        for name, a, shape in zip(names, chosen, shapes):
            if tuple(a.shape[1:]) != tuple(shape[1:]):
                raise InputError(f"{what} data has samples of shape {tuple(a.shape[1:])} for input '{name}', "
                                 f"the model takes {tuple(shape[1:])}", "reshape it to (N, *input_shape)")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise InputError(f"{what} data for input '{name}' contains NaN or Inf",
                                 "drop or fix those samples: results computed from them mean nothing")
        counts = {name: len(a) for name, a in zip(names, chosen)}
        if len(set(counts.values())) > 1:
            raise InputError(f"{what} data ({self.source}) has different sample counts for the model's inputs "
                             f"{counts}", "store the same number of samples for every input")
        if self.y is not None and len(self.y) != len(chosen[0]):
            raise InputError(f"{what} data ({self.source}) has {len(chosen[0])} samples but 'y' has {len(self.y)} "
                             "labels", "store one label per sample")
        if dtypes is None:
            return chosen
        return [as_input_dtype(a, name, dtype, what) for a, name, dtype in zip(chosen, names, dtypes)]

    def _arrays_for(self, names: Sequence[str], what: str) -> list[np.ndarray]:
        """The arrays named like the model's inputs ('x' for a one-input model whose input name is not there)."""
        arrays = self.arrays
        if len(names) == 1 and names[0] not in arrays and "x" in arrays:
            return [arrays["x"]]
        missing = [n for n in names if n not in arrays]
        if missing:
            raise InputError(f"{what} data ({self.source}) has arrays {', '.join(arrays)}; the model's inputs are "
                             f"{', '.join(names)}", f"store one array per input, named {', '.join(names)}"
                             if len(names) > 1 else "store the samples as 'x'")
        return [arrays[n] for n in names]


def as_input_dtype(a: np.ndarray, name: str, dtype: str, what: str) -> np.ndarray:
    """`a` cast to a model input's `dtype` where that keeps every value and its meaning: floats of any width for a
    float input, integers (or booleans) that fit for an integer input. Anything else is refused: integer samples
    for a float input are often unscaled (uint8 pixels), float samples for token ids are not ids, and the targets'
    runtimes would otherwise differ (the phone's refuses the mix, others cast). Every target gets the same data."""
    try:
        want = np.dtype(dtype)
    except TypeError:  # a torch-only dtype (bfloat16): the runtime takes what it takes
        return a
    if want.kind == a.dtype.kind == "f":
        return a.astype(want, copy=False)
    if want.kind in "iu" and a.dtype.kind in "iub":
        lo, hi = (a.min(), a.max()) if a.size else (0, 0)
        if np.iinfo(want).min <= lo and hi <= np.iinfo(want).max:
            return a.astype(want, copy=False)
        raise InputError(f"{what} data for input '{name}' holds values {lo}..{hi}, beyond {want}",
                         f"the model's input is {want}: store values that fit it")
    if want.kind == a.dtype.kind == "b":
        return a
    hint = (f"store it as {want}, prepared as the model's training data was" if want.kind == "f"
            else f"store {'integer' if want.kind in 'iu' else want} values as {want}")
    raise InputError(f"{what} data for input '{name}' is {a.dtype}, the model takes {want}", hint)


def load_data(path: str | Path) -> Dataset:
    """An `.npz` file: the model's inputs (`x`, or one array per input name) and optionally `y` (labels)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"cannot read {path} as .npz: not an .npz archive", "save the arrays with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # no code runs (allow_pickle=False): whatever numpy or zipfile raise is the file's
        raise InputError(f"cannot read {path} as .npz: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                         "save it with numpy.savez") from None
    y = arrays.pop("y", None)
    if not arrays:
        raise InputError(f"{path} has no input arrays", "store 'x' (one-input models) or one array per input name")
    arrays = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays.items()}
    x = arrays["x"] if list(arrays) == ["x"] else arrays
    return Dataset(x, y, source=str(path))
