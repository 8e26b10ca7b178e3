"""The PPK2 driver through a real pty, pyserial and ppk2-api, against a stand-in PPK2 (tests/energy/ppk2_standin.py)
streaming a known waveform at the real 100 kHz; and its spec parsing."""
from __future__ import annotations

import logging
import time

import numpy as np
import pytest

pytest.importorskip("ppk2_api")

from edgekit.energy import open_meter, opened_meter  # noqa: E402
from edgekit.energy.align import energy_per_inference, windows_from_digital  # noqa: E402
from edgekit.energy.ppk2 import parse_ppk2_spec  # noqa: E402
from edgekit.errors import DeviceError, InputError  # noqa: E402

from .ppk2_standin import AVERAGE_START, SAMPLE_RATE_HZ, StandinPpk2, Waveform  # noqa: E402

SUPPLY_V = 3.3


def capture_all_of(meter, waveform: Waveform):
    """Start, wait until the meter's clock has passed the whole waveform, stop."""
    meter.start()
    deadline = time.monotonic() + waveform.duration_s + 5
    while meter.now() < waveform.duration_s:
        assert time.monotonic() < deadline, "the meter's clock stopped"
        time.sleep(0.01)
    return meter.stop()


def test_energy_per_inference_from_d0_windows_matches_the_known_waveform():
    waveform = Waveform()
    with StandinPpk2(waveform) as ppk2:
        with opened_meter(f"ppk2:{ppk2.port}:supply={SUPPLY_V}") as meter:
            capture = capture_all_of(meter, waveform)
        assert ppk2.mode == "ampere" and ppk2.vdd_mv == 3300 and ppk2.dut_power

    windows = windows_from_digital(capture, bit=0)
    energy = energy_per_inference(capture, windows)
    expected_mj = waveform.energy_per_inference_j(SUPPLY_V) * 1e3
    assert len(windows) == waveform.windows
    assert [round(end - begin, 6) for begin, end in windows] == [waveform.window_s] * waveform.windows
    assert energy["per_inference_mj"] == pytest.approx(expected_mj, rel=0.01)
    assert energy["baseline_w"] == pytest.approx(waveform.idle_a * SUPPLY_V, rel=0.01)
    assert capture.sample_rate_hz == SAMPLE_RATE_HZ and np.all(capture.voltage_v == SUPPLY_V)
    # every sample decodes to one of the two currents: none was cut apart where the stand-in split its writes
    assert set(np.unique(np.round(capture.current_a * 1e4))) == {120, 450}
    # bit i = D i: D5 is held high throughout, D0 only in the windows, the rest low
    assert np.all(capture.digital & 0b0010_0000) and not np.any(capture.digital & 0b1101_1110)


def test_source_mode_sets_the_ppk2_regulator_and_each_capture_starts_at_time_0():
    waveform = Waveform(windows=1, lead_s=0.01, tail_s=0.01)
    # left measuring by an earlier run: its samples must not be taken for the calibration text or a new capture
    with StandinPpk2(waveform, measuring_at_start=True) as ppk2:
        with opened_meter(f"ppk2:{ppk2.port}:source=1800") as meter:
            captures = [capture_all_of(meter, waveform) for _ in range(2)]
        assert ppk2.mode == "source" and ppk2.vdd_mv == 1800 and ppk2.dut_power
    for capture in captures:
        windows = windows_from_digital(capture)
        energy = energy_per_inference(capture, windows)
        assert energy["per_inference_mj"] == pytest.approx(waveform.energy_per_inference_j(1.8) * 1e3, rel=0.01)
        assert windows[0][0] == pytest.approx(waveform.lead_s) and np.all(capture.voltage_v == 1.8)


def test_a_ppk2_that_goes_silent_is_a_device_error_within_the_timeout():
    timeout_s, silent_after_s = 0.3, 0.05
    with StandinPpk2(silent_after_s=silent_after_s) as ppk2:
        with opened_meter(f"ppk2:{ppk2.port}:supply=3.3,timeout={timeout_s}") as meter:
            meter.start()
            started = time.monotonic()
            with pytest.raises(DeviceError, match="sent no samples for 0.3 s"):
                while time.monotonic() - started < 3:
                    meter.now()
                    time.sleep(0.01)
            waited = time.monotonic() - started
            with pytest.raises(DeviceError):
                meter.stop()
    assert silent_after_s + timeout_s <= waited < silent_after_s + timeout_s + 1  # slack for a loaded machine


