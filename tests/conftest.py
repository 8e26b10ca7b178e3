"""Shared fixtures: a digits model trained once per session, its data as .npz files, and its c-firmware artifact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.artifact import Artifact
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent


# End-to-end files whose tests compile models through the CLI, seconds to a minute each: 640 of the 1,160 test
# seconds left after the emulator tests (measured with --durations=0, 2026-12-06).
SLOW_FILES = ("test_input_paths.py", "test_e2e_phone.py", "test_pytest_plugin.py", "test_examples.py",
              "cli/test_optimize.py", "test_decoder.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every emulator test, and the end-to-end files above, are slow: `pytest -m "not slow"` is the inner loop."""
    for item in items:
        path = item.path.relative_to(ROOT / "tests").as_posix()
        if item.get_closest_marker("emulator") or path in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def digits():
    from edgekit.models.digits import trained_digits_cnn
    model, split = trained_digits_cnn(epochs=12)
    return model, split


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory, digits):
    _, split = digits
    d = tmp_path_factory.mktemp("data")
    np.savez(d / "train.npz", x=split.x_train, y=split.y_train)
    np.savez(d / "test.npz", x=split.x_test, y=split.y_test)
    return d / "train.npz", d / "test.npz"


@pytest.fixture(scope="session")
def digits_example(digits):
    _, split = digits
    return (torch.from_numpy(split.x_test[:1]),)


@pytest.fixture(scope="session")
def mcu_artifact(tmp_path_factory, digits, digits_example, digits_npz):
    """A digits c-firmware artifact for the emulated Cortex-M4, compiled once through the real CLI (from a .pt2);
    beside it, `lib/`: the same model as a C library (--c-library, tests/export/mcu/test_library.py)."""
    model, _ = digits
    d = tmp_path_factory.mktemp("mcu")
    torch.export.save(torch.export.export(model.eval(), digits_example), d / "digits.pt2")
    train_npz, _ = digits_npz
    result = run_cli("compile", d / "digits.pt2", "--target", "emu-cortex-m4", "--quantize", "int8",
                     "--calibration", train_npz, "-o", d / "art", "--c-library", d / "lib", "--json")
    assert result.returncode == 0, result.stderr
    return Artifact.load(d / "art")


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
