"""MLPerf Tiny keyword spotting reference model: DS-CNN (small) on 49x10 MFCCs, 12 classes.

Source: mlcommons/tiny, benchmark/training/keyword_spotting/keras_model.py (`ds_cnn`), after Zhang et al.,
"Hello Edge: Keyword Spotting on Microcontrollers" (arXiv:1711.07128). Layer for layer:

    Conv2D(64, (10, 4), strides 2, 'same') - BN - ReLU - Dropout(0.2)
    4 x [DepthwiseConv2D(3x3, 'same') - BN - ReLU - Conv2D(64, 1x1) - BN - ReLU]
    Dropout(0.4) - AveragePooling2D((24, 5)) - Flatten - Dense(12)

Keras layout (49, 10, 1) becomes NCHW (1, 1, 49, 10): time is H, the MFCC coefficient is W. TensorFlow's 'same'
padding of the 10x4 stride-2 convolution is asymmetric (rows 4 above / 5 below, columns 1 / 1) and is written
as an explicit F.pad. The reference pools with a (24, 5) window over the 25x5 map, i.e. over the first 24 rows
only; that is kept. Initialisation as Keras: glorot-uniform kernels, zero biases, BN eps 1e-3.

Deviation: the final softmax is left out (the model returns logits).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, keras_glorot_uniform_,
                                        rng, seeded, tf_same_pad, to_tensors)

NAME = "kws_dscnn"
FAMILY = "mlperf-tiny"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = 23_756  # trainable; Keras' summary adds 1,152 BN moving statistics (24,908)
SOURCE = ("MLPerf Tiny KWS reference (github.com/mlcommons/tiny benchmark/training/keyword_spotting/"
          "keras_model.py, ds_cnn); Zhang et al. 2017, Hello Edge, arXiv:1711.07128")
DEVIATIONS = "softmax left out (logits)"
FRAMES, COEFFS, CLASSES = 49, 10, 12


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)  # Keras defaults (momentum 0.99)


class DSCNN(nn.Module):
    def __init__(self, classes: int = CLASSES, filters: int = 64, frames: int = FRAMES, coeffs: int = COEFFS):
        super().__init__()
        top, bottom = tf_same_pad(frames, 10, 2)
        left, right = tf_same_pad(coeffs, 4, 2)
        self.pad = (left, right, top, bottom)
        self.conv1 = nn.Conv2d(1, filters, (10, 4), stride=2)
        self.bn1 = _bn(filters)
        self.drop1 = nn.Dropout(0.2)
        blocks = []
        for _ in range(4):
            blocks += [nn.Conv2d(filters, filters, 3, padding=1, groups=filters), _bn(filters), nn.ReLU(),
                       nn.Conv2d(filters, filters, 1), _bn(filters), nn.ReLU()]
        self.blocks = nn.Sequential(*blocks)
        self.drop2 = nn.Dropout(0.4)
        self.pool = nn.AvgPool2d((frames // 2, coeffs // 2))
        self.fc = nn.Linear(filters, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                keras_glorot_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(F.relu(self.bn1(self.conv1(F.pad(x, self.pad)))))
        x = self.drop2(self.blocks(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.mfcc(rng(seed, stream), n, FRAMES, COEFFS)[:, None].copy()}  # fresh strides, not 0


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 1, 49, 10) float32 MFCCs}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, DSCNN)
    calibrate_batchnorm(model, [to_tensors(_data_for(128, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
