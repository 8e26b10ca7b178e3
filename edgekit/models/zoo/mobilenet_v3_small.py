"""MobileNetV3-Small (width 1.0) at 224x224, 1000 classes, written after torchvision's definition
(torchvision/models/mobilenetv3.py, `_mobilenet_v3_conf("mobilenet_v3_small")`), Howard et al., "Searching for
MobileNetV3" (arXiv:1905.02244).

Stem Conv(3 -> 16, s2) - BN - Hardswish; 11 bneck blocks (in, kernel, expanded, out, SE, activation, stride):
(16,3,16,16,SE,RE,2) (16,3,72,24,-,RE,2) (24,3,88,24,-,RE,1) (24,5,96,40,SE,HS,2) (40,5,240,40,SE,HS,1) x2
(40,5,120,48,SE,HS,1) (48,5,144,48,SE,HS,1) (48,5,288,96,SE,HS,2) (96,5,576,96,SE,HS,1) x2, each
[1x1 expand - BN - act] (when expanded != in) - kxk depthwise - BN - act - [SE: avgpool, 1x1 conv to
make_divisible(expanded / 4), ReLU, 1x1 conv, Hardsigmoid, scale] - 1x1 project - BN, residual when stride 1 and
in == out; Conv(96 -> 576) - BN - Hardswish; global average pool; Linear(576, 1024) - Hardswish - Dropout(0.2) -
Linear(1024, 1000). BN eps 1e-3, momentum 0.01 as torchvision. Same parameter names and initialisation as
torchvision (convs Kaiming-normal fan_out, BN 1/0, Linear N(0, 0.01)); BN running statistics calibrated on
synthetic natural images normalised with the ImageNet mean/std. Global pools are means over H, W (same values).
No other deviation.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from edgekit.models.zoo._common import torchvision_conv_init
from edgekit.models.zoo._imagenet import build_calibrated, calibration_data, eval_data  # noqa: F401 (the data)
from edgekit.models.zoo._layers import ConvNormAct, SqueezeExcitation, global_avg_pool, make_divisible

NAME = "mobilenet_v3_small"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
PUBLISHED_PARAMS = 2_542_856  # torchvision mobilenet_v3_small
SOURCE = "torchvision.models.mobilenet_v3_small (Howard et al. 2019, arXiv:1905.02244)"
DEVIATIONS = ""
CLASSES = 1000
# input, kernel, expanded, out, use SE, activation ("RE" ReLU / "HS" Hardswish), stride
SETTINGS = ((16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
            (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
            (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
            (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1))

_norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, kernel: int, expanded: int, cout: int, use_se: bool, act: str, stride: int):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        act_layer = nn.Hardswish if act == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(ConvNormAct(cin, expanded, 1, norm=_norm, act=act_layer))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, norm=_norm, act=act_layer))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4, 8), scale_act=nn.Hardsigmoid))
        layers.append(ConvNormAct(expanded, cout, 1, norm=_norm, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_res_connect else out


class MobileNetV3Small(nn.Module):
    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(3, SETTINGS[0][0], 3, 2, norm=_norm, act=nn.Hardswish)]
        layers += [InvertedResidual(*s) for s in SETTINGS]
        last_in = SETTINGS[-1][3]
        layers.append(ConvNormAct(last_in, 6 * last_in, 1, norm=_norm, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(6 * last_in, 1024), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(1024, classes))
        torchvision_conv_init(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(global_avg_pool(self.features(x)), 1))


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_calibrated(MobileNetV3Small, seed)
