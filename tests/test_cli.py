"""Exit codes and one-line errors of the real command."""
import json

import numpy as np
import pytest
import torch

from edgekit.models.digits import DigitsCNN
from tests.helpers import run_cli


def assert_one_line_error(result, code, text):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_targets_list_json():
    result = run_cli("targets", "list", "--json")
    assert result.returncode == 0
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"pixel8", "rpi4", "stm32f746", "emu-phone"} <= names


def test_targets_show_human():
    result = run_cli("targets", "show", "stm32f746")
    assert result.returncode == 0 and "cortex-m7" in result.stdout


def test_unknown_target(tmp_path):
    assert_one_line_error(run_cli("targets", "show", "pixel99"), 1, "unknown target 'pixel99'")


def test_usage_error_exit_2():
    result = run_cli("compile")
    assert result.returncode == 2 and "Missing argument" in result.stderr


def test_missing_model_file(tmp_path):
    assert_one_line_error(run_cli("compile", tmp_path / "nope.pt2", "--target", "emu-phone", "-o", tmp_path / "o"),
                          1, "model file not found")


def test_corrupt_pt2(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"garbage")
    assert_one_line_error(run_cli("compile", bad, "--target", "emu-phone", "-o", tmp_path / "o"), 1, "cannot read")
    assert not (tmp_path / "o").exists()


def test_int8_without_calibration(tmp_path):
    assert_one_line_error(run_cli("compile", "examples/digits_cnn.py:build_quick", "-t", "emu-phone",
                                  "-q", "int8", "-o", tmp_path / "o"), 1, "needs calibration data")


def test_calibration_of_wrong_shape(tmp_path):
    np.savez(tmp_path / "cal.npz", x=np.zeros((4, 1, 9, 9), np.float32))
    result = run_cli("compile", "examples/digits_cnn.py:build_quick", "-t", "emu-phone", "-q", "int8",
                     "--calibration", tmp_path / "cal.npz", "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "calibration data has samples of shape (1, 9, 9)")
    assert not (tmp_path / "o").exists()


def test_calibration_without_x(tmp_path):
    np.savez(tmp_path / "cal.npz", images=np.zeros((4, 1, 8, 8), np.float32))
    result = run_cli("compile", "examples/digits_cnn.py:build_quick", "-t", "emu-phone", "-q", "int8",
                     "--calibration", tmp_path / "cal.npz", "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "has arrays images; the model's inputs are x")


def test_target_without_an_exporter(tmp_path):
    from tests.test_profiles import GOOD
    (tmp_path / "onnx-box.toml").write_text(GOOD.format(name="onnx-box").replace('"c-firmware"', '"onnx"'))
    torch.export.save(torch.export.export(DigitsCNN().eval(), (torch.zeros(1, 1, 8, 8),)), tmp_path / "m.pt2")
    result = run_cli("compile", tmp_path / "m.pt2", "-t", "onnx-box", "-o", tmp_path / "o",
                     env={"EDGEKIT_TARGETS_PATH": str(tmp_path)})
    assert_one_line_error(result, 1, "no exporter supports target 'onnx-box'")


def test_debug_env_shows_traceback(tmp_path):
    result = run_cli("compile", tmp_path / "nope.pt2", "-t", "emu-phone", "-o", tmp_path / "o",
                     env={"EDGEKIT_DEBUG": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_bench_on_non_artifact(tmp_path):
    assert_one_line_error(run_cli("bench", tmp_path, "-t", "emu-phone"), 1, "not an artifact directory")
