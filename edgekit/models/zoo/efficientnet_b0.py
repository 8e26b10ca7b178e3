"""EfficientNet-B0 at 224x224, 1000 classes, written after torchvision's definition
(torchvision/models/efficientnet.py, `efficientnet_b0`), Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks" (arXiv:1905.11946).

Stem Conv(3 -> 32, s2) - BN - SiLU; MBConv stages (expand, kernel, stride, in, out, layers) = (1,3,1,32,16,1)
(6,3,2,16,24,2) (6,5,2,24,40,2) (6,3,2,40,80,3) (6,5,1,80,112,3) (6,5,2,112,192,4) (6,3,1,192,320,1), each block
[1x1 expand - BN - SiLU] (expand > 1) - kxk depthwise - BN - SiLU - SE (squeeze max(1, in / 4), SiLU, Sigmoid) -
1x1 project - BN, residual with stochastic depth (0.2 * block / 16; identity in eval) when stride 1 and
in == out; Conv(320 -> 1280) - BN - SiLU; global average pool; Dropout(0.2) - Linear(1280, 1000). Same parameter
names and initialisation as torchvision (convs Kaiming-normal fan_out, BN 1/0, Linear U(+-1/sqrt(1000))); BN
running statistics calibrated on synthetic natural images normalised with the ImageNet mean/std. Global pools
are means over H, W (same values). No other deviation.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo._common import torchvision_conv_init
from edgekit.models.zoo._imagenet import build_calibrated, calibration_data, eval_data  # noqa: F401 (the data)
from edgekit.models.zoo._layers import (ConvNormAct, SqueezeExcitation, StochasticDepth, global_avg_pool,
                                        make_divisible)

NAME = "efficientnet_b0"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
PUBLISHED_PARAMS = 5_288_548  # torchvision efficientnet_b0
SOURCE = "torchvision.models.efficientnet_b0 (Tan & Le 2019, arXiv:1905.11946)"
DEVIATIONS = ""
CLASSES = 1000
# expand ratio, kernel, stride, in, out, layers
STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
          (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))


class MBConv(nn.Module):
    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int, sd_prob: float) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        expanded = make_divisible(cin * expand, 8)
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(ConvNormAct(cin, expanded, 1, act=nn.SiLU))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, act=nn.SiLU))
        layers.append(SqueezeExcitation(expanded, max(1, cin // 4), act=nn.SiLU))
        layers.append(ConvNormAct(expanded, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class EfficientNetB0(nn.Module):
    def __init__(self, classes: int = CLASSES, stochastic_depth_prob: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(3, STAGES[0][3], 3, 2, act=nn.SiLU)]
        total = sum(s[5] for s in STAGES)
        block_id = 0
        for expand, kernel, stride, cin, cout, n in STAGES:
            stage = []
            for i in range(n):
                sd = stochastic_depth_prob * block_id / total
                stage.append(MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout, sd))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = STAGES[-1][4]
        layers.append(ConvNormAct(last_in, 4 * last_in, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * last_in, classes))
        torchvision_conv_init(self, linear="uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(global_avg_pool(self.features(x)), 1))


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_calibrated(EfficientNetB0, seed)
