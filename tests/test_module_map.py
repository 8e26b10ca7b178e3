"""The manifest's `model.modules`: every module that runs an op, with its type, the MACs of its own ops and the
user's source line that calls it, the same whether the model comes as a module or as an exported graph (.pt2)."""
from pathlib import Path

import torch
from torch import nn

from edgekit.module_map import module_table


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x)) + x.mean()  # the add and the mean are Block's own ops


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(Block())
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def _line_of(text: str) -> str:
    lines = Path(__file__).read_text().splitlines()
    return f"tests/test_module_map.py:{next(k for k, line in enumerate(lines, 1) if text in line)}"


def test_modules_have_their_own_macs_type_and_calling_line():
    x = (torch.randn(1, 3, 8, 8),)
    table = module_table(Net().eval(), x)
    assert table["body.0.conv"] == {"type": "Conv2d", "macs": 8 * 3 * 9 * 64,
                                    "source": _line_of("return self.act(self.conv(x))")}
    assert table["head"] == {"type": "Linear", "macs": 8 * 4, "source": _line_of("return self.head(")}
    assert table["body.0"]["type"] == "Block" and table["body.0"]["macs"] == 0  # its add and mean: no MACs
    assert "body" not in table  # a Sequential runs no op of its own


def test_an_exported_graph_gives_the_same_paths_and_macs():
    x = (torch.randn(1, 3, 8, 8),)
    eager = module_table(Net().eval(), x)
    graph = module_table(torch.export.export(Net().eval(), x).module(), x)
    for path in ("body.0.conv", "head"):
        assert graph[path]["macs"] == eager[path]["macs"] and graph[path]["type"] == eager[path]["type"]
        assert graph[path]["source"] == eager[path]["source"]
