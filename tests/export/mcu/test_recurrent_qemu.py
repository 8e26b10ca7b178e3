"""A user's LSTM keyword model (`nn.LSTM(10, 32, batch_first=True)` over 12 frames, then Linear) through the real
CLI: `-q int8` rewrites the LSTM as an explicit cell loop (edgekit/compress/rnn_cells.py), litert-torch writes it
as int8 ops, and on the emulated Cortex-M4 every output byte equals the host reference's (TFLite Micro), with the
weights stored once however many steps read them."""
import json

import numpy as np
import pytest

from edgekit.artifact import Artifact
from tests.helpers import run_cli_together

pytestmark = pytest.mark.emulator
TARGET = "emu-cortex-m4"
MODEL = "tests/models/users.py:lstm_keywords"
LSTM_WEIGHTS = 4 * 32 * (10 + 32) + 12 * 32  # W_ih, W_hh and the classifier, int8


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("lstm")
    np.savez(d / "cal.npz", x=np.random.default_rng(0).normal(size=(16, 12, 10)).astype(np.float32))
    (r,) = run_cli_together(["compile", MODEL, "-t", TARGET, "-q", "int8", "--calibration", d / "cal.npz",
                             "-o", d / "art"])
    assert r.returncode == 0, r.stderr[-2000:]
    (r,) = run_cli_together(["bench", d / "art", "-t", TARGET, "--runs", "2", "--eval", d / "cal.npz", "--json"])
    assert r.returncode == 0, r.stderr[-2000:]
    return Artifact.load(d / "art"), json.loads(r.stdout)


def test_lstm_runs_int8_on_the_m4_equal_to_the_host(compiled):
    art, report = compiled
    fw = art.manifest["export"]["firmware"]
    assert {"FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL", "ADD", "CONCATENATION"} <= set(fw["ops"])
    assert art.manifest["model"]["int8_share"]["macs"] == 1.0
    assert fw["weight_bytes"] == LSTM_WEIGHTS  # once, not once per step (12 steps)
    fidelity = report["fidelity"]
    assert fidelity["vs_host"]["max_abs"] == 0.0, fidelity  # the host reference runs TFLite Micro
    assert fidelity["vs_float"]["cosine"] > 0.99, fidelity
    assert report["counters"]["instructions_per_inference"] > fw["macs"]
