import numpy as np
import pytest
import torch
from torch import nn

from edgekit.metrics import count_macs
from edgekit.compress import CompressionContext, StructuredPruneConfig, compress, describe
from edgekit.compress.prune_structured import Importance, Target
from edgekit.errors import InputError
from edgekit.models.digits import accuracy


class Branchy(nn.Module):
    """A concatenation, a depthwise conv and a residual add: the couplings torch-pruning must follow."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 16, 1)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        y = torch.cat([self.a(x).relu(), self.b(x).relu()], 1)
        y = y + self.pw(self.dw(y)).relu()
        return self.head(y.mean((2, 3)))


def _ctx(shape=(1, 3, 8, 8), n=64, labels=True):
    torch.manual_seed(0)
    x = torch.rand(n, *shape[1:]).numpy()
    y = np.random.default_rng(0).integers(0, 5, n) if labels else None
    return CompressionContext((torch.rand(shape),), calibration=x, labels=y)


def test_channels_are_removed_through_concat_depthwise_and_residual():
    torch.manual_seed(0)
    model, ctx = Branchy().eval(), _ctx()
    pruned = compress(model, StructuredPruneConfig(ratio=0.5), ctx)
    assert pruned.dw.groups == pruned.dw.in_channels == pruned.dw.out_channels == pruned.pw.out_channels
    assert pruned.a.out_channels + pruned.b.out_channels == pruned.dw.in_channels == 8
    assert pruned.head.out_features == 5, "the output layer must keep its shape"
    assert model.a.out_channels == 8, "the input model must not be modified"
    x = ctx.example_inputs[0]
    assert pruned(x).shape == (1, 5)
    assert count_macs(pruned, (x,)) < 0.6 * count_macs(model, (x,))
    torch.export.export(pruned, (x,))  # still a valid, exportable graph


def test_mac_target_is_reached():
    model, ctx = Branchy().eval(), _ctx()
    x = ctx.example_inputs
    pruned = compress(model, StructuredPruneConfig(ratio=0.3, target="macs"), ctx)
    ratio = count_macs(pruned, x) / count_macs(model, x)
    assert 0.6 < ratio <= 0.7
    # The concatenation's 1x1 branch shrinks first (smaller norms) and cannot go below one channel: a clear error
    with pytest.raises(InputError, match="pruning stopped at .* fewer MACs"):
        compress(model, StructuredPruneConfig(ratio=0.9, target="macs"), ctx)


def _dead_but_heavy():
    """Conv channel 0 has the largest weights but a bias that keeps its ReLU output at zero."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([5.0, 0.5, 0.6, 0.7]).view(4, 1, 1, 1))
        model[0].bias.copy_(torch.tensor([-100.0, 0.1, 0.1, 0.1]))
    ctx = CompressionContext((torch.rand(1, 1, 4, 4),), calibration=torch.rand(32, 1, 4, 4).numpy(),
                             labels=np.arange(32) % 3)
    return model, ctx


@pytest.mark.parametrize("importance, dead_kept", [("l1", True), ("l2", True), ("activation-mean", False),
                                                   ("activation-zeros", False)])
def test_importance_criteria_choose_differently(importance, dead_kept):
    model, ctx = _dead_but_heavy()
    pruned = compress(model, StructuredPruneConfig(ratio=0.25, importance=importance), ctx)
    assert pruned[0].out_channels == 3
    kept_dead = bool((pruned[0].bias < -50).any())
    assert kept_dead == dead_kept


def test_taylor_removes_the_channel_the_loss_does_not_need():
    model, ctx = _dead_but_heavy()  # zero activation -> zero gradient -> zero Taylor score
    pruned = compress(model, StructuredPruneConfig(ratio=0.25, importance="taylor"), ctx)
    assert not bool((pruned[0].bias < -50).any())
    assert all(p.grad is None for p in pruned.parameters())


