"""Weight sparsity: unstructured magnitude pruning (global or per layer), N:M semi-structured (2:4), and gradual
magnitude pruning with the cubic schedule of Zhu & Gupta (2017, "To prune, or not to prune").

Zeroed weights keep the tensors' shapes, so MACs do not change on dense kernels; what shrinks is the stored
model: configs here ask the compiler for sparse storage (`storage = "sparse"`), a bitmask encoding of the model
file that the on-device agent expands on load (see edgekit/sparse_file.py).
"""
from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..errors import InputError
from .base import CompressionContext, register, str_enum
from .fields import check_float, check_int, check_trainer
from .finetune import Trainer, eval_mode, finetune


class Scope(str, enum.Enum):
    """Where the magnitude threshold applies: one over all layers, or one per layer."""

    GLOBAL = "global"
    LAYER = "layer"


class Storage(str, enum.Enum):
    """How the compiler stores the pruned model file: bitmask-sparse or as it is."""

    SPARSE = "sparse"
    DENSE = "dense"


def _check_training(config: MagnitudePruneConfig | NMSparsityConfig | GradualPruneConfig, epochs_field: str,
                    min_epochs: int) -> None:
    """The fields every sparsity config shares: fine-tuning settings, storage and the user's trainer."""
    m = config.method
    check_int(m, epochs_field, getattr(config, epochs_field), min_epochs)
    check_float(m, "lr", config.lr, 0, low_open=True)
    check_int(m, "batch_size", config.batch_size, 1)
    check_trainer(m, config.trainer)
    object.__setattr__(config, "storage", str_enum(Storage, config.storage, f"{m}: storage"))


@dataclass(frozen=True)
class MagnitudePruneConfig:
    """Zero the `sparsity` share of weights with the smallest |w|, over all layers (scope="global") or in each
    layer, then optionally fine-tune with the zeros held fixed."""

    sparsity: float = 0.5
    scope: Scope = Scope.GLOBAL
    finetune_epochs: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    storage: Storage = Storage.SPARSE
    trainer: Trainer | None = field(default=None, compare=False)
    method: ClassVar[str] = "prune-magnitude"

    def __post_init__(self) -> None:
        check_float(self.method, "sparsity", self.sparsity, 0, 1, low_open=True, high_open=True)
        object.__setattr__(self, "scope", str_enum(Scope, self.scope, f"{self.method}: scope"))
        _check_training(self, "finetune_epochs", 0)


@dataclass(frozen=True)
class NMSparsityConfig:
    """N:M semi-structured sparsity: in every group of M consecutive weights along the input-channel (reduction)
    dimension keep the N largest (2:4 is what sparse tensor cores and some NPUs run). Layers whose input channels
    are not a multiple of M (depthwise, a 1-channel stem) are left dense and listed in the step report."""

    n: int = 2
    m: int = 4
    finetune_epochs: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    storage: Storage = Storage.SPARSE
    trainer: Trainer | None = field(default=None, compare=False)
    method: ClassVar[str] = "prune-nm"

    def __post_init__(self) -> None:
        check_int(self.method, "n", self.n, 1)
        check_int(self.method, "m", self.m, 2)
        if not self.n < self.m:
            raise InputError(f"{self.method}: n must be less than m, got {self.n}:{self.m}", "e.g. n = 2, m = 4")
        _check_training(self, "finetune_epochs", 0)


