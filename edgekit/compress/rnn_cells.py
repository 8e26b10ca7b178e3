"""`nn.LSTM` and `nn.GRU` as explicit cell loops of Linear / sigmoid / tanh / mul / add / sub, for full-integer
INT8 on LiteRT targets (the .tflite and microcontroller paths).

PT2E sees an `nn.LSTM` as one `aten.lstm` op that no quantizer annotates; litert-torch's converter then unrolls it
into per-step float ops. Rewritten here before capture, with the same weights, every op is one the quantizer
annotates (with `annotate_cell_ops` for what litert-torch's own annotators miss) and the converter emits int8
FULLY_CONNECTED / LOGISTIC / TANH / MUL / ADD / SUB / STRIDED_SLICE / CONCATENATION ops. Each gate has its own
Linear (its own int8 scale); the input projections run once over the whole sequence (one FULLY_CONNECTED per gate
with T rows), the recurrent ones once per step, all steps reading the same weight tensors (the MCU code stores
constants once). A zero initial state (no `hx`) skips the recurrent products of the first step.

Supported: 1 layer, unidirectional, batch_first or not, batched or unbatched inputs, with or without bias, LSTM
with or without proj_size, an optional initial state. Refused in one line: more layers, bidirectional (a layer
kept float with keep_float is left as it is). Dynamic INT8 leaves the modules as they are.
"""
from __future__ import annotations

import copy
import operator
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import UnsupportedError


CAT_INPUTS = 8


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def _check(rnn: nn.RNNBase, name: str) -> None:
    kind = type(rnn).__name__
    if rnn.num_layers != 1 or rnn.bidirectional:
        raise UnsupportedError(f"int8: {kind} '{name}' has {rnn.num_layers} layer(s)"
                               f"{', bidirectional' if rnn.bidirectional else ''}; int8 on this target takes "
                               "1-layer unidirectional LSTM/GRU layers",
                               "stack nn.LSTM/nn.GRU modules of one layer each (reverse the input for the "
                               "backward direction), or keep the layer in float with keep_float")


class _Loop(nn.Module):
    """What LSTM and GRU loops share: the layout of the input and of the state."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.batch_first = rnn.batch_first
        self.hidden_size = rnn.hidden_size
        self.gates = len(rnn.weight_ih_l0) // rnn.hidden_size
        w_ih, w_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
        b_ih = rnn.bias_ih_l0.detach() if rnn.bias else None
        b_hh = rnn.bias_hh_l0.detach() if rnn.bias else None
        H = rnn.hidden_size
        self.x_gates = nn.ModuleList()
        self.h_gates = nn.ModuleList()
        for k in range(self.gates):
            rows = slice(k * H, (k + 1) * H)
            bx, bh = (None, None) if b_ih is None else (b_ih[rows], b_hh[rows])
            bx, bh = self._split_bias(k, bx, bh)
            self.x_gates.append(_linear(w_ih[rows], bx))
            self.h_gates.append(_linear(w_hh[rows], bh))

    def _split_bias(self, k: int, bx: torch.Tensor | None, bh: torch.Tensor | None) -> tuple[Any, Any]:
        return (None if bx is None else bx + bh), None  # summed into the input projection

    def _sequence(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """x as (batch, time, features), and whether it came without a batch dimension."""
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(0 if self.batch_first else 1)
        if not self.batch_first:
            x = x.transpose(0, 1)
        return x, unbatched

    def _output(self, outs: list[torch.Tensor], unbatched: bool) -> torch.Tensor:
        # (batch, time, hidden): concatenations of at most CAT_INPUTS steps each (TFLite Micro's CONCATENATION
        # takes up to 10 inputs), then of those
        parts = [h.unsqueeze(1) for h in outs]
        while len(parts) > 1:
            parts = [torch.cat(parts[i:i + CAT_INPUTS], dim=1) if len(parts[i:i + CAT_INPUTS]) > 1 else parts[i]
                     for i in range(0, len(parts), CAT_INPUTS)]
        out = parts[0]
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out.squeeze(0 if self.batch_first else 1) if unbatched else out

    @staticmethod
    def _state(s: torch.Tensor | None, unbatched: bool) -> torch.Tensor | None:
        """An initial state (1, batch, n) or (1, n) as (batch, n)."""
        if s is None:
            return None
        return s[0].unsqueeze(0) if unbatched else s[0]

    @staticmethod
    def _final(s: torch.Tensor, unbatched: bool) -> torch.Tensor:
        return s if unbatched else s.unsqueeze(0)


class LSTMLoop(_Loop):
    """nn.LSTM (1 layer, unidirectional), gate order i, f, g, o as PyTorch's; c' = f*c + i*g, h' = o*tanh(c'),
    projected by W_hr when proj_size is set. Returns (output, (h_n, c_n)) shaped as nn.LSTM's."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__(lstm)
        self.proj = _linear(lstm.weight_hr_l0.detach(), None) if lstm.proj_size else None

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None) -> Any:
        x, unbatched = self._sequence(x)
        xg = [lin(x) for lin in self.x_gates]  # (batch, time, hidden) per gate
        h, c = (None, None) if hx is None else (self._state(hx[0], unbatched), self._state(hx[1], unbatched))
        outs = []
        for t in range(x.shape[1]):
            pre = [g[:, t] for g in xg]
            if h is not None:
                pre = [p + lin(h) for p, lin in zip(pre, self.h_gates)]
            i, f, g, o = torch.sigmoid(pre[0]), torch.sigmoid(pre[1]), torch.tanh(pre[2]), torch.sigmoid(pre[3])
            c = i * g if c is None else f * c + i * g
            h = o * torch.tanh(c)
            if self.proj is not None:
                h = self.proj(h)
            outs.append(h)
        return self._output(outs, unbatched), (self._final(h, unbatched), self._final(c, unbatched))


