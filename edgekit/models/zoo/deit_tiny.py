"""DeiT-Tiny (ViT-Ti/16) at 224x224, 1000 classes: patch 16, dim 192, 12 blocks, 3 heads, MLP ratio 4, written
after timm's VisionTransformer (`deit_tiny_patch16_224`: qkv bias, pre-norm blocks, LayerNorm eps 1e-6, exact
GELU, class-token pooling), Touvron et al., "Training data-efficient image transformers & distillation through
attention" (arXiv:2012.12877) and Dosovitskiy et al. (arXiv:2010.11929).

Initialisation as timm's default ('' mode): position embedding trunc-normal(0.02), class token N(0, 1e-6),
Linear trunc-normal(0.02) with zero biases, LayerNorm 1/0, patch-embedding conv PyTorch default. Attention is
written out (q k^T * d^-1/2, softmax, @ v) rather than F.scaled_dot_product_attention, so every converter sees
plain matmul/softmax. Full depth (12 blocks); no deviation.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo._common import seeded, to_tensors
from edgekit.models.zoo._imagenet import SIZE, calibration_data, eval_data  # noqa: F401 (the data)

NAME = "deit_tiny"
FAMILY = "vision"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
PUBLISHED_PARAMS = 5_717_416  # timm deit_tiny_patch16_224
SOURCE = ("timm deit_tiny_patch16_224 / VisionTransformer (Touvron et al. 2021, arXiv:2012.12877; "
          "Dosovitskiy et al. 2021, arXiv:2010.11929)")
DEVIATIONS = ""
PATCH, DIM, DEPTH, HEADS, CLASSES = 16, 192, 12, 3, 1000


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, C)


class VisionTransformer(nn.Module):
    def __init__(self, size: int = SIZE, patch: int = PATCH, dim: int = DIM, depth: int = DEPTH,
                 heads: int = HEADS, classes: int = CLASSES) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (size // patch) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, VisionTransformer).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
