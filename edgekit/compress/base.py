"""One verb, one config per method: `compress(model, config, ...)` dispatches on the config's type.

Adding a method = one file with a frozen dataclass config (with a `method` name) and a function registered for it.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, TypeVar

import numpy as np
import torch

from ..errors import InputError
from .outputs import first_output


class CompressionConfig(Protocol):
    method: str


@dataclass
class CompressionContext:
    """What a method may use besides the model: example inputs, data, and a progress callback.

    `calibration` is the samples of a one-input model (an array) or one array per input (a sequence, in the
    model's input order), each shaped (N, *sample shape of that input); validated once here."""

    example_inputs: tuple[torch.Tensor, ...]
    calibration: np.ndarray | Sequence[np.ndarray] | None = None
    labels: np.ndarray | None = None
    progress: Callable[[str, int, int], None] = field(default=lambda what, done, total: None)
    input_names: tuple[str, ...] = ()
    # The target backend's INT8 (compress/quantize.py Int8Backend), given by the compiler from the target's
    # exporter; None = XNNPACK's.
    int8_backend: Any = None

    def __post_init__(self) -> None:
        self.calibration_inputs: tuple[np.ndarray, ...] | None = None
        if self.calibration is None:
            return
        arrays = (self.calibration,) if isinstance(self.calibration, np.ndarray) else tuple(self.calibration)
        if len(arrays) != len(self.example_inputs):
            raise InputError(f"calibration data has {len(arrays)} input array(s), the model takes "
                             f"{len(self.example_inputs)}")
        for i, (x, example) in enumerate(zip(arrays, self.example_inputs)):
            if tuple(x.shape[1:]) != tuple(example.shape[1:]):
                raise InputError(f"calibration data has samples of shape {tuple(x.shape[1:])} for input {i}, "
                                 f"the model takes {tuple(example.shape[1:])}", "reshape it to (N, *input_shape)")
            if x.dtype.kind == "f" and not np.isfinite(x).all():
                raise InputError(f"calibration data for input {i} contains NaN or Inf",
                                 "clean the data: quantization ranges computed from it would be meaningless")
        if len({len(x) for x in arrays}) > 1:
            raise InputError("calibration input arrays have different sample counts")
        if len(arrays[0]) == 0:
            raise InputError("calibration data has no samples")
        self.calibration_inputs = arrays
        if len(arrays) == 1:
            self.calibration = arrays[0]

    def single_input(self, method: str) -> np.ndarray:
        """The calibration samples of a one-input model (methods that train on x alone)."""
        if self.calibration_inputs is None:
            raise InputError(f"{method} needs calibration data", "pass --calibration DATA.npz")
        if len(self.calibration_inputs) != 1:
            raise InputError(f"{method} handles one-input models; this model takes {len(self.calibration_inputs)} "
                             "inputs", "apply it to the model in your own script, or leave it out of the recipe")
        return self.calibration_inputs[0]

    def calibration_batches(self, limit: int) -> list[tuple[torch.Tensor, ...]]:
        """Calibration samples batched like the (fixed-batch) example inputs, at most `limit` samples."""
        if self.calibration_inputs is None:
            raise InputError("this method needs calibration data", "pass --calibration DATA.npz")
        batch = self.example_inputs[0].shape[0]
        n = len(self.calibration_inputs[0])
        usable = min(n, limit) // batch * batch
        if usable == 0:
            raise InputError(f"calibration data has {n} samples, need at least {batch}"
                             if limit >= batch else f"calibration_samples must be at least {batch}, got {limit}")
        tensors = [torch.from_numpy(np.ascontiguousarray(x[:usable])).to(e.dtype)
                   for x, e in zip(self.calibration_inputs, self.example_inputs)]
        return [tuple(t[i:i + batch] for t in tensors) for i in range(0, usable, batch)]

    def first_output(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The model's first output (models may return a tuple, a dict, a ModelOutput...: see outputs.py)."""
        return first_output(model(*inputs))


Apply = Callable[[torch.nn.Module, Any, CompressionContext], torch.nn.Module]
_REGISTRY: dict[type, Apply] = {}


def register(config_type: type) -> Callable[[Apply], Apply]:
    """Register the function that applies configs of `config_type`."""
    def wrap(fn: Apply) -> Apply:
        _REGISTRY[config_type] = fn
        return fn
    return wrap


def compress(model: torch.nn.Module, config: CompressionConfig, ctx: CompressionContext) -> torch.nn.Module:
    """Apply one compression method; returns the compressed module (possibly a new object)."""
    try:
        fn = _REGISTRY[type(config)]
    except KeyError:
        raise InputError(f"no compression method registered for {type(config).__name__}") from None
    return fn(model, config, ctx)


def compress_chain(model: torch.nn.Module, configs: Sequence[CompressionConfig],
                   ctx: CompressionContext) -> torch.nn.Module:
    """Apply several methods in order (e.g. distill, then prune, then quantize)."""
    for config in configs:
        model = compress(model, config, ctx)
    return model


def describe(config: CompressionConfig) -> dict[str, Any]:
    """A JSON-ready record of a config, as stored in manifests ({'method': ..., **fields})."""
    record = {"method": config.method, **dataclasses.asdict(config)}
    # A user's callable (e.g. a training loop) is recorded by name: manifests are JSON.
    return {k: (getattr(v, "__qualname__", repr(v)) if callable(v) else list(v) if isinstance(v, tuple)
                else v.value if isinstance(v, enum.Enum) else v)
            for k, v in record.items()}


def registered_methods() -> dict[str, type]:
    """Method name -> config type."""
    return {cfg.method: cfg for cfg in _REGISTRY}


E = TypeVar("E", bound=enum.Enum)


def str_enum(enum_type: type[E], value: Any, where: str) -> E:
    """`value` (a member or its string) as a member of `enum_type`; an InputError listing the choices if not.
    Configs call it in __post_init__ so an option set is checked where the config is made, from any front end."""
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum_type)
        raise InputError(f"{where} must be one of {choices}, got {value!r}") from None