class GRULoop(_Loop):
    """nn.GRU (1 layer, unidirectional), gate order r, z, n as PyTorch's: n = tanh(W_in x + b_in + r * (W_hn h +
    b_hn)), h' = (1 - z) * n + z * h, computed as n + z * (h - n). Returns (output, h_n) shaped as nn.GRU's."""

    def _split_bias(self, k: int, bx: torch.Tensor | None, bh: torch.Tensor | None) -> tuple[Any, Any]:
        if k == 2:  # b_hn stays inside r * (...)
            return bx, bh
        return super()._split_bias(k, bx, bh)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> Any:
        x, unbatched = self._sequence(x)
        xg = [lin(x) for lin in self.x_gates]
        h = None if hx is None else self._state(hx, unbatched)
        outs = []
        for t in range(x.shape[1]):
            pre = [g[:, t] for g in xg]
            if h is None:  # zero state: W_h h vanishes, leaving b_hn
                r, z = torch.sigmoid(pre[0]), torch.sigmoid(pre[1])
                hn = self.h_gates[2].bias
                n = torch.tanh(pre[2] if hn is None else pre[2] + r * hn)
                h = n - z * n
            else:
                r = torch.sigmoid(pre[0] + self.h_gates[0](h))
                z = torch.sigmoid(pre[1] + self.h_gates[1](h))
                n = torch.tanh(pre[2] + r * self.h_gates[2](h))
                h = n + z * (h - n)
            outs.append(h)
        return self._output(outs, unbatched), self._final(h, unbatched)


def loop_of(rnn: nn.Module, name: str = "") -> nn.Module:
    """The explicit loop equal to `rnn` (an nn.LSTM or nn.GRU), or UnsupportedError naming why not."""
    if type(rnn) is nn.LSTM:
        _check(rnn, name)
        return LSTMLoop(rnn)
    if type(rnn) is nn.GRU:
        _check(rnn, name)
        return GRULoop(rnn)
    raise UnsupportedError(f"int8: {type(rnn).__name__} '{name}' (only nn.LSTM and nn.GRU are rewritten for int8)")