@dataclass(frozen=True)
class GradualPruneConfig:
    """Gradual magnitude pruning: `epochs` of training during which sparsity rises from `initial_sparsity` to
    `final_sparsity` in `prune_steps` steps along s_k = s_f + (s_i - s_f) (1 - k/n)^3, the last step at
    `end_fraction` of the epochs; the remaining epochs recover accuracy at the final sparsity."""

    final_sparsity: float = 0.8
    initial_sparsity: float = 0.0
    epochs: int = 10
    prune_steps: int = 5
    end_fraction: float = 0.7
    scope: Scope = Scope.GLOBAL
    lr: float = 1e-3
    batch_size: int = 64
    storage: Storage = Storage.SPARSE
    trainer: Trainer | None = field(default=None, compare=False)
    method: ClassVar[str] = "prune-gradual"

    def __post_init__(self) -> None:
        m = self.method
        check_float(m, "final_sparsity", self.final_sparsity, 0, 1, low_open=True, high_open=True)
        check_float(m, "initial_sparsity", self.initial_sparsity, 0, 1, high_open=True)
        if not self.initial_sparsity < self.final_sparsity:
            raise InputError(f"{m}: initial_sparsity must be below final_sparsity, got {self.initial_sparsity} "
                             f"and {self.final_sparsity}")
        check_int(m, "prune_steps", self.prune_steps, 1)
        check_float(m, "end_fraction", self.end_fraction, 0, 1, low_open=True)
        object.__setattr__(self, "scope", str_enum(Scope, self.scope, f"{m}: scope"))
        _check_training(self, "epochs", 1)  # the schedule needs an epoch


def cubic_schedule(config: GradualPruneConfig) -> list[tuple[int, float]]:
    """(epoch at whose start to prune, sparsity to reach) for each pruning step, Zhu & Gupta's cubic ramp."""
    s_i, s_f, n = config.initial_sparsity, config.final_sparsity, config.prune_steps
    span = min(config.epochs - 1, round(config.end_fraction * config.epochs)) if config.epochs > 1 else 0
    steps = [(round(k * span / n), s_f + (s_i - s_f) * (1 - k / n) ** 3) for k in range(n + 1)]
    if s_i == 0:
        steps = steps[1:]
    merged: dict[int, float] = {}
    for epoch, s in steps:  # several steps landing on one epoch: the latest (highest) sparsity wins
        merged[epoch] = max(s, merged.get(epoch, 0.0))
    return sorted(merged.items())


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Conv and Linear weights by name; for a model without such modules (an exported graph), every float
    parameter with 2 or more dimensions."""
    found = {f"{name}.weight" if name else "weight": m.weight for name, m in model.named_modules()
             if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and isinstance(m.weight, torch.Tensor)}
    if not found:
        found = {n: p for n, p in model.named_parameters() if p.dim() >= 2 and p.is_floating_point()}
    if not found:
        raise InputError("the model has no weights to prune (no conv/linear layers, no 2-D parameters)")
    return found


class Masks:
    """Keeps pruned weights at zero while training: gradients are masked (a fresh optimizer never moves them)
    and `apply()` re-zeroes them after every update in case an optimizer's state does."""

    def __init__(self, masks: dict[str, tuple[nn.Parameter, torch.Tensor]]) -> None:
        self.masks = masks
        self._hooks = [p.register_hook(lambda g, m=m: g * m) for p, m in masks.values() if p.requires_grad]

    @torch.no_grad()
    def apply(self) -> None:
        for p, m in self.masks.values():
            p.mul_(m)

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def sparsity(self) -> float:
        total = sum(m.numel() for _, m in self.masks.values())
        return 1.0 - sum(int(m.sum()) for _, m in self.masks.values()) / total


def magnitude_masks(weights: dict[str, nn.Parameter], sparsity: float, scope: Scope | str
                    ) -> dict[str, torch.Tensor]:
    """Boolean-as-float masks keeping the largest |w|: one threshold for all (global) or one per layer."""
    with torch.no_grad():
        if scope == Scope.GLOBAL:
            flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
            k = int(sparsity * flat.numel())
            if k == 0:
                return {n: torch.ones_like(w) for n, w in weights.items()}
            threshold = flat.kthvalue(k).values
            return {n: (w.detach().abs() > threshold).to(w.dtype) for n, w in weights.items()}
        return {n: _layer_mask(w, sparsity) for n, w in weights.items()}


def _layer_mask(w: torch.Tensor, sparsity: float) -> torch.Tensor:
    k = int(sparsity * w.numel())
    mask = torch.ones_like(w)
    if k:
        mask.view(-1)[w.detach().abs().flatten().argsort()[:k]] = 0
    return mask


