"""Keyword-ish text classifiers over token ids for the microcontroller path (tests/export/mcu/test_embedding.py):
nn.Embedding -> Conv1d -> mean over time -> Linear, and nn.Embedding -> mean -> Linear; int64 ids in."""
import torch
from torch import nn


class KeywordText(nn.Module):
    """Embedding -> Conv1d -> mean over time -> Linear: a keyword-ish text classifier over 16 token ids."""

    def __init__(self, vocab: int = 64, dim: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, 24, 3, padding=1)
        self.fc = nn.Linear(24, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids).transpose(1, 2)           # (B, dim, T)
        x = torch.relu(self.conv(x)).mean(dim=2)     # (B, 24)
        return self.fc(x)


class KeywordMean(nn.Module):
    """Embedding -> mean -> Linear."""

    def __init__(self, vocab: int = 64, dim: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc = nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.emb(ids).mean(dim=1))


def keyword_conv():
    torch.manual_seed(0)
    return KeywordText().eval(), (torch.randint(0, 64, (1, 16)),)


def keyword_mean():
    torch.manual_seed(0)
    return KeywordMean().eval(), (torch.randint(0, 64, (1, 16)),)


class IdsAsNumbers(nn.Module):
    """Token ids used as numbers (a CAST to float), which no MCU kernel takes."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(ids.float() / 64)


def ids_as_numbers():
    torch.manual_seed(0)
    return IdsAsNumbers().eval(), (torch.randint(0, 64, (1, 16)),)
