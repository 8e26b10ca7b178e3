"""`edgekit compile`: one-line errors for bad input, nothing written."""
import json

import numpy as np
import pytest
import torch

from edgekit.models.digits import DigitsCNN
from tests.cli.helpers import assert_one_line_error
from tests.helpers import ROOT, run_cli


def test_missing_model_file(tmp_path):
    assert_one_line_error(run_cli("compile", tmp_path / "nope.pt2", "--target", "emu-phone", "-o", tmp_path / "o"),
                          1, "model file not found")


def test_corrupt_pt2(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"garbage")
    assert_one_line_error(run_cli("compile", bad, "--target", "emu-phone", "-o", tmp_path / "o"), 1, "cannot read")
    assert not (tmp_path / "o").exists()


@pytest.fixture
def untrained_digits(tmp_path) -> str:
    """The digits CNN as a factory that does not train it (examples/digits_cnn.py's does, for seconds): refusals
    that come once the model is built need no trained weights."""
    (tmp_path / "digits.py").write_text("import torch\nfrom edgekit.models.digits import DigitsCNN\n\n\n"
                                        "def build():\n    return DigitsCNN().eval(), (torch.zeros(1, 1, 8, 8),)\n")
    return f"{tmp_path / 'digits.py'}:build"


def test_int8_without_calibration(tmp_path, untrained_digits):
    assert_one_line_error(run_cli("compile", untrained_digits, "-t", "emu-phone",
                                  "-q", "int8", "-o", tmp_path / "o"), 1, "needs calibration data")


def test_calibration_of_wrong_shape(tmp_path, untrained_digits):
    np.savez(tmp_path / "cal.npz", x=np.zeros((4, 1, 9, 9), np.float32))
    result = run_cli("compile", untrained_digits, "-t", "emu-phone", "-q", "int8",
                     "--calibration", tmp_path / "cal.npz", "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "calibration data has samples of shape (1, 9, 9)")
    assert not (tmp_path / "o").exists()


def test_calibration_without_x(tmp_path, untrained_digits):
    np.savez(tmp_path / "cal.npz", images=np.zeros((4, 1, 8, 8), np.float32))
    result = run_cli("compile", untrained_digits, "-t", "emu-phone", "-q", "int8",
                     "--calibration", tmp_path / "cal.npz", "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "has arrays images; the model's inputs are x")


def test_target_without_an_exporter(tmp_path):
    from tests.test_profiles import GOOD
    (tmp_path / "onnx-box.toml").write_text(GOOD.format(name="onnx-box").replace('"c-firmware"', '"onnx"'))
    torch.export.save(torch.export.export(DigitsCNN().eval(), (torch.zeros(1, 1, 8, 8),)), tmp_path / "m.pt2")
    result = run_cli("compile", tmp_path / "m.pt2", "-t", "onnx-box", "-o", tmp_path / "o",
                     env={"EDGEKIT_TARGETS_PATH": str(tmp_path)})
    assert_one_line_error(result, 1, "no exporter supports target 'onnx-box'")


@pytest.mark.runtime
def test_float_io_gives_an_int8_tflite_with_float_boundary(tmp_path, digits_npz):
    train, _ = digits_npz
    result = run_cli("compile", "examples/digits_cnn.py:build_quick", "-t", "rpi4", "-q", "int8", "--calibration",
                     train, "--float-io", "-o", tmp_path / "a", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    export = json.loads(result.stdout)["export"]
    assert export["int8"] and export["int8_io"] is False
    assert export["inputs"][0]["dtype"] == "float32" and export["operators"]["QUANTIZE"] >= 1


@pytest.mark.parametrize("model,option,text", [
    ("{tmp}/linear.py:build", ["--prompt-len", "8"], "--prompt-len is for cached decoders; this model is not one"),
    ("edgekit/models/llama.py:build_tiny", ["--float-io"], "--float-io does not apply to a cached decoder"),
])
def test_options_that_do_nothing_for_the_model_are_refused(tmp_path, model, option, text):
    """In-process (the refusal comes right after the model is built): an option that would be ignored is refused."""
    from click.testing import CliRunner
    from edgekit.cli import cli
    from edgekit.errors import InputError
    (tmp_path / "linear.py").write_text("import torch\n\n\ndef build():\n"
                                        "    return torch.nn.Linear(4, 2).eval(), (torch.zeros(1, 4),)\n")
    result = CliRunner().invoke(cli, ["compile", model.format(tmp=tmp_path), "-t", "emu-phone", *option,
                                      "-o", str(tmp_path / "o")])
    assert isinstance(result.exception, InputError) and text in result.exception.one_line(), result.output
    assert not (tmp_path / "o").exists()


def test_a_file_the_device_runtime_cannot_load_is_refused(tmp_path):
    """int8-dynamic-token (a torchao module, for .pte) converts to a .tflite holding STABLEHLO_CUSTOM_CALL, which
    the Pi's LiteRT has no kernel for: compile loads the file with that runtime and refuses it, writing nothing."""
    (tmp_path / "recipe.toml").write_text('[[step]]\nmethod = "int8-dynamic-token"\n')
    out = tmp_path / "out"
    result = run_cli("compile", f"{ROOT}/tests/models/users.py:tiny_embedding", "-t", "emu-rpi4-x86",
                     "--recipe", tmp_path / "recipe.toml", "-o", out)
    assert_one_line_error(result, 1, "the device's runtime (ai-edge-litert 2.3.0) has no kernel for "
                                     "STABLEHLO_CUSTOM_CALL")
    assert not out.exists()


def test_integer_index_arithmetic_survives_int8_on_the_phone(tmp_path):
    """XNNPACK's quantizer made `ids * 2 + 1` float (as in `transformers`' mask indices): exit 70 before."""
    np.savez(tmp_path / "ids.npz", x=np.random.default_rng(0).integers(0, 31, (32, 6)))
    result = run_cli("compile", f"{ROOT}/tests/models/users.py:shifted_ids", "-t", "emu-phone", "-q", "int8",
                     "--calibration", tmp_path / "ids.npz", "-o", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["numerics"]["cosine_vs_fp32"] > 0.99
