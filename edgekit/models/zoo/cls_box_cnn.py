"""A small two-output CNN: single-object classification and localisation on 96x96 RGB (person/animal/vehicle
style camera trigger), returning class logits and a box.

Not a published model: a MobileNetV1-style backbone (Howard et al., arXiv:1704.04861; the 0.25-width blocks of
the MLPerf Tiny VWW model, truncated after the 12x12 stage and widened to 96 channels) under the two heads of
OverFeat-style classification + localisation (Sermanet et al., arXiv:1312.6229): after a shared global average
pool, a Linear to the class logits and a Linear + sigmoid to a box (cx, cy, w, h) in [0, 1] relative to the image.

    Conv(3 -> 16, 3x3, s2) - BN - ReLU
    DS blocks (out, stride): (32, 1) (48, 2) (48, 1) (96, 2) (96, 1) (96, 1), each 3x3 depthwise - BN - ReLU -
        1x1 conv - BN - ReLU (PyTorch padding 1: symmetric)
    global average pool -> [Linear(96, 10) = class_logits, sigmoid(Linear(96, 4)) = box]

Initialisation as torchvision's ResNets (convs Kaiming-normal fan_out, BN 1/0, Linear PyTorch default) with BN
statistics calibrated on synthetic images in [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, rng, seeded, to_tensors,
                                        torchvision_conv_init)
from edgekit.models.zoo._layers import ConvNormAct, global_avg_pool

NAME = "cls_box_cnn"
FAMILY = "multi-output"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("class_logits", "box")
MCU_SIZED = True
PUBLISHED_PARAMS = None  # not a published model
SOURCE = ("MobileNetV1-style backbone (Howard et al. 2017, arXiv:1704.04861) with OverFeat-style classification "
          "+ box regression heads (Sermanet et al. 2014, arXiv:1312.6229); no reference implementation")
DEVIATIONS = "not a published model"
SIZE, CLASSES = 96, 10
BLOCKS = ((32, 1), (48, 2), (48, 1), (96, 2), (96, 1), (96, 1))


class ClsBoxCNN(nn.Module):
    def __init__(self, classes: int = CLASSES, stem: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(3, stem, 3, 2)]
        c = stem
        for cout, stride in BLOCKS:
            layers += [ConvNormAct(c, c, 3, stride, groups=c), ConvNormAct(c, cout, 1)]
            c = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, classes)
        self.box = nn.Linear(c, 4)
        torchvision_conv_init(self, linear="default")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.flatten(global_avg_pool(self.features(x)), 1)
        return self.classifier(f), torch.sigmoid(self.box(f))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.natural_images(rng(seed, stream), n, SIZE, scale="unit")}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 3, 96, 96) float32 RGB in [0, 1]}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, ClsBoxCNN)
    calibrate_batchnorm(model, [to_tensors(_data_for(32, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
