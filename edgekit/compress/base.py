"""One verb, one config per method: `compress(model, config, ...)` dispatches on the config's type.

Adding a method = one file with a frozen dataclass config (with a `method` name) and a function registered for it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from ..errors import InputError


class CompressionConfig(Protocol):
    method: str


@dataclass
class CompressionContext:
    """What a method may use besides the model: example inputs, data, and a progress callback."""

    example_inputs: tuple[torch.Tensor, ...]
    calibration: np.ndarray | None = None  # x: samples without the batch dimension of the example
    labels: np.ndarray | None = None
    progress: Callable[[str, int, int], None] = field(default=lambda what, done, total: None)

    def calibration_batches(self, limit: int) -> list[tuple[torch.Tensor, ...]]:
        """Calibration samples shaped like the (fixed-batch) example input, at most `limit` of them."""
        if self.calibration is None:
            raise InputError("this method needs calibration data", "pass --calibration DATA.npz with an array 'x'")
        example = self.example_inputs[0]
        batch = example.shape[0]
        x = self.calibration
        if tuple(x.shape[1:]) != tuple(example.shape[1:]):
            raise InputError(f"calibration data has samples of shape {tuple(x.shape[1:])}, "
                             f"the model takes {tuple(example.shape[1:])}", "reshape 'x' to (N, *input_shape)")
        usable = min(len(x), limit) // batch * batch
        if usable == 0:
            raise InputError(f"calibration data has {len(x)} samples, need at least {batch}")
        t = torch.from_numpy(np.ascontiguousarray(x[:usable])).to(example.dtype)
        return [(t[i:i + batch],) for i in range(0, usable, batch)]


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
    return {k: (getattr(v, "__qualname__", repr(v)) if callable(v) else list(v) if isinstance(v, tuple) else v)
            for k, v in record.items()}


def registered_methods() -> dict[str, type]:
    """Method name -> config type; where several configs share a name, the first registered."""
    methods: dict[str, type] = {}
    for cfg in _REGISTRY:
        methods.setdefault(cfg.method, cfg)
    return methods


def configs_named(method: str) -> list[type]:
    """Every config type registered under `method`, in registration order (e.g. "int8" and its .tflite variant)."""
    return [cfg for cfg in _REGISTRY if cfg.method == method]
