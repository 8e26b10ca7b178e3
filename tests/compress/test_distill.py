import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekit.metrics import count_params
from edgekit.compress import CompressionContext, compress, describe
from edgekit.compress.distill import DistillConfig, Distiller, attention_loss, kd_loss
from edgekit.errors import InputError


def test_kd_loss_matches_the_formula():
    torch.manual_seed(0)
    s, t = torch.randn(5, 10), torch.randn(5, 10)
    y = torch.randint(0, 10, (5,))
    T, alpha, beta = 3.0, 0.7, 0.3
    p_t, p_s = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    ce = -torch.log_softmax(s, 1)[torch.arange(5), y].mean()
    expected = alpha * T * T * kl + beta * ce
    torch.testing.assert_close(kd_loss(s, t, y, T, alpha, beta), expected)
    torch.testing.assert_close(kd_loss(t, t, None, T, alpha, beta), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_attention_loss_is_zero_for_equal_maps_and_handles_head_counts():
    a = torch.softmax(torch.randn(2, 4, 6, 6), -1)
    b = torch.softmax(torch.randn(2, 4, 6, 6), -1)
    assert attention_loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_loss(b, a).item() > 0.01
    assert attention_loss(b[:, :2], a).item() > 0  # 2 student heads vs 4 teacher heads: head-averaged maps


class Tiny(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 4)

    def forward(self, x):
        return self.head(self.body(x))


def test_hidden_state_distillation_learns_a_projection_where_widths_differ():
    teacher, student = Tiny(64).eval(), Tiny(16)
    d = Distiller(teacher, student, DistillConfig(hidden_pairs=(("body", "body"),)))
    loss = d.loss(torch.randn(8, 16))
    assert len(d.projections) == 1 and d.projections[0].map.weight.shape == (64, 16)
    loss.backward()
    assert d.projections[0].map.weight.grad is not None and student.body[0].weight.grad is not None


def _blobs(n=600, seed=0):
    g = np.random.default_rng(seed)
    centers = g.normal(size=(4, 16)) * 2
    y = g.integers(0, 4, n)
    return (centers[y] + g.normal(size=(n, 16))).astype(np.float32), y.astype(np.int64)


def test_distill_config_derives_a_narrower_student_that_tracks_the_teacher():
    torch.manual_seed(0)
    x, y = _blobs(256)
    teacher = Tiny(64)
    opt = torch.optim.Adam(teacher.parameters(), 1e-2)
    for _ in range(100):
        opt.zero_grad()
        F.cross_entropy(teacher(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    teacher.eval()
    ctx = CompressionContext((torch.from_numpy(x[:1]),), calibration=x, labels=y)
    config = DistillConfig(width=0.25, epochs=10, lr=1e-2, batch_size=32, hidden_pairs=(("body", "body"),))
    student = compress(teacher, config, ctx)
    assert count_params(student) < 0.3 * count_params(teacher)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        agree = (student(xt).argmax(1) == teacher(xt).argmax(1)).float().mean().item()
    assert agree > 0.95
    assert describe(config)["method"] == "distill"


def test_bad_student_and_loss_are_input_errors():
    x, y = _blobs(32)
    ctx = CompressionContext((torch.from_numpy(x[:1]),), calibration=x, labels=y)
    with pytest.raises(InputError, match="student"):
        compress(Tiny(8), DistillConfig(student="nope", epochs=1), ctx)
    with pytest.raises(InputError, match="distill: output_loss must be one of 'kd', 'mse', 'cosine', got 'l1'"):
        compress(Tiny(8), DistillConfig(student=Tiny(4), output_loss="l1", epochs=1), ctx)
    with pytest.raises(InputError, match="calibration"):
        compress(Tiny(8), DistillConfig(epochs=1), CompressionContext((torch.from_numpy(x[:1]),)))


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": True}, "distill: epochs must be a whole number >= 0, got True"),
    ({"width": "0.5"}, r"distill: width must be a number in \(0, 1\), got '0.5'"),
    ({"temperature": 0}, "distill: temperature must be a number > 0"),
    ({"hidden_pairs": (("body",),)}, "distill: hidden_pairs must be a list of .* pairs"),
])
def test_bad_fields_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(InputError, match=message):
        DistillConfig(**kwargs)


def test_output_loss_is_an_enum_that_takes_its_string():
    from edgekit.compress.distill import OutputLoss
    config = DistillConfig(output_loss="cosine", hidden_pairs=[["body", "body"]])
    assert config.output_loss is OutputLoss.COSINE and config.output_loss == "cosine"
    assert config.hidden_pairs == (("body", "body"),)
    assert describe(config)["output_loss"] == "cosine"
