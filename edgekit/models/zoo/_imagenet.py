"""What the zoo's 224x224 ImageNet models share: their data, and how one with batch norm is built."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, batches, calibrate_batchnorm, rng, seeded,
                                        to_tensors)

SIZE = 224
INPUT_NAMES = ("x",)


def _images(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.natural_images(rng(seed, stream), n, SIZE, scale="imagenet")}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 3, 224, 224) float32, ImageNet-normalised RGB}."""
    return _images(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _images(n, seed, EVAL)


def build_calibrated(make: Callable[[], nn.Module], seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The seeded model with batch-norm statistics taken on 8 images, and one evaluation image as the example."""
    model = seeded(seed, make)
    calibrate_batchnorm(model, batches(_images(8, seed, BN_STATS), INPUT_NAMES, 8))
    return model, to_tensors(eval_data(1), INPUT_NAMES)
