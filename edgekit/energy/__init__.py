"""Energy measured by a meter on the device's supply, aligned to each inference (docs/energy.md).

A meter driver (one file each, registered by kind) turns `--meter KIND[:ARGS]` into a `Meter`; a `Capture` is what
it sampled; `align.energy_from_capture` integrates power over each inference's window, less the idle baseline.
Drivers import their library (ppk2-api, joulescope, smbus2) only when opened. On a Linux board the INA219/INA260 is
sampled by the agent on the board (edgekit/agent/ina_sampler.py) and windowed by its timestamps (`bench`).
"""
from .meter import Capture, Meter, meter_kinds, open_meter, opened_meter, register_meter

__all__ = ["Capture", "Meter", "meter_kinds", "open_meter", "opened_meter", "register_meter"]
