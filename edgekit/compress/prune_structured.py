"""Structured (channel/filter) pruning: channels are physically removed, so the model gets fewer MACs.

Couplings between layers (residual adds, concatenations, depthwise groups, flatten into a Linear) are found by
torch-pruning's dependency graph, not tracked by hand. The output layer(s) are never pruned, so the model's
outputs keep their shape.
"""
from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import InputError
from .base import CompressionContext, register, str_enum
from .fields import check_bool, check_float, check_int, check_names, check_trainer
from .finetune import Trainer, finetune, training_data
from .outputs import all_outputs, first_output


class Target(str, enum.Enum):
    """What `ratio` is a share of: the prunable channels, or the model's MACs."""

    CHANNELS = "channels"
    MACS = "macs"


class Importance(str, enum.Enum):
    """How channels are ranked (see StructuredPruneConfig)."""

    L1 = "l1"
    L2 = "l2"
    ACTIVATION_MEAN = "activation-mean"
    ACTIVATION_ZEROS = "activation-zeros"
    TAYLOR = "taylor"


_MAC_ROUNDS = 64  # granularity of the search for a MAC target: each round removes ~1.5% of channels


@dataclass(frozen=True)
class StructuredPruneConfig:
    """Remove `ratio` of the channels (target="channels") or of the MACs (target="macs").

    importance: l1 / l2 (weight magnitude), activation-mean (mean |activation| on calibration data),
    activation-zeros (share of zero activations, APoZ), taylor (|gradient x weight| summed over the calibration
    data; needs labels). `steps` > 1 prunes gradually, fine-tuning after each step; `finetune_epochs` is the
    total, on the calibration data (x, y) or with `trainer(model, epochs)`.
    """

    ratio: float = 0.5
    target: Target = Target.CHANNELS
    importance: Importance = Importance.L1
    global_pruning: bool = False
    steps: int = 1
    finetune_epochs: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    calibration_samples: int = 256
    round_to: int = 1
    max_layer_ratio: float = 0.9
    keep: tuple[str, ...] = ()
    trainer: Trainer | None = field(default=None, compare=False)
    method: ClassVar[str] = "prune-structured"

    def __post_init__(self) -> None:
        m = self.method
        check_float(m, "ratio", self.ratio, 0, 1, low_open=True, high_open=True)
        object.__setattr__(self, "target", str_enum(Target, self.target, f"{m}: target"))
        object.__setattr__(self, "importance", str_enum(Importance, self.importance, f"{m}: importance"))
        check_bool(m, "global_pruning", self.global_pruning)
        for name in ("steps", "batch_size", "calibration_samples", "round_to"):
            check_int(m, name, getattr(self, name), 1)
        check_int(m, "finetune_epochs", self.finetune_epochs, 0)
        check_float(m, "lr", self.lr, 0, low_open=True)
        check_float(m, "max_layer_ratio", self.max_layer_ratio, 0, 1, low_open=True, high_open=True)
        object.__setattr__(self, "keep", check_names(m, "keep", self.keep))
        check_trainer(m, self.trainer)


