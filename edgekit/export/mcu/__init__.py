"""The microcontroller path: an INT8 .tflite compiled to C (weights in flash, one static arena planned on the host),
built with arm-none-eabi-gcc into firmware that speaks a framed serial protocol (firmware/, edgekit/session/)."""
from .codegen import GeneratedModel, ModelPlan, emit_c, generate, plan_model
from .graph import Graph, load_graph

__all__ = ["GeneratedModel", "Graph", "ModelPlan", "emit_c", "generate", "load_graph", "plan_model"]
