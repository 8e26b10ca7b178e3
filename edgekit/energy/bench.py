"""A benchmark with a meter on the device's supply: the idle baseline first, then the timed inferences, each one
windowed by the inference pin the firmware raises (wired to the meter's digital input 0)."""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from ..errors import UnsupportedError
from .align import energy_per_inference, windows_from_digital
from .meter import Capture, Meter, meter_kind, parse_meter

BASELINE_S = 0.3  # idle before the first inference: long enough for a stable mean at any meter's rate
INFERENCE_INPUT = 0  # the meter's digital input the inference pin is wired to (PPK2 D0, Joulescope IN0)


def check_meter(spec: str | None, profile_family: str) -> None:
    """Refuse, before any device time, a meter this target cannot be windowed with."""
    if spec is None:
        return
    if not meter_kind(spec).digital_inputs:
        raise UnsupportedError(f"meter '{parse_meter(spec)[0]}' has no digital input to window the inferences by",
                               "use a meter with one (ppk2, joulescope) wired to the inference pin (docs/energy.md)")
    if profile_family != "mcu":
        raise UnsupportedError(
            "a meter windows inferences by the firmware's inference pin: only microcontroller targets raise one",
            "on a Linux board, measure with the meter and align by the agent's timestamps by hand (docs/energy.md)")


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
