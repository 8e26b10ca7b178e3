"""`.tflite` per-operator profiles: the agent's LiteRT events (edgekit/agent/agent.py, TFLiteModel.profile) mapped
to the modules of the user's PyTorch model through the tensor names litert-torch wrote
(op_profile.module_of_tensor_name).

Each operator event names its .tflite node's output tensor. A node the agent marked `glue` (a layout TRANSPOSE, a
QUANTIZE or RESHAPE at the graph's input or output) and a name no module made map to no module (the report's glue
row). A node whose output took the signature's name (`serving_default_output_0_output`, the model's last layer) is
named by its inputs instead: its weights keep the module stack.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .op_profile import RawProfile, module_of_tensor_name, register_mapper

if TYPE_CHECKING:
    from ..artifact import Artifact


@register_mapper("tflite")
def tflite_rows(artifact: "Artifact", raw: RawProfile) -> list[dict[str, Any]]:
    modules = (artifact.manifest.get("model") or {}).get("modules")
    rows = []
    for event in raw.get("events") or []:
        rows.append({**event, "module": module_of_event(event, modules)})
    return rows


def module_of_event(event: dict[str, Any], modules: dict[str, dict[str, Any]] | None) -> str | None:
    """The module path an event's operator belongs to, None for glue."""
    if event.get("glue"):
        return None
    module = module_of_tensor_name(event.get("tensor") or "", modules)
    if module is None:
        for name in event.get("input_tensors") or []:  # the model's last op: its weights are named after it
            module = module_of_tensor_name(name or "", modules)
            if module is not None:
                break
    return module
