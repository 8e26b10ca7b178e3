"""What an INT8 compile says about how much of the model is int8, and its MACs, for models the zoo does not have
(through the real CLI, `file.py:factory`)."""
import json

import numpy as np
import pytest

from tests.helpers import run_cli

LSTM_MACS = 12 * 4 * 32 * (10 + 32) + 32 * 12  # 12 steps x 4 gates x hidden x (input + hidden), then the classifier


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "mfcc.npz"
    np.savez(path, x=np.random.default_rng(0).standard_normal((16, 12, 10)).astype(np.float32))
    return path


def test_an_lstm_compiled_int8_says_it_is_mostly_float(tmp_path, frames):
    """XNNPACK's quantizer leaves nn.LSTM in float (LiteRT targets rewrite it into cells they quantize:
    compress/rnn_cells.py): the manifest measures the int8 share, calls the model mixed, counts the LSTM's MACs per
    step and warns on stderr."""
    proc = run_cli("compile", "tests/models/users.py:lstm_keywords", "-t", "emu-phone", "-q", "int8",
                   "--calibration", frames, "-o", tmp_path / "art", "--json")
    assert proc.returncode == 0, proc.stderr
    model = json.loads(proc.stdout)["model"]
    assert model["macs"] == LSTM_MACS and "macs_not_counted" not in model
    assert model["compute_dtype"] == "mixed"
    share = model["int8_share"]
    assert share["macs"] == pytest.approx(32 * 12 / LSTM_MACS, abs=1e-4) and share["weights"] < 0.1
    assert share["float_layers"][0]["layer"] == "lstm"
    assert "warning: only 0.6% of the MACs" in proc.stderr and "lstm" in proc.stderr


def test_int8_dynamic_token_records_its_numerics(tmp_path):
    """Per-token dynamic INT8 (torchao) records its cosine against FP32 like every INT8 compile, and its share."""
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[[step]]\nmethod = "int8-dynamic-token"\n')
    proc = run_cli("compile", "tests/models/users.py:sensor_mlp", "-t", "emu-phone", "--recipe", recipe,
                   "-o", tmp_path / "art", "--json")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert 0.99 < manifest["numerics"]["cosine_vs_fp32"] <= 1.0
    assert manifest["model"]["int8_share"] == {"macs": 1.0, "weights": 1.0, "float_layers": []}
    assert manifest["model"]["compute_dtype"] == "int8"
