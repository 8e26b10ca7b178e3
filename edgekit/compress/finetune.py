"""Fine-tuning after pruning: a built-in loop on the calibration data, or the user's own (a callable).

The built-in loop trains on `ctx.calibration` (x) with cross-entropy on `ctx.labels` (y) when labels are given;
without labels it distils from the model as it was before pruning (mean squared error to its outputs), so
fine-tuning never needs more than the calibration inputs. A user's `Trainer` is called as
`trainer(model, epochs)` and trains the module in place.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from .base import CompressionContext
from .outputs import first_output

Trainer = Callable[[nn.Module, int], None]
AfterStep = Callable[[], None]


def eval_mode(model: nn.Module) -> nn.Module:
    """model.eval(), except for modules from torch.export (a .pt2), which are inference graphs already and
    refuse eval()."""
    try:
        return model.eval()
    except NotImplementedError:
        return model


def is_exported_graph(model: nn.Module) -> bool:
    """A module from torch.export (a .pt2): fixed batch size, no train()/eval()."""
    from torch.export._unlift import _StatefulGraphModule
    return isinstance(model, _StatefulGraphModule)


def lift_linears(model: nn.Module) -> nn.Module:
    """In a module from torch.export (a .pt2), each aten.linear on a constant weight becomes a call of an nn.Linear
    holding the same parameters, so methods that replace or hook nn.Linear modules (INT4, GPTQ) treat the .pt2 as
    they treat the factory's model. Other modules are returned as they are."""
    if not is_exported_graph(model):
        return model
    graph = model.graph
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not torch.ops.aten.linear.default:
            continue
        x, weight, bias = (list(node.args) + [None])[:3]
        if not (isinstance(weight, torch.fx.Node) and weight.op == "get_attr" and weight.target.endswith(".weight")):
            continue
        owner_name = weight.target.removesuffix(".weight")
        owner = model.get_submodule(owner_name)
        w = owner.weight
        b = bias is not None and isinstance(bias, torch.fx.Node) and bias.target == f"{owner_name}.bias"
        if list(owner.children()) or {n for n, _ in owner.named_parameters(recurse=False)} != (
                {"weight", "bias"} if b else {"weight"}) or (bias is not None and not b):
            continue  # shared or unusual parameters: left as a graph call
        linear = nn.Linear(w.shape[1], w.shape[0], bias=b)
        linear.weight = w
        if b:
            linear.bias = owner.bias
        parent, _, child = owner_name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, linear)
        with graph.inserting_before(node):
            call = graph.call_module(owner_name, (x,))
        # No meta copied: re-exporting keeps node meta, and a "source: F.linear" tag on what is now an INT4 module
        # would send XNNPACK's linear-pattern pass after ops that are not a linear's.
        node.replace_all_uses_with(call)
        graph.erase_node(node)
    graph.eliminate_dead_code()
    model.recompile()
    return model


def _train_mode(model: nn.Module) -> None:
    """Training mode; an exported graph (a .pt2) has none: it trains with its inference semantics baked in
    (batch-norm statistics frozen, dropout off), so its fine-tuning differs from the nn.Module's."""
    try:
        model.train()
    except NotImplementedError:
        pass


def training_data(ctx: CompressionContext) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The calibration set as tensors (x, y or None), checked against the example input."""
    example = ctx.example_inputs[0]
    x = ctx.single_input("fine-tuning")
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(example.dtype)
    yt = None if ctx.labels is None else torch.from_numpy(np.asarray(ctx.labels)).long()
    return xt, yt


def finetune(model: nn.Module, ctx: CompressionContext, epochs: int, *, lr: float = 1e-3, batch_size: int = 64,
             trainer: Trainer | None = None, after_step: AfterStep | None = None, teacher: nn.Module | None = None,
             what: str = "fine-tuning", seed: int = 0) -> nn.Module:
    """Train `model` for `epochs` epochs (built-in loop or `trainer`); `after_step` runs after every update
    (pruning uses it to keep removed weights at zero). Returns the trained module, in eval mode."""
    if epochs <= 0:
        return model
    _train_mode(model)
    if trainer is not None:
        trainer(model, epochs)  # in place: masks and pruned layers hold references to this module's parameters
        if after_step:
            after_step()
        return eval_mode(model)
    x, y = training_data(ctx)
    chunk = 256
    if is_exported_graph(model):  # its program guards the batch size it was exported with
        batch_size = chunk = ctx.example_inputs[0].shape[0]
        x = x[:len(x) // batch_size * batch_size]
        y = None if y is None else y[:len(x)]
    if y is None and teacher is None:
        teacher = copy.deepcopy(model)
    targets = y
    if y is None:  # no labels: match the unpruned model's outputs on the same inputs
        with torch.no_grad():
            targets = torch.cat([first_output(eval_mode(teacher)(x[i:i + chunk])) for i in range(0, len(x), chunk)])
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    steps_per_epoch = -(-len(x) // batch_size)
    for epoch in range(epochs):
        for i, idx in enumerate(_batches(len(x), batch_size, gen)):
            opt.zero_grad()
            out = first_output(model(x[idx]))
            loss = (nn.functional.cross_entropy(out, targets[idx]) if y is not None
                    else nn.functional.mse_loss(out, targets[idx]))
            loss.backward()
            opt.step()
            if after_step:
                after_step()
            ctx.progress(what, epoch * steps_per_epoch + i + 1, epochs * steps_per_epoch)
        sched.step()
    return eval_mode(model)


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterable[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    return (perm[i:i + batch_size] for i in range(0, n, batch_size))


# --- checks of config fields ----------------------------------------------------------------------------------
# Shared by the configs' __post_init__ (most of them also configure fine-tuning), so a bad value is refused where
# the config is made, from any front end, in one line naming the method and the field.
