"""The agent's side of `--meter ina219:...` on a Linux board, in-process and cheap: the agent samples a stand-in INA
(tests/energy/ina2xx_standin.py at the smbus2 level: no INA can exist here) beside a stand-in runtime, the host turns
its response into the report's energy; its errors are one line; the refusals of meters a target cannot use; the
windows that timestamps make."""
from __future__ import annotations

import io
import json
import sys
import time

import numpy as np
import pytest

from edgekit.agent import ina_sampler
from edgekit.agent.agent import E_BAD_REQUEST, E_METER_FAILED, Agent, serve
from edgekit.energy.align import windows_from_timestamps
from edgekit.energy.bench import check_meter, energy_from_agent
from edgekit.errors import InputError, UnsupportedError
from tests.energy.ina2xx_standin import InaStandIn
from tests.energy.supply import LiveSupply

IDLE_A, BUSY_A, VOLTS = 0.5, 1.2, 5.1
INFERENCE_S = 0.004


class SleepingModel:
    """A runtime whose inference is INFERENCE_S of work the supply sees (the board's current rises while it runs)."""

    def __init__(self, supply: LiveSupply) -> None:
        self.supply = supply

    def prepare(self, arrays: list) -> list:
        return arrays

    def invoke(self, prepared: list) -> None:
        self.supply.begin()
        time.sleep(INFERENCE_S)
        self.supply.end()


def _agent(tmp_path, model=None) -> Agent:
    agent = Agent(tmp_path)
    agent.model, agent.reference_inputs = model, [np.zeros((1, 4), np.float32)]
    return agent


def _ask(agent: Agent, **req) -> dict:
    out = io.StringIO()
    serve(agent, [json.dumps(req).encode()], out)
    return json.loads(out.getvalue())


def test_agent_samples_the_meter_beside_its_inferences_and_the_host_integrates_them(tmp_path, monkeypatch):
    supply = LiveSupply(IDLE_A, BUSY_A, VOLTS)
    monkeypatch.setattr(ina_sampler, "_bus_factory", lambda device: InaStandIn("ina219", supply, shunt_ohm=0.1))
    agent = _agent(tmp_path, SleepingModel(supply))
    resp = _ask(agent, cmd="bench", runs=100, warmup=2, meter="ina219:1:0x40", meter_baseline_s=0.1)
    assert resp["ok"], resp
    assert resp["thermal_samples"] == []  # nothing but the inferences runs while the meter measures them

    energy = energy_from_agent("ina219:1:0x40", resp["meter"], warmup=2)
    assert energy["measured"] is True and energy["inferences"] == 100
    assert energy["baseline_w"] == pytest.approx(IDLE_A * VOLTS, rel=2e-3)
    timed = supply.spans[2:]
    windows, counts = windows_from_timestamps(timed, energy["sample_rate_hz"])
    assert energy["inferences_per_window"] == int(np.median(counts)) > 1  # 4 ms inferences: ~50 per window
    known_mj, first = [], 0
    for count in counts:
        known_mj.append((BUSY_A - IDLE_A) * VOLTS * sum(b - a for a, b in timed[first:first + count]) / count * 1e3)
        first += count
    assert energy["per_inference_mj"] == pytest.approx(float(np.median(known_mj)), rel=0.01)
    assert "agent's timestamps on the board" in energy["basis"]


@pytest.mark.parametrize("meter, code, message", [
    ("ina219:7:0x40", E_METER_FAILED, "no I2C bus /dev/i2c-7 for the INA219 (enable I2C on the board"),
    ("ina219:1:0x90", E_BAD_REQUEST, "bad --meter ina219:1:0x90: address 0x90 is not an INA address"),
    ("ina219:/dev/sda:0x40", E_BAD_REQUEST, "bad --meter ina219:/dev/sda:0x40: bus '/dev/sda' is not a number"),
])
def test_a_meter_the_agent_cannot_open_is_one_line(tmp_path, meter: str, code: str, message: str) -> None:
    pytest.importorskip("smbus2")
    resp = _ask(_agent(tmp_path, SleepingModel(LiveSupply(0, 0, 0))), cmd="bench", runs=1, meter=meter)
    assert resp["ok"] is False and resp["error"]["code"] == code
    assert resp["error"]["message"].startswith(message) and "\n" not in resp["error"]["message"]


def test_no_smbus2_on_the_board_is_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "smbus2", None)  # `import smbus2` now fails as where it is not installed
    resp = _ask(_agent(tmp_path, SleepingModel(LiveSupply(0, 0, 0))), cmd="bench", runs=1, meter="ina260:1:0x40")
    assert resp["error"] == {"code": E_METER_FAILED, "message": "the INA meters need smbus2, which this Python does "
                                                                "not have (pip install smbus2==0.6.1 on the board)"}


@pytest.mark.parametrize("spec, family, message", [
    ("ina219:1:0x40", "mcu", "meter 'ina219' has no digital input to window a microcontroller's inferences by"),
    ("ina260:1:0x40", "phone", "meter 'ina260': a phone has no meter path"),
    ("ppk2:/dev/ttyACM1:supply=5", "phone", "meter 'ppk2': a phone has no meter path"),
    ("ppk2:/dev/ttyACM1:supply=5", "rpi", "meter 'ppk2' windows inferences by the firmware's inference pin"),
    ("joulescope", "rpi", "meter 'joulescope' windows inferences by the firmware's inference pin"),
])
def test_a_meter_the_target_cannot_use_is_refused_in_one_line(spec: str, family: str, message: str) -> None:
    with pytest.raises(UnsupportedError) as e:
        check_meter(spec, family)
    assert e.value.one_line().startswith(message) and "\n" not in e.value.one_line()


def test_an_ina_on_a_linux_board_is_accepted_and_its_spec_checked_before_device_time() -> None:
    check_meter("ina219:1:0x40:shunt=0.05", "rpi")
    check_meter("ina260:1:0x41", "other")
    check_meter("ppk2:/dev/ttyACM1:supply=3.3", "mcu")
    with pytest.raises(InputError, match="cannot measure 1 A across 1 ohm"):
        check_meter("ina219:1:0x40:shunt=1:max_a=1", "rpi")


def test_windows_from_timestamps() -> None:
    # at 2 kHz a window needs 200 samples (0.1 s): 0.2 s inferences stand alone, 30 ms ones go four to a window
    long = [(k * 0.25, k * 0.25 + 0.2) for k in range(3)]
    assert windows_from_timestamps(long, 2000.0) == (long, [1, 1, 1])
    short = [(k * 0.031, k * 0.031 + 0.03) for k in range(10)]
    windows, counts = windows_from_timestamps(short, 2000.0)
    assert counts == [4, 6]  # the last two make a window too short alone: they join the one before
    assert windows == [(0.0, short[3][1]), (short[4][0], short[9][1])]
