"""Which layers INT8 hurts most: each layer quantized alone, the rest float, and the output's loss measured.

The float graph (exported, batch norm folded into the convolutions as the quantizers fold it) gets taps on the input
of every convolution and linear layer and on its output (after the ReLU or clamp that follows it, where the
quantizers fuse one), and on the output of every add, mul, sigmoid, tanh... inside a module (and of every add, for
the candidate "op:add": every add of the model, its own forward's too); a first pass records
each tap's range on the calibration inputs. Then, layer by layer, that layer's weights are rounded to int8 per
output channel and its taps to int8 over their recorded ranges (what PT2E's quantizers do, with min-max ranges), and
`1 - cosine` of the model's first output against the float one is that layer's sensitivity. One forward pass per
layer and sample, no quantization round: this is the ranking the mixed-precision search (mixed.py) keeps layers
float in, the way TensorRT's and AIMET's per-layer sensitivity analyses rank them. Errors of separate layers roughly
add up at the output, so the ranking also predicts how many layers a cosine target needs.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .finetune import eval_mode
from .pt2e_passes import OP_PREFIX, op_name

_aten = torch.ops.aten
WEIGHTED_OPS = {_aten.conv1d.default, _aten.conv2d.default, _aten.conv3d.default, _aten.linear.default,
                _aten.conv_transpose1d.default, _aten.conv_transpose2d.input, _aten.conv_transpose3d.input}
# Ops without weights that the quantizers give an int8 output (XNNPACK's and LiteRT's, the latter with the recurrent
# cells' annotations of rnn_cells.py): their own rounding counts for the module that runs them (an LSTM's gates).
ELEMENTWISE_OPS = {_aten.add.Tensor, _aten.add_.Tensor, _aten.sub.Tensor, _aten.mul.Tensor, _aten.mul_.Tensor,
                   _aten.cat.default, _aten.sigmoid.default, _aten.tanh.default, _aten.hardswish.default,
                   _aten.hardsigmoid.default}
# Op kinds also ranked as one candidate each, every such op of the model together (keep_float "op:add"), the model's
# own outside any module too: a transformer's residual stream runs through its adds (the zoo's DeiT-tiny: 0.945
# all-INT8, 0.999 with its adds float and every Linear int8).
GROUPED_OPS = ("add",)
FUSED_ACTIVATIONS = {_aten.relu.default, _aten.relu_.default, _aten.hardtanh.default, _aten.hardtanh_.default,
                     _aten.clamp.default}


class _Tap(torch.nn.Module):
    """Records the range of what passes through it, or rounds it to int8 over that range when on."""

    def __init__(self) -> None:
        super().__init__()
        self.on, self.lo, self.hi = False, 0.0, 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            return x
        if not self.on:
            self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
            return x
        scale = max(self.hi - self.lo, 1e-12) / 255
        zero = round(-self.lo / scale) - 128
        return (torch.clamp(torch.round(x / scale) + zero, -128, 127) - zero) * scale


def _int8_per_channel(w: torch.Tensor) -> torch.Tensor:
    scale = w.detach().reshape(w.shape[0], -1).abs().amax(1).clamp_min(1e-12) / 127
    scale = scale.reshape(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


def _module_of(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack.values()))[0] if stack else ""


def first_outputs(model: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, ...]]) -> np.ndarray:
    """The model's first output (outputs.first_output) on each batch, flattened and concatenated."""
    from .outputs import first_output
    with torch.no_grad():
        return np.concatenate([first_output(model(*batch)).float().numpy().ravel() for batch in batches])


def rank_layers(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...],
                batches: Sequence[tuple[torch.Tensor, ...]]) -> list[tuple[str, float]]:
    """[(module path, sensitivity)] for every module that runs a convolution, a linear layer or an elementwise op
    with an int8 output, and ("op:add", sensitivity) for every GROUPED_OPS kind the model runs, most sensitive
    first: the output's `1 - cosine` against FP32 when that module's own ops (its children's not), or every op of
    that kind, alone are INT8."""
    from torchao.quantization.pt2e.utils import _fuse_conv_bn_

    from ..measure.stats import agreement
    graph = torch.export.export(eval_mode(model), example_inputs).module()
    _fuse_conv_bn_(graph)
    taps: dict[str, list[_Tap]] = {}
    weights: dict[str, list[str]] = {}

    def add_tap(node: torch.fx.Node, *keys: str, only_for: torch.fx.Node | None = None) -> None:
        """A tap after `node`, on all its uses or on `only_for`'s alone, switched on with each of `keys`."""
        tap = _Tap()
        name = f"_edgekit_tap{sum(map(len, taps.values()))}"
        graph.add_submodule(name, tap)
        with graph.graph.inserting_after(node):
            tapped = graph.graph.call_module(name, (node,))
        if only_for is None:
            node.replace_all_uses_with(tapped, delete_user_cb=lambda user: user is not tapped)
        else:
            only_for.replace_input_with(node, tapped)
        for key in keys:
            taps.setdefault(key, []).append(tap)

    for node in list(graph.graph.nodes):
        if node.op != "call_function":
            continue
        module = _module_of(node)  # "" for the model's own forward: no module to keep float, only its op kind
        if node.target in ELEMENTWISE_OPS and any(isinstance(a, torch.fx.Node) for a in node.args):
            kind = op_name(node)
            keys = [key for key in (module, OP_PREFIX + kind if kind in GROUPED_OPS else "") if key]
            if keys:
                add_tap(node, *keys)
            continue
        if not module:
            continue
        weight = node.args[1] if node.target in WEIGHTED_OPS else None
        if not isinstance(weight, torch.fx.Node) or weight.op != "get_attr":
            continue
        weights.setdefault(module, []).append(weight.target)
        if isinstance(node.args[0], torch.fx.Node):  # the layer's input is quantized for it, whatever made it
            add_tap(node.args[0], module, only_for=node)
        users = list(node.users)
        add_tap(users[0] if len(users) == 1 and users[0].target in FUSED_ACTIVATIONS else node, module)
    graph.recompile()

    with torch.no_grad():
        reference = first_outputs(graph, batches)  # also records the taps' ranges
        ranked = []
        for module in taps:
            saved = {name: _attribute(graph, name).data.clone() for name in weights.get(module, ())}
            for name, w in saved.items():
                _attribute(graph, name).data = _int8_per_channel(w)
            for tap in taps[module]:
                tap.on = True
            got = first_outputs(graph, batches)
            for tap in taps[module]:
                tap.on = False
            for name, w in saved.items():
                _attribute(graph, name).data = w
            ranked.append((module, 1.0 - agreement(got, reference)["cosine"]))
    return sorted(ranked, key=lambda item: -item[1])


def _attribute(graph: torch.nn.Module, name: str) -> torch.Tensor:
    owner, _, attr = name.rpartition(".")
    return getattr(graph.get_submodule(owner), attr)


def layers_to_keep(ranked: Sequence[tuple[str, float]], deficit: float, allowed: float) -> int:
    """How many of the first `ranked` layers to keep float for the output's `1 - cosine` to fall from `deficit`
    (all INT8) to `allowed`, were the layers' losses to add up in proportion to their sensitivities."""
    total = sum(s for _, s in ranked)
    if deficit <= allowed or total <= 0:
        return 0
    left = total
    for k, (_, s) in enumerate(ranked, 1):
        left -= s
        if deficit * left / total <= allowed:
            return k
    return len(ranked)