def test_taylor_without_labels_is_an_input_error():
    model, ctx = _dead_but_heavy()
    ctx.labels = None
    with pytest.raises(InputError, match="taylor.*labels"):
        compress(model, StructuredPruneConfig(importance="taylor"), ctx)


def test_exported_graph_and_bad_settings_are_input_errors():
    model = Branchy().eval()
    x = torch.rand(1, 3, 8, 8)
    graph = torch.export.export(model, (x,)).module()
    with pytest.raises(InputError, match="exported graph"):
        compress(graph, StructuredPruneConfig(), CompressionContext((x,)))
    with pytest.raises(InputError, match="keep names"):
        compress(model, StructuredPruneConfig(keep=("nope",)), CompressionContext((x,)))
    with pytest.raises(InputError, match="ratio"):
        StructuredPruneConfig(ratio=1.5)
    with pytest.raises(InputError, match="importance"):
        StructuredPruneConfig(importance="magic")


def test_finetuning_recovers_accuracy_on_digits(digits, digits_example):
    model, split = digits
    ctx = CompressionContext(digits_example, calibration=split.x_train, labels=split.y_train)
    config = StructuredPruneConfig(ratio=0.7, target="macs")
    plain = compress(model, config, ctx)
    tuned = compress(model, StructuredPruneConfig(ratio=0.7, target="macs", finetune_epochs=3, lr=3e-3), ctx)
    assert count_macs(tuned, digits_example) <= 0.3 * count_macs(model, digits_example)
    acc_plain, acc_tuned = (accuracy(m, split.x_test, split.y_test) for m in (plain, tuned))
    assert acc_tuned > acc_plain + 0.02


def test_user_trainer_is_called_per_step():
    torch.manual_seed(0)
    model, ctx = Branchy().eval(), _ctx()
    calls = []
    # Count both concatenated branches: torch-pruning may take a step's channels from either one.
    config = StructuredPruneConfig(ratio=0.5, steps=2, finetune_epochs=4,
                                   trainer=lambda m, epochs: calls.append((m.a.out_channels + m.b.out_channels,
                                                                           epochs)))
    compress(model, config, ctx)
    assert [e for _, e in calls] == [2, 2]
    assert calls[0][0] > calls[1][0], "the second step prunes further"


def test_an_unknown_importance_lists_the_choices_from_python_and_from_a_recipe():
    from edgekit.recipe import parse_recipe
    choices = "'l1', 'l2', 'activation-mean', 'activation-zeros', 'taylor', got 'l3'"
    with pytest.raises(InputError, match=f"prune-structured: importance must be one of {choices}"):
        StructuredPruneConfig(importance="l3")
    with pytest.raises(InputError) as info:
        parse_recipe({"step": [{"method": "prune-structured", "importance": "l3"}]})
    assert info.value.one_line().startswith("recipe: step 1 (prune-structured): ")
    assert choices in info.value.one_line()


@pytest.mark.parametrize("kwargs, message", [
    ({"ratio": "0.5"}, r"prune-structured: ratio must be a number in \(0, 1\), got '0.5'"),
    ({"steps": True}, "prune-structured: steps must be a whole number >= 1, got True"),
    ({"global_pruning": "yes"}, "prune-structured: global_pruning must be true or false"),
    ({"target": "flops"}, "prune-structured: target must be one of 'channels', 'macs', got 'flops'"),
    ({"keep": "fc"}, "prune-structured: keep must be a list of module names"),
])
def test_bad_fields_name_the_method_and_field(kwargs, message):
    with pytest.raises(InputError, match=message):
        StructuredPruneConfig(**kwargs)


def test_option_strings_become_enum_members():
    config = StructuredPruneConfig(importance="activation-zeros", target="macs", keep=["head"])
    assert config.importance is Importance.ACTIVATION_ZEROS and config.target is Target.MACS
    assert config.keep == ("head",) and config == StructuredPruneConfig(
        importance=Importance.ACTIVATION_ZEROS, target=Target.MACS, keep=("head",))
    assert describe(config)["importance"] == "activation-zeros"
