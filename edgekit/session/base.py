"""What the runner drives on a device (DeviceSession), and the registry that picks how to open one.

A session speaks one agent's protocol over a link (a Transport). Which session an artifact gets is decided by its
format: each agent kind registers an opener for the formats it runs (`register_session`), and the opener checks
that the link offers what it needs (a RemoteShell, a FirmwarePort). Adding an agent kind = one module with a
session class and a registered opener.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from ..errors import UnsupportedError

if TYPE_CHECKING:
    from ..artifact import Artifact
    from ..transport.base import Transport


class DeviceSession(Protocol):
    """An artifact deployed on a device and the agent (or firmware) that runs it. Every call has a timeout."""

    facts: dict[str, Any]  # about the deployment, for the report's target section (device Python, cached set-up)

    def hello(self) -> dict[str, Any]:
        """Check the protocol version; {'machine': {'cpu': ..., ...}, ...}."""

    def load(self) -> dict[str, Any]:
        """Load the deployed artifact (the session knows which): {'load_s', 'first_inference_s'}."""

    def bench(self, runs: int, warmup: int, cooldown_s: float = 0.0) -> dict[str, Any]:
        """{'latencies_ns': [...], 'warmup', 'thermal_before', 'thermal_after', optional 'counters'}."""

    def profile(self, runs: int) -> dict[str, Any]:
        """Per-operator figures from the runtime's own profiler over `runs` inferences of the reference inputs
        (edgekit.measure.op_profile.RawProfile)."""

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Every model output for N samples (one array per model input, N samples each)."""

    def memory(self) -> dict[str, Any]:
        """Memory figures measured on the device."""

    def close(self) -> None:
        """Stop the agent and remove what the session put on the device; never raises for a dead link."""


SessionOpener = Callable[["Transport", "Artifact", float], tuple[DeviceSession, dict[str, float]]]
_OPENERS: dict[str, SessionOpener] = {}


def register_session(*formats: str) -> Callable[[SessionOpener], SessionOpener]:
    """Register an opener for artifacts of these formats: opener(link, artifact, timeout) -> (session, timings)."""
    def wrap(opener: SessionOpener) -> SessionOpener:
        for fmt in formats:
            _OPENERS[fmt] = opener
        return opener
    return wrap


def open_session(link: "Transport", artifact: "Artifact", timeout: float) -> tuple[DeviceSession, dict[str, float]]:
    """Deploy `artifact` over the open `link` and start what runs it; the session and deploy timings (seconds)."""
    opener = _OPENERS.get(artifact.format)
    if opener is None:
        raise UnsupportedError(f"no device session runs .{artifact.format} artifacts",
                               f"known formats: {', '.join(sorted(_OPENERS))}")
    return opener(link, artifact, timeout)
