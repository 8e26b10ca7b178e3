"""A Hugging Face `transformers` image classifier used as it comes: `ResNetForImageClassification` built from a
small `ResNetConfig` (no wrapper), so it returns an `ImageClassifierOutputWithNoAttention`, not a tensor; edgekit
names its one tensor after its key, `logits`. 64x64 RGB (the Tiny ImageNet size), 200 classes.

Source: transformers' ResNet (models/resnet/modeling_resnet.py: ResNetEmbeddings 7x7/2 conv - BN - ReLU - 3x3/2
max pool, ResNetBasicLayer stages with 1x1 conv + BN shortcuts, adaptive average pool, Flatten - Linear), the
`microsoft/resnet-18` layout (layer_type "basic") of He et al., "Deep Residual Learning for Image Recognition"
(arXiv:1512.03385), on Tiny ImageNet (CS231n; 64x64, 200 classes). Initialisation is transformers' own
(`post_init`: convolutions Kaiming-normal fan_out, BN 1/0, Linear PyTorch default) under a fixed seed, with BN
statistics calibrated on synthetic natural images normalised with the ImageNet mean/std (what ResNet's image
processor does).

    ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic",
                 num_labels=200)

Deviations from microsoft/resnet-18: a quarter of the width (16/32/64/128 channels, embedding 16) and one basic
block per stage instead of two (ResNet-10 at quarter width: 0.34 M parameters, 6.4 M MACs at 64x64, a
microcontroller's size), 64x64 inputs and 200 classes instead of 224x224 and 1000.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, batches, calibrate_batchnorm, rng, seeded,
                                        to_tensors)

NAME = "hf_resnet_classifier"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = None  # scaled down from microsoft/resnet-18 (11.7 M): no published count at this size
SOURCE = ("transformers ResNetForImageClassification (models/resnet/modeling_resnet.py), microsoft/resnet-18 "
          "layout (He et al. 2016, arXiv:1512.03385), Tiny ImageNet 64x64 / 200 classes")
DEVIATIONS = "quarter width, one basic block per stage, 64x64 inputs, 200 classes"
SIZE, CLASSES = 64, 200
CONFIG = dict(num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
              layer_type="basic", hidden_act="relu", num_labels=CLASSES)


def _make() -> nn.Module:
    from transformers import ResNetConfig, ResNetForImageClassification
    return ResNetForImageClassification(ResNetConfig(**CONFIG))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.natural_images(rng(seed, stream), n, SIZE, scale="imagenet")}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 3, 64, 64) float32, ImageNet-normalised RGB}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, _make)
    calibrate_batchnorm(model, batches(_data_for(32, seed, BN_STATS), INPUT_NAMES, 32))
    return model, to_tensors(eval_data(1), INPUT_NAMES)
