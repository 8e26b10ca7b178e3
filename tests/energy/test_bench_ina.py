"""`edgekit bench --meter ina219:1:0x40` on a Linux board, end to end: the agent samples the INA beside the inference
on the board and windows the samples with its own timestamps; the host integrates them into the report's energy.

The board is the emulated Pi (emu-rpi4-x86: a real sshd in a network namespace, the real agent in the Pi-like
.venv-pi), reached through the real CLI. No INA can exist here and the emulated Pi has no I2C bus, so the meter is
tests/energy/board_smbus2.py, planted as `smbus2` in the agent's directory on the board: an INA219 register model
whose current rises while the agent's runtime runs an inference (that file says exactly what it fakes). The known
energy is the busy current step times the time the runtime really ran, which the stand-in records.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.agent import AGENT_FILES, agent_files_digest
from edgekit.compiler import compile_model
from edgekit.emulators.netns_sshd import unavailable_reason
from edgekit.energy.align import windows_from_timestamps
from edgekit.report_view import html_page
from tests.helpers import ROOT, run_cli

IDLE_A, BUSY_A, VOLTS = 0.55, 1.25, 5.1  # a Pi 4's 5 V supply, idle and one core busy
RUNS, WARMUP = 400, 2


@pytest.fixture(scope="module")
def conv_art(tmp_path_factory):
    """A small conv net for the Pi: ~90 M MACs, ~2 ms per inference on this machine (400 make 3-4 windows)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(32, 10)).eval()
    return compile_model(model, (torch.randn(1, 3, 96, 96),), "emu-rpi4-x86",
                         tmp_path_factory.mktemp("pi") / "conv")


def _plant_agent_with_standin_meter(device_root: Path) -> Path:
    """The agent's directory as the installer would make it, with the stand-in smbus2 beside agent.py."""
    agent_dir = device_root / f"agent-{agent_files_digest()[:16]}"
    agent_dir.mkdir(parents=True)
    for path in AGENT_FILES:
        shutil.copyfile(path, agent_dir / path.name)
    shutil.copyfile(Path(__file__).with_name("board_smbus2.py"), agent_dir / "smbus2.py")
    (agent_dir / "standin.json").write_text(json.dumps({"repo": str(ROOT), "idle_a": IDLE_A, "busy_a": BUSY_A,
                                                        "volts": VOLTS}))
    return agent_dir


@pytest.mark.emulator
def test_bench_measures_energy_with_an_ina219_the_agent_samples_on_the_pi(conv_art, tmp_path):
    if unavailable_reason():
        pytest.skip(unavailable_reason())
    if not (ROOT / ".venv-pi").exists():
        pytest.skip(".venv-pi missing: run `make setup`")
    agent_dir = _plant_agent_with_standin_meter(tmp_path / "device")
    result = run_cli("bench", conv_art.path, "--target", "emu-rpi4-x86", "--device-root", tmp_path / "device",
                     "--runs", RUNS, "--warmup", WARMUP, "--meter", "ina219:1:0x40", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    energy = report["energy"]
    assert "energy / inference (measured)" in html_page([report], ["ina219"], "bench")
    assert energy["measured"] is True and energy["inferences"] == RUNS
    assert energy["meter"].startswith("INA219 at 0x40 on /dev/i2c-1 (0.1 ohm shunt, up to 3.2 A)")
    assert 600 < energy["sample_rate_hz"] < 1000  # one sample per ~1.1 ms conversion cycle, as measured
    assert energy["baseline_w"] == pytest.approx(IDLE_A * VOLTS, rel=2e-3)  # before the warm-up: idle

    # The known energy: the current step times the time the runtime ran, per inference, over the windows the
    # timed inferences make (the runtime's own spans, which the agent's timestamps enclose by microseconds).
    spans = json.loads((agent_dir / "truth.json").read_text())["spans"]
    assert len(spans) == WARMUP + RUNS
    timed = spans[WARMUP:]
    windows, counts = windows_from_timestamps(timed, energy["sample_rate_hz"])
    assert len(windows) >= 2 and sum(counts) == RUNS
    step_w = (BUSY_A - IDLE_A) * VOLTS
    known_mj, first = [], 0
    for count in counts:
        busy_s = sum(end - start for start, end in timed[first:first + count])
        known_mj.append(step_w * busy_s / count * 1e3)
        first += count
    assert energy["per_inference_mj"] == pytest.approx(float(np.median(known_mj)), rel=0.01)
    print(f"per inference {energy['per_inference_mj']:.4f} mJ, known {np.median(known_mj):.4f} mJ "
          f"({energy['per_inference_mj'] / np.median(known_mj) - 1:+.3%}); {len(windows)} windows of "
          f"{energy.get('inferences_per_window', 1)}")
