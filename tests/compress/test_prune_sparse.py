import numpy as np
import pytest
import torch
from torch import nn

from edgekit.compress import (CompressionContext, GradualPruneConfig, MagnitudePruneConfig, NMSparsityConfig,
                              compress, describe)
from edgekit.compress.prune_sparse import Scope, Storage, cubic_schedule, nm_mask, prunable_weights
from edgekit.errors import InputError
from edgekit.models.digits import DigitsCNN, accuracy


def _zero_share(ts):
    ts = list(ts)
    return sum(int((t == 0).sum()) for t in ts) / sum(t.numel() for t in ts)


def _model():
    torch.manual_seed(0)
    return DigitsCNN().eval()


def _ctx(n=64):
    torch.manual_seed(0)
    return CompressionContext((torch.rand(1, 1, 8, 8),), calibration=torch.rand(n, 1, 8, 8).numpy(),
                              labels=np.arange(n) % 10)


def test_global_magnitude_hits_the_sparsity_and_spares_the_input_model():
    model = _model()
    pruned = compress(model, MagnitudePruneConfig(sparsity=0.7), _ctx())
    weights = prunable_weights(pruned)
    assert _zero_share(weights.values()) == pytest.approx(0.7, abs=0.002)
    shares = [_zero_share([w]) for w in weights.values()]
    assert max(shares) - min(shares) > 0.1, "global pruning should prune layers unevenly"
    assert _zero_share(prunable_weights(model).values()) == 0
    # the survivors are the largest weights
    flat = torch.cat([w.detach().abs().flatten() for w in prunable_weights(model).values()])
    kept = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    assert kept[kept > 0].min() >= flat.kthvalue(int(0.7 * flat.numel())).values


def test_per_layer_magnitude_prunes_each_layer_alike():
    pruned = compress(_model(), MagnitudePruneConfig(sparsity=0.5, scope="layer"), _ctx())
    for w in prunable_weights(pruned).values():
        assert _zero_share([w]) == pytest.approx(0.5, abs=1 / w.numel() + 1e-9)


def test_nm_mask_keeps_n_of_every_m_input_channels():
    torch.manual_seed(0)
    w = torch.randn(6, 8, 3, 3)
    mask = nm_mask(w, 2, 4)
    groups = mask.movedim(1, -1).reshape(-1, 4)
    assert bool((groups.sum(1) == 2).all())
    kept = (w * mask).movedim(1, -1).reshape(-1, 4).abs()
    dropped = (w * (1 - mask)).movedim(1, -1).reshape(-1, 4).abs()
    assert bool((kept.max(1).values >= dropped.max(1).values).all())
    assert nm_mask(torch.randn(16, 1, 3, 3), 2, 4) is None  # depthwise: left dense


def test_two_four_sparsity_on_the_digits_cnn_with_finetuning(digits, digits_example):
    model, split = digits
    ctx = CompressionContext(digits_example, calibration=split.x_train, labels=split.y_train)
    pruned = compress(model, NMSparsityConfig(finetune_epochs=3, lr=3e-3), ctx)
    weights = prunable_weights(pruned)
    assert _zero_share([weights["features.4.weight"]]) == 0.5 and _zero_share([weights["classifier.weight"]]) == 0.5
    assert _zero_share([weights["features.2.weight"]]) == 0, "depthwise stays dense"
    assert accuracy(pruned, split.x_test, split.y_test) >= accuracy(model, split.x_test, split.y_test) - 0.03


def test_finetuning_keeps_the_zeros_even_with_a_users_loop():
    model, ctx = _model(), _ctx()

    def noisy_trainer(m, epochs):  # a careless loop that writes every weight
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.01)
        seen.append(epochs)
    seen = []
    pruned = compress(model, MagnitudePruneConfig(sparsity=0.6, finetune_epochs=2, trainer=noisy_trainer), ctx)
    assert seen == [2]
    assert _zero_share(prunable_weights(pruned).values()) == pytest.approx(0.6, abs=0.002)
    assert describe(MagnitudePruneConfig(trainer=noisy_trainer))["trainer"].endswith("noisy_trainer")


def test_builtin_finetuning_keeps_zeros_and_changes_the_rest():
    model, ctx = _model(), _ctx()
    one_shot = compress(model, MagnitudePruneConfig(sparsity=0.6), ctx)
    tuned = compress(model, MagnitudePruneConfig(sparsity=0.6, finetune_epochs=2), ctx)
    a, b = prunable_weights(one_shot), prunable_weights(tuned)
    assert all(torch.equal(a[n] == 0, b[n] == 0) for n in a)
    assert any(not torch.equal(a[n], b[n]) for n in a)


