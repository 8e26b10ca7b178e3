"""Small models with several inputs or outputs for the microcontroller tests (test_multi_io_qemu.py), as
`file.py:factory` specs for the CLI: each factory returns (model, example inputs); `data(n)` gives calibration /
eval arrays named after the forward arguments."""
import numpy as np
import torch
from torch import nn

SPEC = __file__


class TwoHeads(nn.Module):
    """A class head and a box head on one small convolutional trunk (cls_box_cnn in miniature)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.cls, self.box = nn.Linear(16, 5), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.flatten(self.trunk(x).mean((2, 3), keepdim=True), 1)  # keepdim: a MEAN over H and W (NHWC)
        return self.cls(f), torch.sigmoid(self.box(f))


class SumOfTwo(nn.Module):
    """base + conv(side): two inputs of different shapes and ranges (not named y: data files keep y for labels)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, 1, 1)

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return torch.relu(base + self.conv(side))


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def two_heads():
    torch.manual_seed(0)
    return TwoHeads().eval(), (torch.from_numpy(two_heads_data(1)["x"]),)


def two_heads_data(n: int, seed: int = 0) -> dict:
    return {"x": _rng(seed).uniform(0, 1, (n, 3, 16, 16)).astype(np.float32)}


def sum_of_two():
    torch.manual_seed(0)
    d = sum_of_two_data(1)
    return SumOfTwo().eval(), (torch.from_numpy(d["base"]), torch.from_numpy(d["side"]))


def sum_of_two_data(n: int, seed: int = 0) -> dict:
    rng = _rng(seed)
    return {"base": rng.uniform(-2, 2, (n, 8, 6, 6)).astype(np.float32),
            "side": rng.uniform(0, 1, (n, 4, 6, 6)).astype(np.float32)}
