import pytest
import torch
from torch import nn

from edgekit.compress.student import FactorizedEmbedding, drop_layers, evenly_spaced, factorize_embedding, narrow
from edgekit.errors import InputError
from edgekit.models.digits import DigitsCNN


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.layers = nn.ModuleList(nn.Linear(16, 16) for _ in range(6))

    def forward(self, ids):
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x)
        return x


def test_evenly_spaced_keeps_the_last_layer():
    assert evenly_spaced(6, 2) == [2, 5]
    assert evenly_spaced(6, 3) == [1, 3, 5]
    assert evenly_spaced(4, 4) == [0, 1, 2, 3]


def test_drop_layers_copies_the_kept_teacher_layers():
    teacher = Stack()
    student = drop_layers(teacher, "layers", [1, 4])
    assert len(student.layers) == 2 and len(teacher.layers) == 6
    torch.testing.assert_close(student.layers[1].weight, teacher.layers[4].weight)
    with pytest.raises(InputError, match="indices"):
        drop_layers(teacher, "layers", [9])
    with pytest.raises(InputError, match="no module"):
        drop_layers(teacher, "blocks", [0])


def test_factorize_embedding_is_the_best_low_rank_approximation():
    model = Stack()
    full = model.emb.weight.detach().clone()
    factorize_embedding(model, "emb", 8)
    assert isinstance(model.emb, FactorizedEmbedding)
    approx = model.emb(torch.arange(50))
    s = torch.linalg.svdvals(full)
    # Eckart-Young: the rank-8 error is exactly the energy of the dropped singular values.
    assert torch.linalg.norm(approx - full).item() == pytest.approx(s[8:].norm().item(), rel=1e-4)
    assert sum(p.numel() for p in model.emb.parameters()) == 50 * 8 + 8 * 16


def test_narrow_halves_the_channels_and_keeps_the_output():
    teacher = DigitsCNN()
    x = torch.randn(1, 1, 8, 8)
    student = narrow(teacher, (x,), 0.5)
    assert student.features[0].out_channels == 8 and student.classifier.out_features == 10
    assert student(x).shape == (1, 10)
