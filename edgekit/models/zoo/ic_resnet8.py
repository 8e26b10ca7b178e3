"""MLPerf Tiny image classification reference model: ResNet-8 (ResNet v1, 3 stacks of 16/32/64 filters) on
32x32x3 CIFAR-10 images, 10 classes.

Source: mlcommons/tiny v0.5/v1.0, benchmark/training/image_classification/keras_model.py (`resnet_v1_eembc`,
num_filters 16; later revisions default to 26), after He et al., "Deep Residual Learning" (arXiv:1512.03385).
Layer for layer:

    Conv2D(16, 3x3) - BN - ReLU
    stack 1: y = Conv(16, 3x3) - BN - ReLU - Conv(16, 3x3) - BN;            x = ReLU(x + y)
    stack 2: y = Conv(32, 3x3, s2) - BN - ReLU - Conv(32, 3x3) - BN;        x = ReLU(Conv(32, 1x1, s2)(x) + y)
    stack 3: the same with 64 filters
    AveragePooling2D(8) - Flatten - Dense(10)

Convolutions keep their biases; the 1x1 shortcut convolutions have no BN (as in the reference). TensorFlow's
'same' padding of the stride-2 3x3 convolutions pads 0 before / 1 after (explicit F.pad); the stride-2 1x1
shortcuts need none. Inputs are raw RGB pixel values in [0, 255]: the reference trains on unscaled CIFAR-10
pixels (its ImageDataGenerator only augments). Initialisation as the reference: he-normal kernels (Dense too),
zero biases, BN eps 1e-3.

Deviation: the final softmax is left out (the model returns logits).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, keras_he_normal_, rng,
                                        seeded, tf_same_pad, to_tensors)

NAME = "ic_resnet8"
FAMILY = "mlperf-tiny"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = 78_186  # trainable; Keras' summary adds 480 BN moving statistics (78,666)
SOURCE = ("MLPerf Tiny IC reference (github.com/mlcommons/tiny v1.0 benchmark/training/image_classification/"
          "keras_model.py, resnet_v1_eembc); He et al. 2016, arXiv:1512.03385")
DEVIATIONS = "softmax left out (logits)"
SIZE, CLASSES = 32, 10


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class Stack(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, size: int) -> None:
        super().__init__()
        before, after = tf_same_pad(size, 3, stride)
        self.pad = None if before == after else (before, after, before, after)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=before if before == after else 0)
        self.bn1 = _bn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=1)
        self.bn2 = _bn(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pad(x, self.pad) if self.pad is not None else x
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(y)))))
        return F.relu((self.shortcut(x) if self.shortcut is not None else x) + y)


class ResNet8(nn.Module):
    def __init__(self, classes: int = CLASSES, filters: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, filters, 3, padding=1)
        self.bn1 = _bn(filters)
        self.stack1 = Stack(filters, filters, 1, SIZE)
        self.stack2 = Stack(filters, 2 * filters, 2, SIZE)
        self.stack3 = Stack(2 * filters, 4 * filters, 2, SIZE // 2)
        self.pool = nn.AvgPool2d(SIZE // 4)
        self.fc = nn.Linear(4 * filters, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                keras_he_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stack3(self.stack2(self.stack1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.natural_images(rng(seed, stream), n, SIZE, scale="pixels")}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 3, 32, 32) float32 RGB pixel values in [0, 255]}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, ResNet8)
    calibrate_batchnorm(model, [to_tensors(_data_for(64, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
