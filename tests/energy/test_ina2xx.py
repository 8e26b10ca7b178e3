"""The INA219/INA260 driver (edgekit/agent/ina_sampler.py, the code the agent runs on the board, through the host's
wrapper edgekit/energy/ina2xx.py) against a stand-in chip on a faked SMBus (tests/energy/ina2xx_standin.py says what is
faked and what is real): known per-inference energy recovered within 1%, bus errors and bad specs as one line."""
from __future__ import annotations

import time

import pytest

from edgekit.agent import ina_sampler
from edgekit.energy import align, open_meter
from edgekit.errors import DeviceError, InputError
from tests.energy.ina2xx_standin import InaStandIn, Waveform


def _inferences() -> Waveform:
    # The INA converts ~900 times a second, so each window edge is known to half a conversion (~0.55 ms): a window
    # must be ~100 ms for its energy to be within 1% (45 ms windows err by up to 1.2% each, and a median of such
    # quantized errors does not average them away). The idle lead is long because align's baseline runs up to the
    # first window's edge: one conversion the thread missed there is interpolated half-busy, which weighs 1/N of
    # inference power in an N-conversion baseline and, times the window, 0.9% of the energy at N = 56 (60 ms).
    # Measured on a loaded 2-core machine: -0.8..0.0% over 40 runs (median -0.2%).
    return Waveform.inferences(idle_a=0.080, busy_a=0.450, volts=5.0, lead_s=0.20, window_s=0.100, gap_s=0.015,
                               count=5)


@pytest.fixture
def chip_on_bus(monkeypatch: pytest.MonkeyPatch):
    """Put a stand-in chip on every bus the driver opens; yields a function that makes it."""
    made: dict[str, InaStandIn] = {}

    def put(chip: str, **kwargs) -> InaStandIn:
        made["chip"] = InaStandIn(chip, **kwargs)
        return made["chip"]

    def bus_factory(device: str) -> InaStandIn:
        if device != "/dev/i2c-1":
            raise FileNotFoundError(2, "No such file or directory", device)
        return made["chip"]

    monkeypatch.setattr(ina_sampler, "_bus_factory", bus_factory)
    return put


def _measure(meter, chip: InaStandIn) -> tuple[dict, list[tuple[float, float]]]:
    """Sample through the waveform as the agent would: its inference windows are known times on now()'s clock."""
    meter.start()
    chip.waveform.origin = time.monotonic() - meter.now()  # the waveform's time 0 is the capture's time 0
    time.sleep(chip.waveform.end_s + 0.01)
    capture = meter.stop()
    meter.close()
    return align.energy_per_inference(capture, chip.waveform.windows), chip.waveform.windows


@pytest.mark.parametrize("spec, chip, shunt", [("ina219:1:0x41:shunt=0.1", "ina219", 0.1),
                                               ("ina219:1:0x40:shunt=0.05:max_a=1", "ina219", 0.05),
                                               ("ina260:1:0x40", "ina260", 0.002)])
def test_energy_per_inference_within_one_percent(chip_on_bus, spec: str, chip: str, shunt: float) -> None:
    address = int(spec.split(":")[2], 0)
    standin = chip_on_bus(chip, waveform=_inferences(), address=address, shunt_ohm=shunt)
    meter = open_meter(spec)
    energy, windows = _measure(meter, standin)

    known_mj = standin.waveform.energy_per_inference_j() * 1e3
    assert energy["per_inference_mj"] == pytest.approx(known_mj, rel=0.01)
    # the idle span ends where the first window begins, so it holds the conversion straddling that edge: up to half
    # a conversion of inference power among ~190 idle ones
    assert energy["baseline_w"] == pytest.approx(0.080 * 5.0, rel=0.03)
    assert energy["inferences"] == len(windows)
    assert 600 < energy["sample_rate_hz"] < 1000  # one sample per ~1.1 ms conversion cycle, as measured


def test_calibration_and_configuration_written_as_the_datasheet_says(chip_on_bus) -> None:
    standin = chip_on_bus("ina219", waveform=_inferences(), shunt_ohm=0.1)
    meter = open_meter("ina219:1:0x40:shunt=0.1:max_a=0.4")
    # SBOS448 8.5.1: Current_LSB = 0.4 / 2^15; Cal = trunc(0.04096 / (Current_LSB * 0.1)) = 33554 (even, bit 0 void)
    assert standin.registers[0x05] == 33554
    # 32 V bus range, PGA /1 (40 mV holds 0.4 A x 0.1 ohm), 12-bit shunt and bus, continuous shunt and bus
    assert standin.registers[0x00] == 0b0010_0001_1001_1111
    assert meter.chip.current_lsb_a == pytest.approx(0.04096 / (33554 * 0.1))
    meter.close()
    assert standin.closed


def test_a_chip_that_stops_answering_is_one_device_error(chip_on_bus) -> None:
    chip_on_bus("ina260", waveform=_inferences(), fail_after_reads=40)
    meter = open_meter("ina260:1:0x40")
    meter.start()
    time.sleep(0.05)
    with pytest.raises(DeviceError) as e:
        meter.stop()
    assert e.value.one_line().startswith("no INA260 answers at 0x40 on /dev/i2c-1 (register")
    assert "\n" not in e.value.one_line()


def test_a_chip_that_stops_converting_is_one_device_error(chip_on_bus) -> None:
    chip_on_bus("ina219", waveform=_inferences(), stops_converting=True)
    meter = open_meter("ina219:1:0x40")
    meter.start()
    time.sleep(0.15)  # 100 cycles of ~1.1 ms without a conversion-ready flag
    with pytest.raises(DeviceError) as e:
        meter.stop()
    assert e.value.one_line().startswith("the INA219 at 0x40 on /dev/i2c-1 (0.1 ohm shunt, up to 3.2 A) stopped "
                                         "converting")


@pytest.mark.parametrize("spec, message", [
    ("ina219:1:0x45", "no INA219 answers at 0x45 on /dev/i2c-1"),
    ("ina219:2:0x40", "no I2C bus /dev/i2c-2 for the INA219"),
    ("ina219:1:0x40:shunt=0.1", "the chip at 0x40 on /dev/i2c-1 is not an INA219"),  # an INA260 is there
])
def test_nothing_there_is_one_device_error(chip_on_bus, spec: str, message: str) -> None:
    chip_on_bus("ina260" if "shunt" in spec else "ina219", waveform=_inferences())
    with pytest.raises(DeviceError) as e:
        open_meter(spec)
    assert e.value.one_line().startswith(message)
    assert "\n" not in e.value.one_line()


@pytest.mark.parametrize("spec, why", [
    ("ina219:1:0x90", "address 0x90 is not an INA address"),
    ("ina219:1:forty", "address 'forty' is not a number"),
    ("ina219:i2c:0x40", "bus 'i2c' is not a number"),
    ("ina219:1:0x40:shunt=abc", "shunt='abc' is not a number"),
    ("ina219:1:0x40:shunt=0", "shunt must be above 0"),
    ("ina219:1:0x40:gain=2", "unknown option 'gain'"),
    ("ina260:1:0x40:shunt=0.1", "unknown option 'shunt' (options: none)"),
    ("ina219:1:0x40:0x41", "expected the bus, then the address"),
    ("ina219:1:0x40:shunt=1:max_a=1", "cannot measure 1 A across 1 ohm"),
])
def test_bad_spec_is_one_input_error(chip_on_bus, spec: str, why: str) -> None:
    chip_on_bus("ina219", waveform=_inferences())
    with pytest.raises(InputError) as e:
        open_meter(spec)
    assert why in e.value.one_line()
    assert "\n" not in e.value.one_line()
