"""Human-activity recognition from a window of a phone's accelerometer and gyroscope: a fully convolutional 1-D
network (three Conv1d - BN - ReLU blocks, global average pooling over time, Linear to the 6 UCI-HAR activities).

Source: the FCN of Wang, Yan and Oates, "Time Series Classification from Scratch with Deep Neural Networks: A
Strong Baseline" (IJCNN 2017, arXiv:1611.06455; github.com/cauchyturing/UCR_Time_Series_Classification_Deep_
Learning_Baseline): Conv1d(128, k=8) - BN - ReLU, Conv1d(256, k=5) - BN - ReLU, Conv1d(128, k=3) - BN - ReLU,
global average pooling over time, Dense(classes); stride 1, 'same' padding. On the windows of UCI-HAR (Anguita et
al., ESANN 2013): 2.56 s at 50 Hz = 128 samples, 6 activities (walking, upstairs, downstairs, sitting, standing,
laying).

    Conv1d(6 -> 64, 7) - BN - ReLU
    Conv1d(64 -> 128, 5) - BN - ReLU
    Conv1d(128 -> 64, 3) - BN - ReLU
    mean over time -> Linear(64, 6)

Deviations: half the FCN's width (64/128/64 filters: 69 K parameters, 8.7 M MACs, a microcontroller's budget);
odd kernels 7/5/3 instead of 8/5/3 (symmetric 'same' padding, no extra pad op); six raw input channels (total
acceleration x/y/z in g, angular velocity x/y/z in rad/s) rather than UCI-HAR's nine (its body-acceleration
channels are the total minus a low-pass gravity estimate); logits (no softmax). Initialisation as Keras (the
reference's framework): glorot-uniform kernels, zero biases, BN 1/0 (eps 1e-3), with BN statistics calibrated on
synthetic IMU windows (_data.imu_windows).
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, keras_glorot_uniform_, rng,
                                        seeded, to_tensors)

NAME = "sensor_cnn1d"
FAMILY = "sensor"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = None  # the FCN at half width, six input channels: no published count
SOURCE = ("FCN of Wang et al. 2017 (arXiv:1611.06455; github.com/cauchyturing/UCR_Time_Series_Classification_"
          "Deep_Learning_Baseline) on UCI-HAR windows (Anguita et al. 2013)")
DEVIATIONS = ("half width (64/128/64 filters); kernels 7/5/3 instead of 8/5/3; 6 raw channels (acc + gyro) instead "
              "of UCI-HAR's 9; logits (no softmax)")
CHANNELS, LENGTH, CLASSES = 6, 128, len(_data.ACTIVITIES)
BLOCKS = ((64, 7), (128, 5), (64, 3))


class SensorFCN(nn.Module):
    def __init__(self, channels: int = CHANNELS, classes: int = CLASSES) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for cout, k in BLOCKS:
            layers += [nn.Conv1d(c, cout, k, padding=k // 2), nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01),
                       nn.ReLU()]
            c = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                keras_glorot_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=-1))  # global average pool over time


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.imu_windows(rng(seed, stream), n, LENGTH)}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 6, 128) float32: acceleration x/y/z (g), angular velocity x/y/z (rad/s), 50 Hz}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, SensorFCN)
    calibrate_batchnorm(model, [to_tensors(_data_for(64, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
