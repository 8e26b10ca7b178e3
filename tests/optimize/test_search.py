"""`edgekit optimize` through the real command on the emulated Cortex-M7 (STM32F746): two worker processes share
one SQLite study, every trial is counted once, a latency budget the INT8 baseline breaks is met by a pruned recipe
measured on the device, the report's plots render, and a budget nothing meets exits 4 naming the closest."""
import base64
import io
import json
import re
import shutil

import numpy as np
import pytest

from edgekit.errors import CheckFailed
from tests.cli.helpers import assert_one_line_error
from tests.helpers import ROOT, run_cli

MODEL = "examples/digits_cnn.py:build_quick"
# Between the digits CNN's INT8 estimate on the M7 (2.02 ms with the current DSP kernels) and its pruned INT8's (1.37)
BUDGET_MS = 1.8


@pytest.fixture(scope="module")
def digits_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    import subprocess
    import sys
    subprocess.run([sys.executable, "examples/digits_cnn.py", str(out)], cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.mark.runtime
@pytest.mark.emulator
def test_two_workers_find_a_recipe_the_int8_baseline_does_not_meet(tmp_path, digits_data):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed (make system-deps)")
    out = tmp_path / "opt"
    args = [MODEL, "-t", "emu-cortex-m7", "--calibration", digits_data / "digits_train.npz",
            "--eval", digits_data / "digits_test.npz", "--runs", "3", "--max-drop", "5", "-o", out]
    result = run_cli("optimize", *args, "--max-latency", f"{BUDGET_MS}ms", "--trials", "3", "--workers", "2", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)

    import optuna
    study = optuna.load_study(study_name="edgekit-optimize", storage=f"sqlite:///{out / 'study.db'}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2]  # two processes, each trial counted once
    assert all(t.state.is_finished() for t in study.trials)
    baseline = next(c for c in summary["candidates"] if c["number"] == 0)
    assert baseline["recipe"] == "int8" and any(v.startswith("latency") for v in baseline["violations"])
    chosen = summary["chosen"]
    assert chosen["recipe"].startswith("prune") and chosen["figures"]["latency_ms"] <= BUDGET_MS
    assert chosen["figures"]["latency_basis"].startswith("estimated on stm32f746")
    assert chosen["figures"]["flash_bytes"] <= 1024 * 1024 and chosen["figures"]["ram_bytes"] <= 320 * 1024
    assert (out / "best" / "manifest.json").is_file()

    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing fetched at view time
    import matplotlib.image as mpimg
    images = re.findall(r'<h2>([^<]+)</h2><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)
    assert [t for t, _ in images] == ["Pareto front: accuracy drop vs latency", "Latency distribution per candidate",
                                      "Memory and size against the budgets"]
    for _, b64 in images:
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(b64)), format="png")
        assert pixels.shape[0] > 100 and float(np.std(pixels)) > 0.05  # drawn, not blank

    # The stored figures judged by a budget nothing meets: no device time, exit 4 naming the closest candidate.
    strict = run_cli("optimize", *args, "--max-latency", "0.01ms", "--trials", "0")
    assert_one_line_error(strict, CheckFailed.exit_code, "no candidate meets the budgets; closest: trial")
    assert "latency" in strict.stderr
