"""A digits c-firmware artifact for the emulated Cortex-M4, compiled once through the real CLI."""
import numpy as np
import pytest
import torch

from edgekit.artifact import Artifact
from tests.helpers import run_cli


@pytest.fixture(scope="session")
def mcu_artifact(tmp_path_factory, digits, digits_example, digits_npz):
    model, _ = digits
    d = tmp_path_factory.mktemp("mcu")
    torch.export.save(torch.export.export(model.eval(), digits_example), d / "digits.pt2")
    train_npz, _ = digits_npz
    result = run_cli("compile", d / "digits.pt2", "--target", "emu-cortex-m4", "--quantize", "int8",
                     "--calibration", train_npz, "-o", d / "art", "--json")
    assert result.returncode == 0, result.stderr
    return Artifact.load(d / "art")


def quantize_input(art: Artifact, x: np.ndarray) -> np.ndarray:
    from edgekit.export.quant_arith import quantize
    spec = art.manifest["export"]["firmware"]["input"]
    return quantize(x, "int8", {"scale": spec["scale"], "zero_point": spec["zero_point"]})
