"""nn.Embedding on the emulated Cortex-M4 through the real CLI: token ids (int64 in PyTorch, int32 in the .tflite)
go to the firmware as they are, the table is int8 (per tensor, compress/embedding.py; the float lookup litert-torch
writes is made int8 by passes.quantize_lookups) and every output byte equals the host reference's (TFLite Micro
on the same .tflite)."""
import json

import numpy as np
import pytest

from edgekit.artifact import Artifact
from edgekit.export.mcu.passes import tflm_quantize
from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli, run_cli_together

MODELS = "tests/export/mcu/embedding_models.py"
TARGET = "emu-cortex-m4"
VOCAB, T = 64, 16


def test_table_quantization_is_tflite_micros_quantize():
    """float32 division, rounding half away from zero, zero point added, clamped (TFLite Micro's
    AffineQuantize)."""
    scale = np.float32(0.5)
    x = np.array([0.25, -0.25, 0.75, -0.75, 1000.0, -1000.0, 0.0], np.float32)
    assert tflm_quantize(x, scale, 0).tolist() == [1, -1, 2, -2, 127, -128, 0]
    assert tflm_quantize(x, scale, -3).tolist() == [-2, -4, -1, -5, 127, -128, -3]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("embedding")
    rng = np.random.default_rng(0)
    np.savez(d / "cal.npz", ids=rng.integers(0, VOCAB, (32, T)).astype(np.int64))
    np.savez(d / "eval.npz", ids=rng.integers(0, VOCAB, (20, T)).astype(np.int64), y=rng.integers(0, 4, 20))
    names = ("keyword_conv", "keyword_mean")
    results = run_cli_together(*[["compile", f"{MODELS}:{name}", "-t", TARGET, "-q", "int8", "--calibration",
                                  d / "cal.npz", "-o", d / name] for name in names])
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    results = run_cli_together(*[["bench", d / name, "-t", TARGET, "--runs", "2", "--eval", d / "eval.npz",
                                  "--json"] for name in names])
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    return {name: (Artifact.load(d / name), json.loads(r.stdout)) for name, r in zip(names, results)}


@pytest.mark.emulator
@pytest.mark.parametrize("name", ["keyword_conv", "keyword_mean"])
def test_embedding_model_runs_on_the_m4_equal_to_the_host(compiled, name):
    art, report = compiled[name]
    fw = art.manifest["export"]["firmware"]
    assert "EMBEDDING_LOOKUP" in fw["ops"]
    assert [(t["dtype"], t["scale"], t["bytes"]) for t in fw["inputs"]] == [("int32", None, 4 * T)]
    calls = json.loads((art.path / "kernel_calls.json").read_text())["calls"]
    assert calls[0]["op"] == "EMBEDDING_LOOKUP" and "QUANTIZE" not in {c["op"] for c in calls}  # int8 rows copied
    assert f"static const int8_t op1_values[{VOCAB * 16}]" in (art.path / "model.c").read_text()  # the int8 table
    fidelity = report["fidelity"]
    assert fidelity["vs_host"]["max_abs"] == 0.0, fidelity  # TFLite Micro on the same .tflite
    assert fidelity["vs_float"]["cosine"] > 0.99, fidelity
    assert report["accuracy"]["samples"] == 20


def test_ids_used_as_numbers_are_refused_naming_the_op(tmp_path):
    np.savez(tmp_path / "cal.npz", ids=np.random.default_rng(0).integers(0, VOCAB, (8, T)))
    result = run_cli("compile", f"{MODELS}:ids_as_numbers", "-t", TARGET, "-q", "int8",
                     "--calibration", tmp_path / "cal.npz", "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "CAST")
