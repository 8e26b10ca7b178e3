"""The microcontroller path: an INT8 .tflite compiled to C (weights in flash, one static arena planned on the host),
built with arm-none-eabi-gcc into firmware that speaks a framed serial protocol (firmware/, protocol.py)."""
from .codegen import GeneratedModel, generate
from .graph import Graph, load_graph

__all__ = ["GeneratedModel", "Graph", "generate", "load_graph"]