def test_finetuning_without_labels_distils_from_the_unpruned_model():
    model, ctx = _model(), _ctx()
    ctx.labels = None
    x = torch.from_numpy(ctx.calibration)
    one_shot = compress(model, MagnitudePruneConfig(sparsity=0.8), ctx)
    tuned = compress(model, MagnitudePruneConfig(sparsity=0.8, finetune_epochs=5, lr=3e-3), ctx)
    with torch.no_grad():
        err = [nn.functional.mse_loss(m(x), model(x)).item() for m in (one_shot, tuned)]
    assert err[1] < err[0]


def test_cubic_schedule_follows_zhu_and_gupta():
    config = GradualPruneConfig(final_sparsity=0.8, initial_sparsity=0.0, epochs=10, prune_steps=4, end_fraction=0.8)
    schedule = cubic_schedule(config)
    epochs, sparsities = zip(*schedule)
    assert list(epochs) == [2, 4, 6, 8]
    expected = [0.8 * (1 - (1 - k / 4) ** 3) for k in range(1, 5)]
    assert list(sparsities) == pytest.approx(expected)
    gains = np.diff((0.0, *sparsities))
    assert all(gains[i] > gains[i + 1] for i in range(len(gains) - 1)), "prunes fast first, then slowly"


def test_gradual_pruning_reaches_the_final_sparsity():
    calls = []
    config = GradualPruneConfig(final_sparsity=0.75, epochs=6, prune_steps=3,
                                trainer=lambda m, epochs: calls.append(
                                    (epochs, _zero_share(prunable_weights(m).values()))))
    pruned = compress(_model(), config, _ctx())
    assert _zero_share(prunable_weights(pruned).values()) == pytest.approx(0.75, abs=0.002)
    assert sum(e for e, _ in calls) == 6
    shares = [s for _, s in calls]
    assert shares == sorted(shares) and shares[0] < 0.75 and shares[-1] == pytest.approx(0.75, abs=0.002)


def test_bad_settings_are_input_errors():
    for make in (lambda: MagnitudePruneConfig(sparsity=1.0), lambda: MagnitudePruneConfig(scope="row"),
                 lambda: NMSparsityConfig(n=4, m=4), lambda: GradualPruneConfig(final_sparsity=0.1,
                                                                                initial_sparsity=0.2),
                 lambda: MagnitudePruneConfig(storage="zip")):
        with pytest.raises(InputError):
            make()
    with pytest.raises(InputError, match="multiple of 4"):
        compress(nn.Sequential(nn.Conv2d(1, 3, 3)).eval(), NMSparsityConfig(), CompressionContext((torch.rand(1, 1, 4, 4),)))



@pytest.mark.parametrize("make, message", [
    (lambda: MagnitudePruneConfig(scope="row"), "prune-magnitude: scope must be one of 'global', 'layer', got 'row'"),
    (lambda: NMSparsityConfig(storage="zip"), "prune-nm: storage must be one of 'sparse', 'dense', got 'zip'"),
    (lambda: MagnitudePruneConfig(sparsity="0.5"), r"prune-magnitude: sparsity must be a number in \(0, 1\)"),
    (lambda: MagnitudePruneConfig(finetune_epochs=True), "prune-magnitude: finetune_epochs must be a whole number"),
    (lambda: NMSparsityConfig(n=2.0), "prune-nm: n must be a whole number >= 1, got 2.0"),
    (lambda: GradualPruneConfig(epochs=True), "prune-gradual: epochs must be a whole number >= 1, got True"),
    (lambda: GradualPruneConfig(end_fraction=0), r"prune-gradual: end_fraction must be a number in \(0, 1\]"),
    (lambda: MagnitudePruneConfig(trainer="loop"), "prune-magnitude: trainer must be a function"),
])
def test_bad_fields_name_the_method_and_field(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_option_strings_become_enum_members():
    config = GradualPruneConfig(scope="layer", storage="dense")
    assert config.scope is Scope.LAYER and config.storage is Storage.DENSE
    assert config == GradualPruneConfig(scope=Scope.LAYER, storage=Storage.DENSE)
    assert config.storage == "dense" and describe(config)["scope"] == "layer"
