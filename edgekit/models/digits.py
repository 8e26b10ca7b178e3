"""scikit-learn's bundled 8x8 digits (offline) and a small CNN trained on them in seconds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class DigitsSplit:
    x_train: np.ndarray  # (N, 1, 8, 8) float32 in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(test_fraction: float = 0.2, seed: int = 0, size: int = 8) -> DigitsSplit:
    """The 1,797 digits as (N, 1, size, size) float32, split deterministically; upscaled when size > 8."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    if size != 8:
        x = torch.nn.functional.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear",
                                            align_corners=False).numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target.astype(np.int64), test_size=test_fraction,
                                              random_state=seed, stratify=data.target)
    # Fresh copies: the split can leave odd strides on size-1 dims, which torch.export reads as channels-last.
    return DigitsSplit(*(a.copy(order="C") for a in (x_tr, y_tr, x_te, y_te)))


class DigitsCNN(nn.Module):
    """Conv(1->16) -> depthwise/pointwise (16->32) -> pool -> FC: about 10 k parameters."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, groups=width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(2 * width * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 30, lr: float = 3e-3,
          batch_size: int = 64, seed: int = 0) -> nn.Module:
    """A plain Adam loop; deterministic for a given seed."""
    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int | None = None) -> float:
    """Top-1 accuracy; pass batch_size=1 for exported graphs with a fixed batch."""
    xt = torch.from_numpy(x)
    step = batch_size or len(xt)
    with torch.no_grad():
        pred = torch.cat([model(xt[i:i + step]).argmax(1) for i in range(0, len(xt), step)])
    return float((pred.numpy() == y).mean())


def trained_digits_cnn(epochs: int = 30, seed: int = 0) -> tuple[DigitsCNN, DigitsSplit]:
    split = load_digits_split()
    torch.manual_seed(seed)
    return train(DigitsCNN(), split.x_train, split.y_train, epochs=epochs, seed=seed), split
