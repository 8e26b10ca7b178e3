"""What every zoo model shares: the registry entry, seeded construction, reference-style initialisers and the
BatchNorm calibration that gives a randomly initialised network realistic activations.

Model files import this module by its absolute name (never relatively): the CLI loads a zoo file on its own as
`edgekit/models/zoo/<name>.py:build`, outside the package.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

# Random streams of a data generator: calibration and evaluation data never share samples, and the samples that
# set the BatchNorm statistics of a model are neither.
CALIBRATION, EVAL, BN_STATS = 0, 1, 2


@dataclass(frozen=True)
class ZooEntry:
    """One conformance model. `factory()` -> (model in eval mode, example inputs of batch 1, in input order);
    `data(n, seed)` / `calibration_data(n, seed)` -> {input name: array with n samples first}."""

    name: str
    family: str  # "mlperf-tiny", "vision", "nlp", "audio", "sensor" or "multi-output"
    factory: Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    data: Callable[[int, int], dict[str, np.ndarray]]  # evaluation data
    calibration_data: Callable[[int, int], dict[str, np.ndarray]]
    mcu_sized: bool  # fits a Cortex-M's 256-512 KB of flash at INT8
    source: str  # the paper / reference implementation the definition follows
    int_ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # half-open [low, high)
    published_params: int | None = None  # parameter count of the reference definition (trainable parameters)
    deviations: str = ""  # where this definition departs from the reference, if anywhere

    @property
    def cli_spec(self) -> str:
        """`path/to/file.py:build`, the form the CLI's MODEL argument takes."""
        import sys
        return f"{sys.modules[self.factory.__module__].__file__}:{self.factory.__name__}"


def rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(stream), int(seed)])


def to_tensors(arrays: Mapping[str, np.ndarray], names: Iterable[str],
               index: slice | int = slice(0, 1)) -> tuple[torch.Tensor, ...]:
    """The named arrays, in input order, as tensors with fresh row-major strides (a batch of 1 by default).

    A copy, not np.ascontiguousarray: numpy calls an array contiguous whatever the strides of its size-1 axes
    (`a[:, None]` gives stride 0), and torch.export / ExecuTorch read those strides (0 strides are rejected,
    odd ones look channels-last)."""
    return tuple(torch.from_numpy(np.array(arrays[name][index], order="C", copy=True)) for name in names)


def batches(arrays: Mapping[str, np.ndarray], names: Iterable[str], size: int) -> list[tuple[torch.Tensor, ...]]:
    """The named arrays cut into batches of `size` samples, as tensors in input order."""
    names = tuple(names)
    n = len(arrays[names[0]])
    return [to_tensors(arrays, names, slice(i, i + size)) for i in range(0, n, size)]


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """`make()` under a fixed torch seed, leaving the caller's global random state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- initialisers -------------------------------------------------------------------------------------------

def keras_he_normal_(w: torch.Tensor) -> torch.Tensor:
    """Keras 'he_normal': truncated normal (at 2 sigma) with std sqrt(2 / fan_in) after truncation."""
    fan_in = w[0].numel()
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


def keras_glorot_uniform_(w: torch.Tensor) -> torch.Tensor:
    """Keras 'glorot_uniform' (the default kernel initialiser); fan sums equal torch's for depthwise kernels."""
    return nn.init.xavier_uniform_(w)


def torchvision_conv_init(model: nn.Module, linear: str) -> None:
    """torchvision's classification-model init: convs Kaiming normal (fan_out), norms 1/0, and the Linear layers
    `normal` (std 0.01, MobileNets), `uniform` (+-1/sqrt(out), EfficientNet) or `default` (ResNet)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear == "normal":
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
            elif linear == "uniform":
                r = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batches: Iterable[tuple[torch.Tensor, ...]]) -> nn.Module:
    """Set every BatchNorm's running statistics to the exact average of its batch statistics over `batches`
    (forward passes with only the BatchNorm layers in training mode: dropout and stochastic depth stay off),
    so that in eval mode each BatchNorm normalises what it actually sees, as in a trained network."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    for batch in batches:
        model(*batch)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    return model.eval()


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding (before, after) along one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
