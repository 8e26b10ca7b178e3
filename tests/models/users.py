"""Models as users bring them, for the CLI's `file.py:factory` path: architectures the zoo does not have."""
import torch
from torch import nn


class LstmKeywords(nn.Module):
    """A keyword spotter: an LSTM over MFCC frames, then a classifier on the last step."""

    def __init__(self, features: int = 10, hidden: int = 32, classes: int = 12) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def lstm_keywords():
    torch.manual_seed(0)
    return LstmKeywords().eval(), (torch.randn(1, 12, 10),)


class VanishingOutputs(nn.Module):
    """A user's bug: the outputs are scaled to denormals (~1e-41), so every comparison against them is empty."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * 1e-43


def vanishing_outputs():
    torch.manual_seed(0)
    return VanishingOutputs().eval(), (torch.randn(1, 16),)


class SensorMlp(nn.Module):
    """A small classifier over a window of accelerometer features."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(48, 64), nn.ReLU(), nn.Linear(64, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def sensor_mlp():
    torch.manual_seed(0)
    return SensorMlp().eval(), (torch.randn(1, 48),)
