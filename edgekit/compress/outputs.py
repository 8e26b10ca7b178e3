"""A model's outputs as edgekit reads them: any structure, flattened to named tensors.

Models return one tensor, tuples, lists, dicts, `transformers` ModelOutput objects or nested mixes of them. Every
part of edgekit sees the same flat list, in pytree order (torch.export's own): compile names the manifest's
outputs after it, the host references run through it, the compression methods train on its first tensor (the
`logits` / first field), and the exporters convert the model wrapped in `TensorOutputs` (unless it returns flat
tensors already) so that every model file returns exactly these tensors.

Names follow the key path: a dict or ModelOutput key is its key (`logits`, `last_hidden_state`), a top-level tuple
or list index is `output_<i>`, nested parts are joined with '.' (`scores.0`, `hidden_states.1`). A single tensor is
`output_0`. None leaves (a dict's unset entry) are left out; other non-tensors (an int) are refused.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.fx.graph import _PyTreeCodeGen, _PyTreeInfo
from torch.utils._pytree import (GetAttrKey, KeyEntry, MappingKey, SequenceKey, keystr, tree_flatten_with_path,
                                 tree_leaves, tree_structure)

from ..errors import InputError


def named_outputs(out: Any) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor in a model's output, in pytree order; refuses non-tensor leaves."""
    named = []
    for path, leaf in tree_flatten_with_path(out)[0]:
        if leaf is None:
            continue
        name = _output_name(path)
        if not isinstance(leaf, torch.Tensor):
            raise InputError(f"the model's output '{name}' is not a tensor but {type(leaf).__name__} {leaf!r:.40}: "
                             "model files return tensors only", f"return '{name}' as a tensor, or leave it out")
        named.append((name, leaf))
    if not named:
        raise InputError(f"the model returns no tensors (it returned {type(out).__name__})",
                         "return the tensors to run on the device")
    if len({name for name, _ in named}) < len(named):  # keys like "a.0" beside ("a", (x,)): positions stay unique
        return [(f"output_{i}", t) for i, (_, t) in enumerate(named)]
    return named


def output_tensors(out: Any) -> list[torch.Tensor]:
    """Every tensor of a model's output, flattened as `named_outputs` does."""
    return [t for _, t in named_outputs(out)]


def _output_name(path: Sequence[KeyEntry]) -> str:
    if not path:
        return "output_0"
    parts = [_key_name(k) for k in path]
    if isinstance(path[0], SequenceKey):  # a bare index says nothing: output_<i> as for a tuple-returning model
        parts[0] = f"output_{parts[0]}"
    return ".".join(parts)


def _key_name(key: KeyEntry) -> str:
    if isinstance(key, MappingKey):
        return str(key.key)
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, GetAttrKey):  # dataclasses and namedtuples registered by field name
        return key.name
    return keystr([key]).strip("[].")


def all_outputs(out: Any) -> tuple[torch.Tensor, ...]:
    """Every output of a forward pass, as flat tensors."""
    return tuple(output_tensors(out))


def first_output(out: Any) -> torch.Tensor:
    """The first output of a forward pass (the logits / embedding the methods train and compare on): the first
    flattened tensor, i.e. a ModelOutput's first field."""
    return output_tensors(out)[0]


def output_item(out: Any, index: int) -> Any:
    """Item `index` of a layer's tuple/list output (of its tensors, for a dict or ModelOutput); a single output
    stands for any item (e.g. an attention module that returns its map alone)."""
    if isinstance(out, torch.Tensor):
        return out
    items = out if isinstance(out, (tuple, list)) else [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
    return items[index] if len(items) > 1 else items[0]


class TensorOutputs(torch.nn.Module):
    """`model` returning its outputs as a flat tuple of tensors (see the module docstring): what the exporters
    convert, so that every model file returns the tensors the manifest names, in its order."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.training = model.training  # mirrored, not set: a module from torch.export refuses eval()

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(output_tensors(self.model(*inputs)))


def with_tensor_outputs(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor]) -> torch.nn.Module:
    """`model` itself where it returns a tensor or a flat tuple/list of tensors already, else wrapped: a module
    from torch.export (a `.pt2`) as a copy of its graph that returns the flat tuple, anything else in
    `TensorOutputs`."""
    with torch.no_grad():
        out = model(*example_inputs)
    flat = isinstance(out, torch.Tensor) or (isinstance(out, (tuple, list)) and
                                             all(isinstance(t, torch.Tensor) for t in out))
    if flat:
        return model
    if isinstance(model, torch.fx.GraphModule) and isinstance(model.graph._codegen, _PyTreeCodeGen):
        return _flat_graph_module(model)
    return TensorOutputs(model)


def _flat_graph_module(model: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """The exported graph returning its flat outputs (the graph's own output list, in pytree order). Re-exporting
    a wrapper around a graph module records the wrapper as every node's module: the copy keeps each node's
    `nn_module_stack` and stack trace, which the profile's module map reads. Weights are shared, not copied."""
    info = model.graph._codegen.pytree_info
    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(model.graph, {}))
    flat_spec = tree_structure(tuple(range(info.out_spec.num_leaves)))
    graph._codegen = _PyTreeCodeGen(_PyTreeInfo(info.orig_args, info.in_spec, flat_spec))
    flat = torch.fx.GraphModule(model, graph)
    flat._in_spec, flat._out_spec = info.in_spec, flat_spec  # what the generated forward reads
    flat.training = model.training
    return flat
