"""A Hugging Face `transformers` MobileViT used as it comes: `MobileViTForImageClassification` built from the
`apple/mobilevit-xx-small` configuration (no wrapper), so it returns an `ImageClassifierOutputWithNoAttention`;
edgekit names its one tensor after its key, `logits`. 64x64 RGB in [0, 1] (what MobileViT's image processor gives:
rescaled, not normalised), 200 classes. A hybrid of convolutions and attention: MobileNetV2 blocks, then three
MobileViT blocks that unfold the feature map into 2x2 patches, run transformer layers (LayerNorm, multi-head
attention, SiLU MLP) across the patches and fold them back.

Source: transformers' MobileViT (models/mobilevit/modeling_mobilevit.py), the `apple/mobilevit-xx-small` layout
(hidden sizes 64/80/96, neck 16/16/24/48/64/80/320, expand ratio 2, 4 heads, MLP ratio 2) of Mehta and Rastegari,
"MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer" (arXiv:2110.02178), on Tiny
ImageNet (CS231n; 64x64, 200 classes).

Deviations from apple/mobilevit-xx-small: 64x64 inputs and 200 classes instead of 256x256 and 1000 (1.02 M
parameters instead of 1.3 M). Initialisation: transformers' own (`post_init`: convolutions, Linear layers and
batch-norm scales normal with std 0.02) makes the activations vanish by the third stage (the logits are below
1e-40 at 64x64), which no trained network does; the convolutions are re-initialised Kaiming-normal (fan_out) and
the batch norms 1/0 (torchvision's init), the Linear layers keep theirs, and BN statistics are calibrated on
synthetic natural images, as for the zoo's other vision models.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, batches, calibrate_batchnorm, rng, seeded,
                                        to_tensors, torchvision_conv_init)

NAME = "hf_mobilevit_classifier"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False  # attention, LayerNorm and SiLU: no microcontroller kernels for them
PUBLISHED_PARAMS = None  # apple/mobilevit-xx-small has 1.3 M with its 1000-class head
SOURCE = ("transformers MobileViTForImageClassification (models/mobilevit/modeling_mobilevit.py), "
          "apple/mobilevit-xx-small layout (Mehta & Rastegari 2021, arXiv:2110.02178), Tiny ImageNet 64x64 / 200 "
          "classes")
DEVIATIONS = "64x64 inputs, 200 classes, convolutions and batch norms re-initialised (torchvision)"
SIZE, CLASSES = 64, 200
CONFIG = dict(num_channels=3, image_size=SIZE, patch_size=2, hidden_sizes=[64, 80, 96],
              neck_hidden_sizes=[16, 16, 24, 48, 64, 80, 320], num_attention_heads=4, mlp_ratio=2.0,
              expand_ratio=2.0, hidden_act="silu", num_labels=CLASSES)


def _make() -> nn.Module:
    from transformers import MobileViTConfig, MobileViTForImageClassification
    model = MobileViTForImageClassification(MobileViTConfig(**CONFIG))
    torchvision_conv_init(model, linear="default")  # convolutions and norms; the Linear layers keep theirs
    return model


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.natural_images(rng(seed, stream), n, SIZE, scale="unit")}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 3, 64, 64) float32, RGB in [0, 1]}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, _make)
    calibrate_batchnorm(model, batches(_data_for(32, seed, BN_STATS), INPUT_NAMES, 32))
    return model, to_tensors(eval_data(1), INPUT_NAMES)
