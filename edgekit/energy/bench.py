"""A benchmark with a meter on the device's supply: the idle baseline first, then the inferences, each windowed.

Two paths, by where the meter is read:
- a microcontroller: the host reads the meter (PPK2, Joulescope) and the firmware raises an inference pin wired to
  the meter's digital input 0, whose edges window the samples (`metered`, `measured_energy`);
- a Linux board (a Raspberry Pi): an INA219/INA260 on the board's own I2C bus, sampled by the agent on the board
  beside the inference; the agent returns the readings and each inference's start and end on the sampler's clock,
  which window them (`on_board_meter`, `energy_from_agent`).
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from ..errors import UnsupportedError
from .align import BASELINE_GUARD_SAMPLES, energy_per_inference, windows_from_digital, windows_from_timestamps
from .meter import Capture, Meter, meter_kind, parse_meter

BASELINE_S = 0.3  # idle before the first inference: long enough for a stable mean at any meter's rate
INFERENCE_INPUT = 0  # the meter's digital input the inference pin is wired to (PPK2 D0, Joulescope IN0)
LINUX_BOARD_HINT = "on a Linux board, put an INA219/INA260 on its supply: --meter ina219:1:0x40 (docs/energy.md)"


def check_meter(spec: str | None, profile_family: str) -> None:
    """Refuse, before any device time, a meter this target cannot be windowed with (and a bad INA spec)."""
    if spec is None:
        return
    kind, name = meter_kind(spec), parse_meter(spec)[0]
    if profile_family == "phone":
        raise UnsupportedError(f"meter '{name}': a phone has no meter path (no inference pin, no I2C bus the agent "
                               "may read)", "a phone's energy is estimated from its profile (docs/energy.md)")
    if kind.on_board:
        if profile_family == "mcu":
            raise UnsupportedError(f"meter '{name}' has no digital input to window a microcontroller's inferences by",
                                   "use a meter with one (ppk2, joulescope) wired to the inference pin "
                                   "(docs/energy.md)")
        from .ina2xx import checked_spec
        checked_spec(spec)
        return
    if profile_family != "mcu":
        raise UnsupportedError(f"meter '{name}' windows inferences by the firmware's inference pin, and only "
                               "microcontroller targets raise one", LINUX_BOARD_HINT)


def on_board_meter(spec: str | None) -> str | None:
    """`spec` where the agent samples that meter on the board (INA219/INA260), else None."""
    return spec if spec is not None and meter_kind(spec).on_board else None


@contextlib.contextmanager
def metered(meter: Meter) -> Iterator[list[Capture]]:
    """Start the (open) meter and wait out the idle baseline; the block runs the inferences; the capture is
    appended to the yielded list when the block ends."""
    captures: list[Capture] = []
    meter.start()
    time.sleep(BASELINE_S)
    yield captures
    captures.append(meter.stop())


def measured_energy(capture: Capture) -> dict[str, Any]:
    """The report's `energy` from a capture: per inference, above the baseline before the first one."""
    windows = windows_from_digital(capture, INFERENCE_INPUT)
    return {**energy_per_inference(capture, windows),
            "basis": f"integral of the meter's power over {len(windows)} inference windows (digital input "
                     f"{INFERENCE_INPUT}, the firmware's inference pin) minus the idle baseline before them"}


def energy_from_agent(spec: str, meter: dict[str, Any], warmup: int) -> dict[str, Any]:
    """The report's `energy` from the agent's on-board sampling (its bench response's "meter": the sampler's raw
    readings and one (start, end) per warm-up and timed inference on the sampler's clock): the timed inferences
    windowed by those timestamps, above the idle baseline sampled before the warm-up."""
    from ..agent.agent import decode_tensor
    from .ina2xx import capture_from_agent
    capture = capture_from_agent(spec, str(meter["description"]), decode_tensor(meter["readings"]))
    spans = [(float(start), float(end)) for start, end in decode_tensor(meter["windows"])]
    windows, counts = windows_from_timestamps(spans[warmup:], capture.sample_rate_hz)
    # the idle span ends a few samples before the first warm-up inference: a sample straddling its edge is not idle
    baseline = (float(capture.time_s[0]), spans[0][0] - BASELINE_GUARD_SAMPLES / capture.sample_rate_hz)
    energy = energy_per_inference(capture, windows, baseline, counts)
    if energy.get("inferences_per_window", 1) > 1:
        how = (f"{energy['inferences']} timed inferences in {len(windows)} windows of consecutive ones (each too "
               f"short for the meter's {capture.sample_rate_hz:.0f} samples/s alone; a window's energy is shared "
               "among its inferences, the agent's short gaps between them included)")
    else:
        how = f"{len(windows)} timed inference windows"
    return {**energy, "basis": f"integral of the meter's power over {how}, each from the agent's timestamps on the "
                               "board, minus the idle baseline before the warm-up; the whole board's supply"}
