"""Per-layer INT8 sensitivity: each layer quantized alone, the loss at the output."""
import torch

from edgekit.compress.sensitivity import layers_to_keep, rank_layers
from tests.models.users import outlier_mlp


def _inputs(n, *shape):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(1, *shape, generator=g),) for _ in range(n)]


def test_the_layers_around_an_outlier_rank_first():
    """fc1's always-on unit sets the scale of its output, which is fc2's input: both lose the other units."""
    model, example = outlier_mlp()
    ranked = dict(rank_layers(model, example, _inputs(8, 16)))
    assert set(ranked) == {"fc1", "fc2", "head"}
    assert min(ranked["fc1"], ranked["fc2"]) > 0.05 > 1e-3 > ranked["head"] >= 0


class _Convs(torch.nn.Module):
    """Two conv + batch norm + ReLU blocks, the second's weights with one channel 1000x the rest."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.b = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.fc = torch.nn.Linear(8, 4)
        with torch.no_grad():
            self.b[0].weight[0] *= 1000

    def forward(self, x):
        return self.fc(self.b(self.a(x)).mean((2, 3)))


def test_the_graph_is_left_as_it_was():
    """The ranking rounds weights in place and restores them: the model and a second ranking are unchanged."""
    torch.manual_seed(0)
    model = _Convs().eval()
    x = _inputs(4, 3, 12, 12)
    before = [model(*b) for b in x]
    first = rank_layers(model, x[0], x)
    assert [name for name, _ in first][0] == "b.0"  # its big channel sets the output's scale for the small ones
    assert rank_layers(model, x[0], x) == first
    assert all(torch.equal(model(*b), want) for b, want in zip(x, before))


def test_the_count_predicted_covers_the_loss_allowed():
    ranked = [("a", 0.06), ("b", 0.03), ("c", 0.01)]
    assert layers_to_keep(ranked, deficit=0.1, allowed=0.5) == 0
    assert layers_to_keep(ranked, deficit=0.1, allowed=0.04) == 1   # 0.1 * 0.4 left
    assert layers_to_keep(ranked, deficit=0.1, allowed=0.02) == 2   # 0.1 * 0.1 left
    assert layers_to_keep(ranked, deficit=0.1, allowed=0.0) == 3
    assert layers_to_keep([], deficit=0.1, allowed=0.01) == 0


class _Gated(torch.nn.Module):
    """A gate as in an LSTM cell: two Linears, their tanh and sigmoid multiplied in the gate's own forward."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

    def forward(self, x):
        return torch.tanh(self.a(x)) * torch.sigmoid(self.b(x))


def test_a_module_s_own_elementwise_ops_count_for_it():
    torch.manual_seed(0)
    model = torch.nn.Sequential(_Gated(), torch.nn.Linear(8, 3)).eval()
    ranked = dict(rank_layers(model, (torch.randn(1, 8),), _inputs(8, 8)))
    assert set(ranked) == {"0", "0.a", "0.b", "1"}  # "0": its tanh, sigmoid and mul, not its Linears
    assert all(s > 0 for s in ranked.values())


def test_every_add_is_one_candidate_the_models_own_included():
    """A ViT's position-embedding and residual adds run in its own forward, outside any module: together they are
    the candidate "op:add", and the most sensitive one (the class token's row of the stream is small)."""
    from tests.models.users import tiny_vit
    model, example = tiny_vit()
    ranked = rank_layers(model, example, [(torch.randn(1, 16, 48),) for _ in range(8)])
    assert ranked[0][0] == "op:add" and ranked[0][1] > 10 * ranked[1][1], ranked
    assert {name for name, _ in ranked} == {"op:add", "embed", "head", "blocks.0.fc1", "blocks.0.fc2",
                                            "blocks.1.fc1", "blocks.1.fc2"}
