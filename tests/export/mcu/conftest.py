"""Helpers for the firmware tests (the digits c-firmware artifact `mcu_artifact` is in tests/conftest.py)."""
import numpy as np
import pytest

from edgekit.artifact import Artifact
from tests.helpers import run_cli


@pytest.fixture(scope="session")
def l475_artifact(mcu_artifact, digits_npz):
    """The digits model compiled through the CLI for the real B-L475E-IOT01A (from the session's .pt2), with the
    same model as a C library beside it (`lib/`)."""
    d = mcu_artifact.path.parent
    train_npz, _ = digits_npz
    result = run_cli("compile", d / "digits.pt2", "--target", "b-l475e-iot01a", "--quantize", "int8",
                     "--calibration", train_npz, "-o", d / "l475", "--c-library", d / "l475-lib")
    assert result.returncode == 0, result.stderr
    return d / "l475"


def quantize_input(art: Artifact, x: np.ndarray) -> np.ndarray:
    from edgekit.export.quant_arith import quantize
    spec = art.manifest["export"]["firmware"]["inputs"][0]
    return quantize(x, "int8", {"scale": spec["scale"], "zero_point": spec["zero_point"]})