def test_a_ppk2_unplugged_while_measuring_is_a_device_error_at_once(caplog):
    with StandinPpk2(unplugged_after_s=0.05) as ppk2:
        with opened_meter(f"ppk2:{ppk2.port}:supply=3.3") as meter:
            with pytest.raises(DeviceError, match="reading the PPK2 on .* failed") as error:
                capture_all_of(meter, Waveform())
    assert "\n" not in error.value.one_line()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]  # ppk2-api's stderr noise


def test_a_ppk2_that_does_not_send_its_calibration_is_a_device_error():
    with StandinPpk2(answers_metadata=False) as ppk2:
        started = time.monotonic()
        with pytest.raises(DeviceError, match="did not send its calibration") as error:
            open_meter(f"ppk2:{ppk2.port}:supply=3.3")
        assert time.monotonic() - started < 2
        assert AVERAGE_START not in [command[0] for command in ppk2.commands]
    assert "\n" not in error.value.one_line()


def test_a_port_that_is_not_there_is_a_device_error():
    with pytest.raises(DeviceError, match="cannot open the PPK2 on /dev/no-such-ppk2"):
        open_meter("ppk2:/dev/no-such-ppk2:supply=3.3")


@pytest.mark.parametrize("spec, message", [
    ("ppk2:", "needs its serial port"),
    ("ppk2:supply=3.3", "needs its serial port"),
    ("ppk2:/dev/ttyACM1", "supply voltage is needed"),
    ("ppk2:/dev/ttyACM1:supply=3.3,speed=9", "unknown ppk2 option 'speed'"),
    ("ppk2:/dev/ttyACM1:supply=3.3,source=3.3", "both supply= and source="),
    ("ppk2:/dev/ttyACM1:supply=12", "outside the PPK2's 0.8-5 V"),
    ("ppk2:/dev/ttyACM1:supply=three", "not a number"),
    ("ppk2:/dev/ttyACM1:supply", "supply voltage is needed"),  # no '=': part of the port, so no voltage
    ("ppk2:/dev/ttyACM1:supply=3.3,supply=3.3", "bad ppk2 option"),
    ("ppk2:/dev/ttyACM1:supply=3.3,fast", "bad ppk2 option 'fast'"),
    ("ppk2:/dev/ttyACM1:supply=3.3,timeout=0", "timeout=0 must be between"),
])
def test_a_bad_spec_is_one_input_error_line(spec, message):
    with pytest.raises(InputError, match=message) as error:
        open_meter(spec)
    assert "\n" not in error.value.one_line()


def test_a_pyserial_url_opens_the_ppk2_too():
    waveform = Waveform(windows=1, lead_s=0.01, tail_s=0.01)
    with StandinPpk2(waveform) as ppk2:
        # spy:// wraps the port and logs its traffic: a URL with ':' and '=' in it, opened by pyserial's URL handler
        with opened_meter(f"ppk2:spy://{ppk2.port}?file=/dev/null:supply=3300") as meter:
            capture = capture_all_of(meter, waveform)
    assert capture.meter == f"ppk2 spy://{ppk2.port}?file=/dev/null"
    energy = energy_per_inference(capture, windows_from_digital(capture))
    assert energy["per_inference_mj"] == pytest.approx(waveform.energy_per_inference_j(3.3) * 1e3, rel=0.01)


def test_spec_options_volts_or_millivolts_and_ports_with_colons():
    by_path = "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0"
    settings = parse_ppk2_spec(f"{by_path}:source=3300,timeout=2")
    assert (settings.port, settings.source_mode, settings.voltage_v, settings.timeout_s) == (by_path, True, 3.3, 2.0)
    settings = parse_ppk2_spec("rfc2217://farm-exporter:4001:supply=3.3")
    assert (settings.port, settings.voltage_v) == ("rfc2217://farm-exporter:4001", 3.3)
    settings = parse_ppk2_spec("COM5:supply=1.8")
    assert (settings.port, settings.source_mode, settings.voltage_mv) == ("COM5", False, 1800)
