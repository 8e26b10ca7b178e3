"""Helpers for the firmware tests (the digits c-firmware artifacts `mcu_artifact` and `l475_artifact` are in
tests/conftest.py)."""
import numpy as np

from edgekit.artifact import Artifact


def quantize_input(art: Artifact, x: np.ndarray) -> np.ndarray:
    from edgekit.export.quant_arith import quantize
    spec = art.manifest["export"]["firmware"]["inputs"][0]
    return quantize(x, "int8", {"scale": spec["scale"], "zero_point": spec["zero_point"]})
