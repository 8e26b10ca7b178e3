"""The Joulescope driver against a real joulescope v1 JS220 device object whose native driver is a stand-in
(tests/energy/joulescope_standin.py says what is faked and what is real): known per-inference energy recovered from
the IN0 windows within 1%, and every failure as one line."""
from __future__ import annotations

import time

import numpy as np
import pytest

from edgekit.energy import align, joulescope as joulescope_meter, open_meter
from edgekit.errors import DeviceError, InputError
from tests.energy.joulescope_standin import Waveform, standin_js220


def _inferences() -> Waveform:
    # at 100 kHz a 20 ms window holds 2000 samples: its edges cost at most 1/2000 each
    return Waveform.inferences(idle_a=0.050, busy_a=0.300, volts=3.3, lead_s=0.04, window_s=0.020, gap_s=0.010,
                               count=6)


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch):
    """Connect stand-in JS220s (their native driver faked); yields a function that makes one."""
    devices: list = []
    monkeypatch.setattr(joulescope_meter, "_scan_devices", lambda: list(devices))
    monkeypatch.setattr(joulescope_meter, "FIRST_SAMPLES_TIMEOUT_S", 0.3)

    def connect(serial: str = "000415", **options):
        device, driver = standin_js220(_inferences(), serial=serial, **options)
        devices.append(device)
        return driver

    return connect


def test_energy_per_inference_from_in0_within_one_percent(connected) -> None:
    driver = connected()
    meter = open_meter("joulescope")
    meter.start()
    time.sleep(driver.waveform.end_s + 0.02)
    capture = meter.stop()
    meter.close()

    windows = align.windows_from_digital(capture)
    energy = align.energy_per_inference(capture, windows)
    known_mj = driver.waveform.energy_per_inference_j() * 1e3
    assert energy["per_inference_mj"] == pytest.approx(known_mj, rel=0.01)
    assert energy["inferences"] == len(driver.waveform.windows)
    assert [round(b, 4) for b, _ in windows] == [round(b, 4) for b, _ in driver.waveform.windows]
    assert energy["baseline_w"] == pytest.approx(0.050 * 3.3, rel=1e-4)
    assert capture.sample_rate_hz == 100_000 and capture.time_s[1] == pytest.approx(1e-5)
    assert capture.digital is not None and capture.digital.dtype == np.uint8
    assert set(np.unique(capture.digital)) == {0, 1}  # IN0 toggles, IN1 stays low
    # what the driver asked of the device: 100 kHz, IN0/IN1 streamed, closed at the end
    assert ("u/js220/000415/h/fs", 100_000) in driver.published
    assert ("u/js220/000415/s/gpi/0/ctrl", 1) in driver.published
    assert driver.closed


def test_now_runs_on_the_capture_clock(connected) -> None:
    connected()
    meter = open_meter("joulescope:415:fs=50000")
    meter.start()
    time.sleep(0.05)
    at = meter.now()
    capture = meter.stop()
    meter.close()
    assert capture.sample_rate_hz == 50_000
    assert capture.time_s[-1] >= at - 0.001  # everything sampled before now() was collected by stop()


@pytest.mark.parametrize("serials, spec, message", [
    ([], "joulescope", "no Joulescope is connected"),
    (["000415"], "joulescope:000999", "no Joulescope 000999 is connected"),
    (["000415", "000416"], "joulescope", "2 Joulescopes are connected (JS220-000415, JS220-000416)"),
])
def test_finding_the_device(connected, serials: list[str], spec: str, message: str) -> None:
    for serial in serials:
        connected(serial)
    with pytest.raises(DeviceError) as e:
        open_meter(spec)
    assert e.value.one_line().startswith(message)


def test_picking_one_of_several_by_serial(connected) -> None:
    connected("000415")
    chosen = connected("000416")
    open_meter("joulescope:000416").close()
    assert chosen.opened and chosen.closed


@pytest.mark.parametrize("options, message", [
    ({"open_error": RuntimeError("jsdrv_open failed: 5")}, "JS220-000415 failed to open: jsdrv_open failed: 5"),
    ({"stall": True}, "sent no samples within 0.3 s"),              # from start()
    ({"skip_at_s": 0.02}, "at 100 kHz dropped"),                     # from stop(): one USB chunk lost
])
def test_device_failures_are_one_line(connected, options: dict, message: str) -> None:
    connected(**options)
    with pytest.raises(DeviceError) as e:
        meter = open_meter("joulescope")
        meter.start()
        time.sleep(0.05)
        meter.stop()
    assert message in e.value.one_line() and "\n" not in e.value.one_line()


@pytest.mark.parametrize("spec, why", [
    ("joulescope:415:fs=fast", "fs='fast' is not a whole number"),
    ("joulescope:415:416", "'416' is neither a serial number (once) nor fs=HZ"),
    ("joulescope:415:rate=5", "'rate=5' is neither"),
    ("joulescope:fs=123", "cannot sample at 123 Hz"),
])
def test_bad_spec_is_one_input_error(connected, spec: str, why: str) -> None:
    connected()
    with pytest.raises(InputError) as e:
        open_meter(spec)
    assert why in e.value.one_line() and "\n" not in e.value.one_line()
