"""MobileNetV2 (width 1.0) at 224x224, 1000 classes, written after torchvision's definition
(torchvision/models/mobilenetv2.py), Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(arXiv:1801.04381).

Stem ConvBNReLU6(3 -> 32, s2); inverted residual blocks (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2)
(6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), each [1x1 expand - BN - ReLU6] (t > 1) - 3x3 depthwise - BN -
ReLU6 - 1x1 project - BN, residual when stride 1 and in == out; ConvBNReLU6(320 -> 1280); global average pool;
Dropout(0.2) - Linear(1280, 1000). Same structure, parameter names and initialisation as torchvision (convs
Kaiming-normal fan_out, BN 1/0, Linear N(0, 0.01)); BN running statistics calibrated on synthetic natural images
normalised with the ImageNet mean/std. The global pool is a mean over H, W (same values). No other deviation.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo._common import torchvision_conv_init
from edgekit.models.zoo._imagenet import build_calibrated, calibration_data, eval_data  # noqa: F401 (the data)
from edgekit.models.zoo._layers import ConvNormAct, global_avg_pool, make_divisible

NAME = "mobilenet_v2"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
PUBLISHED_PARAMS = 3_504_872  # torchvision mobilenet_v2
SOURCE = "torchvision.models.mobilenet_v2 (Sandler et al. 2018, arXiv:1801.04381)"
DEVIATIONS = ""
CLASSES = 1000
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(cin, hidden, 1, act=nn.ReLU6))
        layers += [ConvNormAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes: int = CLASSES, width: float = 1.0) -> None:
        super().__init__()
        cin = make_divisible(32 * width)
        self.last_channel = make_divisible(1280 * max(1.0, width))
        features: list[nn.Module] = [ConvNormAct(3, cin, 3, 2, act=nn.ReLU6)]
        for t, c, n, s in SETTINGS:
            cout = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(ConvNormAct(cin, self.last_channel, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, classes))
        torchvision_conv_init(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(global_avg_pool(self.features(x)), 1))


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_calibrated(MobileNetV2, seed)
