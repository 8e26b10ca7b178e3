"""Building blocks shared by the torchvision-style models (same structure and parameter names as torchvision's
`Conv2dNormActivation`, `SqueezeExcitation`, `StochasticDepth`)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's `_make_divisible` (from the TensorFlow MobileNet code): round to a multiple of `divisor`,
    never more than 10% below `v`."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvNormAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + optional activation; padding (k - 1) // 2."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 norm: Callable[[int], nn.Module] = nn.BatchNorm2d,
                 act: Callable[[], nn.Module] | None = nn.ReLU) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                                   norm(cout)]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 1, 1): the values of adaptive_avg_pool2d(x, 1), written as a mean over H and W,
    which every converter lowers."""
    return x.mean((2, 3), keepdim=True)


class SqueezeExcitation(nn.Module):
    """Hu et al. 2018: x * scale_act(fc2(act(fc1(avgpool(x))))) with 1x1 convolutions (torchvision's layout)."""

    def __init__(self, channels: int, squeeze: int, act: Callable[[], nn.Module] = nn.ReLU,
                 scale_act: Callable[[], nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = act()
        self.scale_activation = scale_act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(global_avg_pool(x)))))
        return scale * x


class StochasticDepth(nn.Module):
    """Huang et al. 2016, 'row' mode: drops whole residual branches per sample in training, identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise / keep
