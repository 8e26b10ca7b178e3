"""ResNet-18 at 224x224, 1000 classes, written after torchvision's definition (torchvision/models/resnet.py:
BasicBlock, layers [2, 2, 2, 2], 1x1 conv + BN downsampling shortcuts), He et al., "Deep Residual Learning for
Image Recognition" (arXiv:1512.03385).

Same layer structure, parameter names and initialisation as torchvision (convs Kaiming-normal fan_out, BN 1/0,
Linear PyTorch default, zero_init_residual False); BN running statistics calibrated on synthetic natural images
normalised with the ImageNet mean/std. The final pooling is written as a mean over H, W (torchvision: adaptive
average pooling to 1x1, the same values). No other deviation.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo._common import torchvision_conv_init
from edgekit.models.zoo._imagenet import build_calibrated, calibration_data, eval_data  # noqa: F401 (the data)
from edgekit.models.zoo._layers import global_avg_pool

NAME = "resnet18"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
PUBLISHED_PARAMS = 11_689_512  # torchvision resnet18
SOURCE = "torchvision.models.resnet18 (He et al. 2016, arXiv:1512.03385)"
DEVIATIONS = ""
CLASSES = 1000


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout)))
            cin = cout
        self.fc = nn.Linear(512, classes)
        torchvision_conv_init(self, linear="default")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(global_avg_pool(x), 1))


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_calibrated(ResNet18, seed)