def nm_mask(w: torch.Tensor, n: int, m: int) -> torch.Tensor | None:
    """Keep the n largest |w| of every m consecutive input channels; None when the layer's input channels are
    not a multiple of m. Conv weights (O, I, kh, kw) are grouped along I, as GEMM kernels reduce over it."""
    if w.dim() < 2 or w.shape[1] % m:
        return None
    last = w.detach().movedim(1, -1)  # (O, kh, kw, I): groups of m along I
    groups = last.abs().reshape(-1, m)
    keep = groups.topk(n, dim=1).indices
    mask = torch.zeros_like(groups).scatter_(1, keep, 1.0)
    return mask.reshape(last.shape).movedim(-1, 1).contiguous()


def _masked_finetune(model: nn.Module, masks: Masks, ctx: CompressionContext, epochs: int, lr: float,
                     batch_size: int, trainer: Trainer | None, teacher: nn.Module, what: str) -> nn.Module:
    """Fine-tune with the masks held after every step, then drop the mask hooks, leaving the zeros in the
    weights; returns the model in eval mode."""
    masks.apply()
    model = finetune(model, ctx, epochs, lr=lr, batch_size=batch_size, trainer=trainer, after_step=masks.apply,
                     teacher=teacher, what=what)
    masks.remove()
    masks.apply()
    return eval_mode(model)


def _bind(weights: dict[str, nn.Parameter], masks: dict[str, torch.Tensor]) -> Masks:
    return Masks({n: (weights[n], masks[n]) for n in masks})


@register(MagnitudePruneConfig)
def prune_magnitude(model: nn.Module, config: MagnitudePruneConfig, ctx: CompressionContext) -> nn.Module:
    teacher, model = model, copy.deepcopy(model)
    weights = prunable_weights(model)
    masks = _bind(weights, magnitude_masks(weights, config.sparsity, config.scope))
    return _masked_finetune(model, masks, ctx, config.finetune_epochs, config.lr, config.batch_size,
                            config.trainer, teacher, "fine-tuning (sparse)")


@register(NMSparsityConfig)
def prune_nm(model: nn.Module, config: NMSparsityConfig, ctx: CompressionContext) -> nn.Module:
    teacher, model = model, copy.deepcopy(model)
    weights = prunable_weights(model)
    masks = {name: mask for name, w in weights.items() if (mask := nm_mask(w, config.n, config.m)) is not None}
    if not masks:
        raise InputError(f"no layer has input channels that are a multiple of {config.m}; {config.n}:{config.m} "
                         "sparsity cannot apply")
    bound = _bind(weights, masks)
    return _masked_finetune(model, bound, ctx, config.finetune_epochs, config.lr, config.batch_size,
                            config.trainer, teacher, f"fine-tuning ({config.n}:{config.m})")


@register(GradualPruneConfig)
def prune_gradual(model: nn.Module, config: GradualPruneConfig, ctx: CompressionContext) -> nn.Module:
    teacher, model = model, copy.deepcopy(model)
    weights = prunable_weights(model)
    schedule = cubic_schedule(config)
    bound: Masks | None = None
    epoch = 0
    for i, (start, sparsity) in enumerate(schedule):
        if start > epoch:  # train at the current sparsity up to this pruning step
            model = finetune(model, ctx, start - epoch, lr=config.lr, batch_size=config.batch_size,
                             trainer=config.trainer, after_step=bound.apply if bound else None, teacher=teacher,
                             what=f"gradual pruning (epoch {epoch + 1})")
            epoch = start
        if bound is not None:
            bound.remove()
        bound = _bind(weights, magnitude_masks(weights, sparsity, config.scope))
        bound.apply()
        ctx.progress("gradual pruning steps", i + 1, len(schedule))
    assert bound is not None
    return _masked_finetune(model, bound, ctx, config.epochs - epoch, config.lr, config.batch_size,
                            config.trainer, teacher, "gradual pruning (recovery)")