def rewrite_recurrent(model: nn.Module, keep: Sequence[str] = ()) -> nn.Module:
    """`model` with every nn.LSTM / nn.GRU replaced by its explicit loop (a copy; `model` itself is untouched),
    or `model` when it has none. Modules under a path of `keep` (kept float), nn.RNN and subclasses are left as
    they are."""
    def kept(name: str) -> bool:
        return any(name == k or name.startswith(k + ".") for k in keep)
    names = [name for name, m in model.named_modules() if type(m) in (nn.LSTM, nn.GRU) and not kept(name)]
    if not names:
        return model
    if "" in names:
        return loop_of(model).train(model.training)
    out = copy.deepcopy(model)
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name)
        setattr(parent, attr, loop_of(getattr(parent, attr), name).train(model.training))
    return out


# ---- quantizer annotations for the loops' ops ----------------------------------------------------------------------

_SHAPE_OPS = ("select.int", "slice.Tensor", "unsqueeze.default", "squeeze.dim", "squeeze.dims", "squeeze.default",
              "transpose.int", "view.default", "reshape.default", "expand.default")
# TFLite's fixed output quantization: LOGISTIC int8 scale 1/256 zero point -128; TANH scale 1/128 zero point 0
_FIXED = {"sigmoid.default": (1 / 256, -128), "tanh.default": (1 / 128, 0)}


def in_loop(node: torch.fx.Node) -> bool:
    """Whether `node` is an op of a loop of this module (the annotations here touch no other model's ops)."""
    names = (LSTMLoop.__name__, GRULoop.__name__)
    return any(str(getattr(t, "__name__", t)).rsplit(".", 1)[-1] in names
               for _, t in node.meta.get("nn_module_stack", {}).values())


def restore_sources(graph: torch.fx.GraphModule) -> None:
    """The `source_fn_stack` torch.export (2.13) no longer records, for the mul and cat annotators of litert-torch
    (found by source, like add: see litert_int8.restore_add_sources), on the loops' ops."""
    for node in graph.graph.nodes:
        if node.op != "call_function" or node.meta.get("source_fn_stack") or not in_loop(node):
            continue
        if node.target == torch.ops.aten.mul.Tensor:
            node.meta["source_fn_stack"] = [(node.name, operator.mul)]
        elif node.target == torch.ops.aten.cat.default:
            node.meta["source_fn_stack"] = [(node.name, torch.cat)]


def _output_annotated(node: Any) -> bool:
    a = node.meta.get("quantization_annotation") if isinstance(node, torch.fx.Node) else None
    return a is not None and a._annotated and a.output_qspec is not None


def annotate_cell_ops(graph: torch.fx.GraphModule, config: Any) -> None:
    """After litert-torch's annotators (static config only), on the loops' ops: views and slices share their input's
    quantization, sigmoid / tanh take TFLite's fixed output quantization, and subs are annotated as adds; in graph
    order, so a chain (linear -> select -> sigmoid) is annotated through."""
    from torchao.quantization.pt2e.quantizer import (FixedQParamsQuantizationSpec, QuantizationAnnotation,
                                                     SharedQuantizationSpec)
    if config is None or config.input_activation is None or config.is_dynamic:
        return
    aten = torch.ops.aten

    def target(name: str) -> Any:
        op, overload = name.split(".")
        return getattr(getattr(aten, op), overload)
    shape_ops = {target(n) for n in _SHAPE_OPS}
    fixed = {target(n): q for n, q in _FIXED.items()}
    for node in graph.graph.nodes:
        if node.op != "call_function" or "quantization_annotation" in node.meta or not in_loop(node):
            continue
        src = node.args[0] if node.args else None
        if node.target in shape_ops and _output_annotated(src):
            shared = SharedQuantizationSpec(src)
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={src: shared}, output_qspec=shared, _annotated=True)
        elif node.target in fixed and _output_annotated(src):
            scale, zp = fixed[node.target]
            spec = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=scale, zero_point=zp, quant_min=-128,
                                                quant_max=127, qscheme=torch.per_tensor_affine)
            node.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=spec, _annotated=True)
        elif node.target == aten.sub.Tensor and all(isinstance(a, torch.fx.Node) for a in node.args[:2]):
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={a: config.input_activation for a in node.args[:2]},
                output_qspec=config.output_activation, _annotated=True)
