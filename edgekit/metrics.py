"""What a model costs, counted on the host: multiply-accumulates and parameters.

MACs come from PyTorch's FLOP formulas (2 FLOPs = 1 MAC) applied to every ATen op one forward pass dispatches,
plus formulas of our own for the fused CPU kernels PyTorch's counter does not know (the LSTM layer, fused
multi-head attention and encoder layers, CPU flash attention). An op that is neither counted nor known to do no
multiply-accumulates is listed as not counted, never silently taken as zero.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import fx
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_flop_count

aten = torch.ops.aten


@dataclass(frozen=True)
class MacCount:
    """One forward pass's multiply-accumulates, and the ops whose MACs are not in `macs` (name -> calls)."""

    macs: int
    not_counted: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.not_counted


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(t.shape)


def _rnn_layer_flops(inp, w_ih, w_hh, *args, out_val=None, **kwargs) -> int:
    """mkldnn_rnn_layer (one direction of one LSTM layer, time-major input [T, B, I]): every step multiplies the
    input and the hidden state by all gates' weights."""
    steps, batch = _shape(inp)[0], _shape(inp)[1]
    gates_hidden = _shape(w_ih)[0]
    return 2 * steps * batch * gates_hidden * (_shape(w_ih)[1] + _shape(w_hh)[1])


def _attention_macs(batch: int, q_len: int, kv_len: int, embed: int) -> int:
    """Q, K, V and output projections plus the two matmuls (Q K^T, scores V) of multi-head attention."""
    projections = batch * (2 * q_len + 2 * kv_len) * embed * embed
    matmuls = 2 * batch * q_len * kv_len * embed
    return projections + matmuls


def _native_mha_flops(query, key, value, embed_dim, *args, out_val=None, **kwargs) -> int:
    batch, q_len = _shape(query)[0], _shape(query)[1]
    return 2 * _attention_macs(batch, q_len, _shape(key)[1], int(embed_dim))


def _encoder_layer_flops(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu,
                        norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
                        *args, out_val=None, **kwargs) -> int:
    """nn.TransformerEncoderLayer's fused inference kernel: attention, then the two feed-forward matmuls."""
    shape = _shape(src)
    batch, length = (shape[0], shape[1]) if len(shape) == 3 else (1, shape[0])
    ffn = _shape(ffn_weight_1)[0]
    return 2 * (_attention_macs(batch, length, length, int(embed_dim)) + 2 * batch * length * int(embed_dim) * ffn)


def _cpu_flash_flops(query, key, value, *args, out_val=None, **kwargs) -> int:
    return sdpa_flop_count(_shape(query), _shape(key), _shape(value))


_OUR_FORMULAS: dict[Any, Callable[..., int]] = {
    aten.mkldnn_rnn_layer: _rnn_layer_flops,
    aten._native_multi_head_attention: _native_mha_flops,
    aten._transformer_encoder_layer_fwd: _encoder_layer_flops,
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_flops,
}

# Ops that move, shape, reduce, normalise or pool data: no multiply-accumulates to count (element-wise ops are
# recognised by their `pointwise` tag, views by their schema).
_NO_MACS = frozenset(name for name in """
    _local_scalar_dense _log_softmax _softmax _to_copy _unsafe_view adaptive_avg_pool1d adaptive_avg_pool2d
    _adaptive_avg_pool2d adaptive_max_pool2d alias all amax amin any arange argmax argmin avg_pool1d avg_pool2d
    cat chunk clone constant_pad_nd contiguous copy copy_ cumsum detach embedding empty empty_like empty_strided
    expand fill fill_ flip full full_like gather index index_put index_put_ index_select lift_fresh lift_fresh_copy
    linalg_vector_norm masked_fill masked_fill_ max max_pool1d max_pool2d max_pool2d_with_indices mean min
    native_batch_norm _native_batch_norm_legit_no_training native_dropout native_group_norm native_layer_norm
    new_empty new_empty_strided new_ones new_zeros ones ones_like pad reflection_pad1d reflection_pad2d repeat
    replication_pad2d roll scalar_tensor scatter select_scatter slice_scatter sort split split_with_sizes stack
    std sum topk unbind unsafe_split upsample_bilinear2d upsample_nearest2d var var_mean where zero_ zeros
    zeros_like hardswish hardswish_ hardsigmoid hardsigmoid_ transpose_ t_ squeeze_ unsqueeze_
    sym_size sym_numel sym_stride sym_storage_offset _assert_tensor_metadata
    """.split())
# PT2E's quantize / dequantize / choose-qparams ops around a quantized model's integer kernels.
_NO_MACS_NAMESPACES = frozenset({"quantized_decomposed", "torchao"})


def _macs_free(func: torch._ops.OpOverload) -> bool:
    namespace, _, name = func._schema.name.partition("::")
    return (namespace in _NO_MACS_NAMESPACES or name in _NO_MACS or torch.Tag.pointwise in func.tags
            or func.is_view)


class MacCounter(TorchDispatchMode):
    """Counts the FLOPs of every op dispatched while it is active (`flops`), and the ops it could not count."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0
        self.not_counted: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in _OUR_FORMULAS:
            self.flops += _OUR_FORMULAS[packet](*args, **kwargs, out_val=out)
        elif packet in flop_registry:
            self.flops += flop_registry[packet](*args, **kwargs, out_val=out)
        elif not _macs_free(func):
            self.not_counted[func._schema.name.removeprefix("aten::")] += 1
        return out


def count_mac_report(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> MacCount:
    """Multiply-accumulates of one forward pass, with the ops that could not be counted."""
    counter = MacCounter()
    with torch.no_grad(), counter:
        model(*example_inputs)
    return MacCount(counter.flops // 2, dict(sorted(counter.not_counted.items())))


def count_macs(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass (see count_mac_report for the ops left out)."""
    return count_mac_report(model, example_inputs).macs


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())


Shapes = dict[fx.Node, tuple[int, ...]]


def macs_per_node(graph_module: fx.GraphModule, example_inputs: tuple[torch.Tensor, ...]
                  ) -> tuple[dict[fx.Node, int], Shapes]:
    """Each node's MACs and output shape, taken while the graph runs on the example inputs."""
    counter = MacCounter()
    macs: dict[fx.Node, int] = {}
    shapes: Shapes = {}

    class Counting(fx.Interpreter):
        def run_node(self, node: fx.Node) -> Any:
            before = counter.flops
            result = super().run_node(node)
            if counter.flops > before:
                macs[node] = (counter.flops - before) // 2
            if isinstance(result, torch.Tensor):
                shapes[node] = tuple(result.shape)
            return result

    with torch.no_grad(), counter:
        Counting(graph_module).run(*example_inputs)
    return macs, shapes
