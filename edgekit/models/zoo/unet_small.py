"""A small U-Net for binary segmentation of 32x32 grayscale images: two down levels (Conv-BN-ReLU x2, 2x2 max
pool), a bottleneck, two up levels (2x2 transposed convolution, concatenation with the skip, Conv-BN-ReLU x2) and a
1x1 convolution to per-pixel class logits.

Source: Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation" (MICCAI
2015, arXiv:1505.04597): per level two 3x3 convolutions + ReLU, 2x2 max pooling down with the channels doubled,
2x2 "up-convolution" halving them, concatenation with the cropped encoder features, a final 1x1 convolution to 2
classes on one-channel images; weights drawn from N(0, sqrt(2 / fan_in)). BatchNorm after each convolution and
'same' padding as the common PyTorch rendering (github.com/milesial/Pytorch-UNet, DoubleConv / Up with
ConvTranspose2d):

    enc1: DoubleConv(1 -> 16)   32x32    -> MaxPool 2
    enc2: DoubleConv(16 -> 32)  16x16    -> MaxPool 2
    mid:  DoubleConv(32 -> 64)  8x8
    up2:  ConvTranspose2d(64 -> 32, 2, s2), cat enc2 -> DoubleConv(64 -> 32)   16x16
    up1:  ConvTranspose2d(32 -> 16, 2, s2), cat enc1 -> DoubleConv(32 -> 16)   32x32
    head: Conv2d(16 -> 2, 1x1)                                                 logits (1, 2, 32, 32)

Deviations: 2 levels instead of 4 and 16 base channels instead of 64 (117 K parameters, 25 M MACs: sized for a
microcontroller), 'same' padding (no cropping: the output is the input's size), BatchNorm (bias-free
convolutions), 32x32 inputs instead of 572x572. Initialisation: He-normal (fan_in) convolutions as the paper, BN
1/0 with statistics calibrated on synthetic grayscale images in [0, 1] (_data.gray_images).
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, rng, seeded, to_tensors

NAME = "unet_small"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = None  # scaled down from the paper's 31 M: no published count at this size
SOURCE = ("U-Net (Ronneberger et al. 2015, arXiv:1505.04597), layer form of github.com/milesial/Pytorch-UNet "
          "(DoubleConv with BatchNorm, ConvTranspose2d up)")
DEVIATIONS = "2 levels, 16 base channels, 'same' padding (no cropping), BatchNorm, 32x32 inputs"
SIZE, IN_CHANNELS, CLASSES, BASE = 32, 1, 2, 16


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin // 2 + cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNetSmall(nn.Module):
    def __init__(self, channels: int = IN_CHANNELS, classes: int = CLASSES, base: int = BASE) -> None:
        super().__init__()
        self.enc1 = DoubleConv(channels, base)
        self.enc2 = DoubleConv(base, 2 * base)
        self.mid = DoubleConv(2 * base, 4 * base)
        self.pool = nn.MaxPool2d(2)
        self.up2 = Up(4 * base, 2 * base)
        self.up1 = Up(2 * base, base)
        self.head = nn.Conv2d(base, classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                # N(0, sqrt(2 / N)), N = the inputs of one output unit (the paper): kernel area x input channels;
                # a stride-2 2x2 transposed convolution feeds each output pixel from one tap per input channel
                kh, kw = m.kernel_size
                fan_in = m.in_channels // m.groups * kh * kw // (m.stride[0] * m.stride[1] if
                                                                  isinstance(m, nn.ConvTranspose2d) else 1)
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        return self.head(self.up1(self.up2(m, e2), e1))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.gray_images(rng(seed, stream), n, SIZE)}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 1, 32, 32) float32 grayscale in [0, 1]}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, UNetSmall)
    calibrate_batchnorm(model, [to_tensors(_data_for(32, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