class ActivationImportance:
    """Channel importance from activations on calibration data: the inputs each conv/linear layer receives,
    reduced per channel to the mean |value| ("mean") or one minus the share of zeros ("zeros", i.e. APoZ)."""

    def __init__(self, kind: str) -> None:
        import torch_pruning as tp
        self.kind = kind
        self._base = tp.importance.GroupMagnitudeImportance()  # reuse its group reduction and normalisation
        self._fn = tp.pruner.function
        self.stats: dict[nn.Module, torch.Tensor] = {}

    @torch.no_grad()
    def collect(self, model: nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> None:
        sums: dict[nn.Module, torch.Tensor] = {}
        counts: dict[nn.Module, int] = {}

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], _out: Any) -> None:
            a = inputs[0]
            dim = 1 if isinstance(module, nn.modules.conv._ConvNd) else a.dim() - 1
            a = a.movedim(dim, -1).reshape(-1, a.shape[dim])
            value = (a != 0).float() if self.kind == "zeros" else a.abs()
            sums[module] = sums.get(module, 0) + value.sum(0)
            counts[module] = counts.get(module, 0) + a.shape[0]

        layers = [m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
        handles = [m.register_forward_hook(hook) for m in layers]
        try:
            model.eval()
            for batch in batches:
                model(*batch)
        finally:
            for h in handles:
                h.remove()
        self.stats = {m: sums[m] / counts[m] for m in sums}

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor | None:
        imps, idxs_all = [], []
        for i, (dep, idxs) in enumerate(group):
            layer = dep.target.module
            if dep.handler not in (self._fn.prune_conv_in_channels, self._fn.prune_linear_in_channels):
                continue
            if layer not in self.stats:
                continue
            imps.append(self.stats[layer][idxs])
            idxs_all.append(group[i].root_idxs)
        if not imps:
            return None
        # Average every consumer's statistics per root channel (a Linear after a flatten sees each channel as
        # several features, all mapping to one root channel).
        n = len(group[0][1])
        total, count = torch.zeros(n), torch.zeros(n)
        for imp, roots in zip(imps, idxs_all):
            roots = torch.as_tensor(roots, dtype=torch.long)
            total.scatter_add_(0, roots, imp.float())
            count.scatter_add_(0, roots, torch.ones_like(imp, dtype=torch.float))
        return self._base._normalize(total / count.clamp(min=1), self._base.normalizer)


def _importance(config: StructuredPruneConfig) -> Any:
    import torch_pruning as tp
    if config.importance in (Importance.L1, Importance.L2):
        return tp.importance.GroupMagnitudeImportance(p=1 if config.importance == Importance.L1 else 2)
    if config.importance == Importance.TAYLOR:
        return tp.importance.GroupTaylorImportance()
    return ActivationImportance("zeros" if config.importance == Importance.ACTIVATION_ZEROS else "mean")


def _output_layers(model: nn.Module, example: tuple[torch.Tensor, ...]) -> list[nn.Module]:
    """Layers whose outputs are the model's outputs, and the last conv/linear run: pruning them would change
    the output shape."""
    order: list[tuple[nn.Module, torch.Tensor]] = []
    handles = [m.register_forward_hook(lambda m, i, o: order.append((m, o)))
               for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    try:
        with torch.no_grad():
            out = model(*example)
    finally:
        for h in handles:
            h.remove()
    outs = all_outputs(out)
    keep = [m for m, o in order if any(o is x for x in outs)]
    if order and order[-1][0] not in keep:
        keep.append(order[-1][0])
    return keep


def _named(model: nn.Module, names: tuple[str, ...]) -> list[nn.Module]:
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise InputError(f"keep names modules the model does not have: {', '.join(missing)}",
                         f"module names look like: {', '.join(list(modules)[1:6])}")
    return [modules[n] for n in names]


def _check_module(model: nn.Module) -> None:
    if isinstance(model, torch.fx.GraphModule) and not any(
            isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) for m in model.modules()):
        raise InputError("structured pruning needs the model's nn.Module layers; this model is an exported graph "
                         "(a .pt2 or an already quantized model)",
                         "give MODEL as file.py:factory and put pruning before int8 in the recipe")


def _taylor_gradients(model: nn.Module, ctx: CompressionContext, samples: int) -> None:
    x, y = training_data(ctx)
    if y is None:
        raise InputError("importance 'taylor' needs labels", "add an array 'y' to the calibration data, or use l1")
    model.zero_grad()
    model.eval()
    n = min(samples, len(x))
    for i in range(0, n, 64):
        out = first_output(model(x[i:min(i + 64, n)]))
        (nn.functional.cross_entropy(out, y[i:min(i + 64, n)], reduction="sum") / n).backward()


def _prepare_scores(imp: Any, model: nn.Module, ctx: CompressionContext, config: StructuredPruneConfig) -> None:
    if isinstance(imp, ActivationImportance):
        imp.collect(model, _sample_batches(ctx, config.calibration_samples))
    elif config.importance == Importance.TAYLOR:
        _taylor_gradients(model, ctx, config.calibration_samples)


def _sample_batches(ctx: CompressionContext, samples: int) -> list[tuple[torch.Tensor, ...]]:
    x, _ = training_data(ctx)  # the eager module takes any batch size: one pass in chunks of 64
    x = x[:samples]
    return [(x[i:i + 64],) for i in range(0, len(x), 64)]


@register(StructuredPruneConfig)
def prune_structured(model: nn.Module, config: StructuredPruneConfig, ctx: CompressionContext) -> nn.Module:
    import torch_pruning as tp
    from ..metrics import count_macs
    _check_module(model)
    model = copy.deepcopy(model).eval()
    example = ctx.example_inputs
    teacher = copy.deepcopy(model)
    ignored = _output_layers(model, example) + _named(model, config.keep)
    imp = _importance(config)
    by_macs = config.target == Target.MACS
    pruner = tp.pruner.MetaPruner(
        model, example, importance=imp, global_pruning=config.global_pruning,
        pruning_ratio=config.max_layer_ratio if by_macs else config.ratio,
        max_pruning_ratio=config.max_layer_ratio, iterative_steps=_MAC_ROUNDS if by_macs else config.steps,
        ignored_layers=ignored, round_to=config.round_to if config.round_to > 1 else None)
    macs0 = count_macs(model, example)
    epochs = _split(config.finetune_epochs, config.steps)
    for step in range(config.steps):
        if by_macs:
            goal = macs0 * (1 - config.ratio * (step + 1) / config.steps)
            while count_macs(model, example) > goal and pruner.current_step < _MAC_ROUNDS:
                _prepare_scores(imp, model, ctx, config)
                pruner.step()
            reached = count_macs(model, example)
            if reached > goal:
                raise InputError(f"pruning stopped at {1 - reached / macs0:.0%} fewer MACs, short of the "
                                 f"{config.ratio:.0%} asked, with at most {config.max_layer_ratio:.0%} of any "
                                 "layer's channels removed", "lower ratio, raise max_layer_ratio or try "
                                 "global_pruning = true")
        else:
            _prepare_scores(imp, model, ctx, config)
            pruner.step()
        model.zero_grad(set_to_none=True)
        ctx.progress("structured pruning", step + 1, config.steps)
        model = finetune(model, ctx, epochs[step], lr=config.lr, batch_size=config.batch_size,
                         trainer=config.trainer, teacher=teacher, what=f"fine-tuning (step {step + 1})")
    for p in model.parameters():
        p.grad = None
    return model.eval()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]

