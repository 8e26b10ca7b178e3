"""The emulated Pi's `smbus2`, for test_bench_ina.py only: an INA219 on I2C bus 1 whose current rises while the
agent's runtime runs an inference. No INA can exist on this machine, and the emulated Pi has no I2C bus.

The test copies this file as `smbus2.py` into the agent's directory on the emulated Pi (with `standin.json` beside
it), where the agent's Python, which puts the directory of agent.py first on its path, imports it in place of the
real smbus2 when the sampler opens the meter. Nothing in edgekit reads or sets anything for it.

What it fakes: the chip, the bus and the supply. `SMBus("/dev/i2c-1")` is tests/energy/ina2xx_standin.py's
register model of an INA219 (0x40, 0.1 ohm shunt; see that file for exactly what it models), driven by
tests/energy/supply.py's `LiveSupply`: idle current, and the busy current while an inference runs. It learns when
one runs by wrapping the agent's `TFLiteModel.invoke` (in the agent's own process), as a shunt sees the board's
current rise when the CPU works; each span it saw is written to `truth.json` beside this file when the meter closes,
for the test's known energy.
What is real: the agent (its bench, its windows, its sampler thread and the sampler's arithmetic, on the agent's
Python), the SSH session and the host's alignment and report.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = json.loads((HERE / "standin.json").read_text())
sys.path.insert(0, CONFIG["repo"])  # the emulated Pi shares this machine's files: the register model is the tests'

from tests.energy.ina2xx_standin import InaStandIn  # noqa: E402
from tests.energy.supply import LiveSupply  # noqa: E402

SUPPLY = LiveSupply(CONFIG["idle_a"], CONFIG["busy_a"], CONFIG["volts"])


def _watch_inferences() -> None:
    model_class = sys.modules["__main__"].TFLiteModel  # the agent, run as a script
    invoke = model_class.invoke

    def watched(self, prepared):
        SUPPLY.begin()
        try:
            return invoke(self, prepared)
        finally:
            SUPPLY.end()

    model_class.invoke = watched


_watch_inferences()


class SMBus(InaStandIn):
    """smbus2.SMBus(bus): the stand-in INA219 on bus 1 (no other bus exists)."""

    def __init__(self, bus: str) -> None:
        if bus != "/dev/i2c-1":
            raise FileNotFoundError(2, "No such file or directory", bus)
        super().__init__("ina219", SUPPLY, address=0x40, shunt_ohm=0.1)

    def close(self) -> None:
        super().close()
        (HERE / "truth.json").write_text(json.dumps({"spans": SUPPLY.spans}))
