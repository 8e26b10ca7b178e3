"""`edgekit bench --meter` end to end, wired as on a desk: a board on a serial port, a PPK2 on its supply with D0 on
its inference pin.

The board is the image built for the B-L475E-IOT01A, byte for byte, under QEMU's model of that board, reached as a
real board is (`--serial-port`, nothing flashed). The meter is the stand-in PPK2 of ppk2_standin.py on a real pty,
wired to the emulated board: the samples it streams carry, on D0 and in their current, the level of the firmware's
inference pin (PA5) as QEMU's STM32L4 GPIO model reports it (its `stm32l4x5_gpio_update_idr` trace). What is faked is
only the meter's analog side: the current is idle or active by the pin's level, so the figure checks the pipeline
(firmware pin -> meter digital input -> ppk2-api -> driver -> windows -> report), not a board's real energy, and its
windows are QEMU's wall-clock speed, not the board's.
"""
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgekit.emulators.qemu import QemuMachine
from edgekit.report_view import html_page
from tests.energy.ppk2_standin import COUNTER_MODULO, SAMPLE_RATE_HZ, StandinPpk2, adc_code
from tests.helpers import run_cli

pytestmark = pytest.mark.emulator

SUPPLY_V, IDLE_A, ACTIVE_A = 3.3, 0.004, 0.030
PIN = 5  # PA5, the profile's inference pin
# QEMU's trace line for a change of GPIOA's input data register, stamped with the host's wall clock (-msg timestamp)
_IDR = re.compile(rb"@(\d+\.\d+):stm32l4x5_gpio_update_idr GPIOA from: 0x[0-9a-f]+ to: 0x([0-9a-f]+)")
# Samples go out this far behind the pin, so every edge before them is in the trace by then (a PPK2's own USB stream
# runs a few ms behind; the driver waits at stop for the samples of the instant it stopped).
LAG_S = 0.03


@dataclass
class PinFollowingPpk2(StandinPpk2):
    """The stand-in PPK2 with D0 on the emulated board's PA5: sample i, at i / 100 kHz of the wall clock from the
    start of measuring, carries the level the trace in `trace_log` gives the pin at that instant."""

    trace_log: Path | None = None

    def _prepare_stream(self) -> None:
        rng = self.waveform.current_range
        self._words = np.array([adc_code(current, rng, self.vdd_mv) | rng << 14 | logic << 24
                                for current, logic in ((IDLE_A, 0), (ACTIVE_A, 1))], dtype=np.uint32)
        self._edges: list[tuple[float, int]] = [(0.0, 0)]  # (wall-clock time, level from then on)
        self._read_to, self._bytes_sent = 0, 0
        self._wall_start = time.time()
        self._started_at = time.monotonic() + LAG_S  # the base class streams what is due since then

    def _read_edges(self) -> None:
        with open(self.trace_log, "rb") as log:
            log.seek(self._read_to)
            new = log.read()
        complete = new[:new.rfind(b"\n") + 1]
        self._read_to += len(complete)
        self._edges += [(float(stamp), int(value, 16) >> PIN & 1) for stamp, value in _IDR.findall(complete)]

    def _sample_bytes(self, first: int, last: int) -> bytes:
        self._read_edges()
        index = np.arange(first, last, dtype=np.int64)
        times = self._wall_start + index / SAMPLE_RATE_HZ
        edge_times = np.array([t for t, _ in self._edges])
        levels = np.array([level for _, level in self._edges])[np.searchsorted(edge_times, times, side="right") - 1]
        counter = (index % COUNTER_MODULO).astype(np.uint32) << 18
        return (self._words[levels] | counter).astype("<u4").tobytes()


def test_bench_measures_energy_with_a_meter_on_the_inference_pin(l475_artifact, tmp_path):
    log = tmp_path / "qemu.log"
    image = l475_artifact / "firmware.bin"
    with QemuMachine("b-l475e-iot01a", image, load_address=0x08000000, memory="2M", limit_s=300, log=log,
                     trace=["stm32l4x5_gpio_update_idr"]) as board, PinFollowingPpk2(trace_log=log) as meter:
        result = run_cli("bench", l475_artifact, "--target", "b-l475e-iot01a", "--serial-port", board.url,
                         "--flash-tool", "none", "--runs", "20", "--warmup", "2",
                         "--meter", f"ppk2:{meter.port}:supply={SUPPLY_V}", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    energy = report["energy"]
    assert "energy / inference (measured)" in html_page([report], ["meter"], "bench")
    assert energy["measured"] is True and energy["inferences"] == 22  # warm-up and timed runs, each windowed
    assert energy["meter"].startswith("ppk2") and energy["sample_rate_hz"] == 100_000
    assert energy["baseline_w"] == pytest.approx(IDLE_A * SUPPLY_V, rel=1e-3)  # idle before the first inference
    # D0 and the current follow one level: each window's energy is the active step times its length
    step_w = (ACTIVE_A - IDLE_A) * SUPPLY_V
    assert energy["per_inference_mj"] == pytest.approx(step_w * energy["window_ms"], rel=2e-3)
    assert energy["average_power_w"] == pytest.approx(ACTIVE_A * SUPPLY_V, rel=2e-3)
