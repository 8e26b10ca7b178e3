"""Users' sensor models on the emulated Cortex-M4 and M7 through the real CLI: a 1-D CNN over accelerometer windows
(Conv1d -> CONV_2D on a 1-row image, global mean over time -> MEAN over the last axis of a rank-3 tensor), a
small U-Net (ConvTranspose2d -> TRANSPOSE_CONV, skip concatenations) and an LSTM keyword model
(`nn.LSTM(10, 32, batch_first=True)` over 12 frames, then Linear: `-q int8` rewrites the LSTM as an explicit cell
loop, edgekit/compress/rnn_cells.py, quantized by ai-edge-quantizer, whose weights are stored once however many
steps read them) compile with
`-q int8` and bench under QEMU with every output byte for byte the host reference's (TFLite Micro). The three
compile side by side and bench side by side: most of each command is single-threaded start-up."""
import json

import numpy as np
import pytest

from edgekit.artifact import Artifact
from tests.helpers import run_cli_together

pytestmark = pytest.mark.emulator
USERS = "tests/models/users.py"
MODELS = {"sensor_cnn1d": ((3, 64), {"MEAN", "CONV_2D"}), "tiny_unet": ((1, 16, 16), {"TRANSPOSE_CONV"}),
          "lstm_keywords": ((12, 10), {"FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL", "ADD"})}
LSTM_WEIGHTS = 4 * 32 * (10 + 32) + 12 * 32  # W_ih, W_hh and the classifier, int8


@pytest.fixture(scope="module", params=["emu-cortex-m4", "emu-cortex-m7"])
def compiled(tmp_path_factory, request):
    """{name: (artifact, the bench report)}: the models compiled, then benched, side by side, on one target."""
    target = request.param
    d = tmp_path_factory.mktemp("sensor")
    rng = np.random.default_rng(0)
    for name, (shape, _) in MODELS.items():
        np.savez(d / f"{name}.npz", x=rng.normal(size=(24, *shape)).astype(np.float32))
    results = run_cli_together(*[["compile", f"{USERS}:{name}", "-t", target, "-q", "int8", "--calibration",
                                  d / f"{name}.npz", "-o", d / name] for name in MODELS])
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    results = run_cli_together(*[["bench", d / name, "-t", target, "--runs", "2", "--eval", d / f"{name}.npz",
                                  "--json"] for name in MODELS])
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    return {name: (Artifact.load(d / name), json.loads(r.stdout)) for name, r in zip(MODELS, results)}


@pytest.mark.parametrize("name", list(MODELS))
def test_sensor_model_runs_on_the_core_equal_to_the_host(compiled, name):
    art, report = compiled[name]
    fw = art.manifest["export"]["firmware"]
    assert MODELS[name][1] <= set(fw["ops"])
    fidelity = report["fidelity"]
    assert fidelity["vs_host"]["max_abs"] == 0.0, fidelity  # the host reference runs TFLite Micro
    assert fidelity["vs_float"]["cosine"] > 0.98, fidelity
    assert report["accuracy"]["samples"] == 24
    assert report["counters"]["instructions_per_inference"] > fw["macs"]


def test_lstm_weights_are_stored_once_and_run_in_int8(compiled):
    art, _ = compiled["lstm_keywords"]
    tflite = art.manifest["export"]["tflite"]
    assert tflite["route"] == "ai-edge-quantizer"  # an LSTM's under auto (export/litert_int8.py LSTM_REASON)
    assert not {"DEQUANTIZE", "QUANTIZE"} & set(tflite["operators"])  # int8 from input to output
    assert art.manifest["export"]["firmware"]["weight_bytes"] == LSTM_WEIGHTS  # once, not once per step (12)
