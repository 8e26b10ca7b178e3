"""Exporters, chosen by the target profile's formats and runtimes."""
from . import executorch_pte  # noqa: F401  (registers the exporter)
from . import tflite  # noqa: F401  (registers the .tflite exporter)
from .mcu import exporter as _mcu  # noqa: F401  (registers the MCU C firmware exporter)
from .base import ExportResult, Exporter, exporter_for, register_exporter, registered_exporters

__all__ = ["ExportResult", "Exporter", "exporter_for", "register_exporter", "registered_exporters"]
