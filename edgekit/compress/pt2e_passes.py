"""Passes over an exported graph before PT2E's prepare, where a quantizer would otherwise misread it."""
from __future__ import annotations

from typing import Any, Sequence

import torch


def integer_scalars_as_constants(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Give the Python-number operands of integer adds and multiplies a constant of the node's own dtype.
    XNNPACK's quantizer turns every scalar of aten.add/mul into a float32 tensor before annotating
    (_convert_scalars_to_attrs), integer arithmetic included: `transformers`' attention masks compute indices as
    `arange(n) + offset`, which then became float and failed as indices during calibration."""
    aten = torch.ops.aten
    for node in list(graph.graph.nodes):
        value = node.meta.get("val")
        if node.op != "call_function" or node.target not in (aten.add.Tensor, aten.mul.Tensor) \
                or not isinstance(value, torch.Tensor) or value.dtype.is_floating_point:
            continue
        args = list(node.args)
        for i, arg in enumerate(args):
            if isinstance(arg, (bool, int)):
                name = f"_edgekit_integer_{node.name}_{i}"
                constant = torch.tensor(arg, dtype=value.dtype)
                graph.register_buffer(name, constant)
                with graph.graph.inserting_before(node):
                    args[i] = graph.graph.get_attr(name)
                args[i].meta["val"] = (value.fake_mode.from_tensor(constant, static_shapes=True)
                                       if getattr(value, "fake_mode", None) else constant)
        node.args = tuple(args)
    graph.recompile()
    return graph


def shared_specs_after_their_roots() -> None:
    """Make torchao's prepare meet every sharing group at a spec of its own before a spec that shares it.

    torchao 0.18 (`prepare._get_obs_or_fq_map`) builds each group's observer from the first member it iterates, in
    graph order. When that member's spec is a SharedQuantizationSpec naming a node later in the graph, it fails with
    "please make sure only refer to edge or node that has observer/fake_quant inserted: 'relu_3' not in": a U-Net,
    whose decoder's concatenation shares its scale with an encoder ReLU, stopped there and fell back to
    ai-edge-quantizer (where mixed precision has no modules to keep). Creating the observers of plain specs first,
    then shared, then derived (a bias, from its input and weight) gives every group the observer it would have had
    in a favourable order; installed once, for the whole process."""
    from torchao.quantization.pt2e import prepare
    from torchao.quantization.pt2e.quantizer import DerivedQuantizationSpec, SharedQuantizationSpec

    original = prepare._get_obs_or_fq_map
    if getattr(original, "_edgekit_ordered", False):
        return

    def rank(qspec: object) -> int:
        return 2 if isinstance(qspec, DerivedQuantizationSpec) else 1 if isinstance(qspec, SharedQuantizationSpec) \
            else 0

    def ordered(group_ids: dict, qspecs: dict, is_qat: bool) -> dict:
        by_rank = dict(sorted(qspecs.items(), key=lambda item: rank(item[1])))  # stable: graph order within a rank
        return original(group_ids, by_rank, is_qat)

    ordered._edgekit_ordered = True  # type: ignore[attr-defined]
    prepare._get_obs_or_fq_map = ordered


OP_PREFIX = "op:"  # keep_float's names of op kinds ("op:add"), beside module paths
FLOAT_OPS = ("add", "sub", "mul", "cat")  # the kinds it can name: both quantizers give them int8 outputs


def float_ops(names: Sequence[str]) -> tuple[str, ...]:
    """The op kinds among keep_float `names` ("op:add" -> "add")."""
    return tuple(n[len(OP_PREFIX):] for n in names if n.startswith(OP_PREFIX))


def op_name(node: torch.fx.Node) -> str:
    """The aten op a node runs, without its overload: "add" for aten.add.Tensor and aten.add_.Tensor."""
    name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
    return name.rstrip("_")


def unannotate(graph: torch.fx.GraphModule, modules: Sequence[str] = (), ops: Sequence[str] = ()) -> None:
    """Clear the quantization annotations of every node inside `modules` (qualified paths) and of every node running
    one of `ops` (aten op names, e.g. "add": the model's own ops outside any module too), so they stay float.
    litert-torch's module-name filter reads the module stack's keys in dynamo's old form ("L__self___fc2"), which
    torch.export no longer writes, so its global config annotates modules set to None as well; neither quantizer
    can skip an op kind everywhere."""
    if not modules and not ops:
        return
    kept, kinds = set(modules), set(ops)
    floated = set()
    for node in graph.graph.nodes:
        paths = {path for path, _ in node.meta.get("nn_module_stack", {}).values()}
        if paths & kept or (node.op == "call_function" and op_name(node) in kinds):
            node.meta.pop("quantization_annotation", None)
            floated.add(node)
    # A neighbour whose spec shares or derives its scale from a float node (an add or concatenation sharing with
    # the kept conv's output, a bias derived from its input edge) would send torchao's prepare to an observer that
    # is no longer there (KeyError 'conv2d_1': MobileNetV2's Pi search then fell back to ai-edge-quantizer, which
    # has no modules to keep): it stays float too, and so on until no spec names a float node.
    while True:
        more = [n for n in graph.graph.nodes if "quantization_annotation" in n.meta
                and _referenced_nodes(n.meta["quantization_annotation"]) & floated]
        if not more:
            return
        for node in more:
            node.meta.pop("quantization_annotation")
            floated.add(node)


def _referenced_nodes(annotation: Any) -> set:
    """The nodes whose observers an annotation's shared or derived specs use: a node (its output) or, for an edge
    (producer, consumer), the consumer that annotates it."""
    from torchao.quantization.pt2e.quantizer import DerivedQuantizationSpec, SharedQuantizationSpec
    specs = [*annotation.input_qspec_map.values(), annotation.output_qspec]
    found = set()
    for spec in specs:
        if isinstance(spec, SharedQuantizationSpec):
            targets = [spec.edge_or_node]
        elif isinstance(spec, DerivedQuantizationSpec):
            targets = list(spec.derived_from)
        else:
            continue
        found |= {t[1] if isinstance(t, tuple) else t for t in targets}
    return found
