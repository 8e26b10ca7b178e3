"""MLPerf Tiny visual wake words reference model: MobileNetV1, width 0.25, 96x96x3, 2 classes (person / none).

Source: mlcommons/tiny, benchmark/training/visual_wake_words/vww_model.py (`mobilenet_v1`, from Silicon Labs'
platform_ml_models), after Howard et al., "MobileNets" (arXiv:1704.04861) and Chowdhery et al., "Visual Wake
Words Dataset" (arXiv:1906.05721). Layer for layer:

    Conv2D(8, 3x3, stride 2, 'same') - BN - ReLU
    13 x [DepthwiseConv2D(3x3, stride s, 'same') - BN - ReLU - Conv2D(c, 1x1) - BN - ReLU],
        c = 16, 32, 32, 64, 64, 128 x 6, 256, 256 and s = 2 where c doubles (except the first)
    AveragePooling2D(3x3) - Flatten - Dense(2)

All convolutions keep their biases (Keras' default), as the reference does. TensorFlow's 'same' padding of a
stride-2 3x3 convolution on an even size pads 0 before / 1 after: an explicit F.pad. Inputs are RGB in [0, 1]
(the reference trains with `rescale=1/255`). Initialisation as Keras: he-normal 1x1/3x3 kernels (the depthwise
kernels ignore the `kernel_initializer` argument and stay glorot-uniform), glorot-uniform Dense, zero biases,
BN eps 1e-3.

Deviation: the final softmax is left out (the model returns logits).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, keras_glorot_uniform_,
                                        keras_he_normal_, rng, seeded, tf_same_pad, to_tensors)

NAME = "vww_mobilenet_v1"
FAMILY = "mlperf-tiny"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = 216_322  # trainable; Keras' summary adds 5,472 BN moving statistics (221,794)
SOURCE = ("MLPerf Tiny VWW reference (github.com/mlcommons/tiny benchmark/training/visual_wake_words/"
          "vww_model.py); Howard et al. 2017, MobileNets, arXiv:1704.04861")
DEVIATIONS = "softmax left out (logits)"
SIZE, CLASSES = 96, 2
# (output channels, stride) of the 13 depthwise-separable blocks
BLOCKS = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1), (128, 1), (128, 1),
          (128, 1), (256, 2), (256, 1))


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class SameConv(nn.Module):
    """Conv2d + BN + ReLU with TensorFlow 'same' padding for a known input size (explicit F.pad only where the
    padding is asymmetric)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, size: int, groups: int = 1) -> None:
        super().__init__()
        before, after = tf_same_pad(size, kernel, stride)
        self.pad = None if before == after else (before, after, before, after)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=before if before == after else 0, groups=groups)
        self.bn = _bn(cout)
        self.out_size = -(-size // stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return F.relu(self.bn(self.conv(x)))


class MobileNetV1VWW(nn.Module):
    def __init__(self, classes: int = CLASSES, size: int = SIZE, first: int = 8) -> None:
        super().__init__()
        layers = [SameConv(3, first, 3, 2, size)]
        size, c = layers[0].out_size, first
        for cout, stride in BLOCKS:
            dw = SameConv(c, c, 3, stride, size, groups=c)
            pw = SameConv(c, cout, 1, 1, dw.out_size)
            layers += [dw, pw]
            size, c = dw.out_size, cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(size)
        self.fc = nn.Linear(c, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                (keras_glorot_uniform_ if m.groups > 1 else keras_he_normal_)(m.weight)
                nn.init.zeros_(m.bias)
        keras_glorot_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.natural_images(rng(seed, stream), n, SIZE, scale="unit")}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 3, 96, 96) float32 RGB in [0, 1]}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, MobileNetV1VWW)
    calibrate_batchnorm(model, [to_tensors(_data_for(32, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
