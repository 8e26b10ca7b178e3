"""Device sessions: the protocol spoken with what runs an artifact on a device, on top of a link (a Transport).

`open_session(link, artifact, timeout)` picks the session by the artifact's format (see base.py); importing this
package registers the built-in kinds: the Python agent (agent.py, .pte and .tflite, over a RemoteShell), the
C++ runner spoken to directly for a .pte on a target whose transport says `agent = "native"` (native_runner.py:
a phone with no Python) and the MCU firmware (firmware.py, c-firmware, over a FirmwarePort).
"""
from . import agent  # noqa: F401
from . import firmware  # noqa: F401
from . import native_runner  # noqa: F401  (after agent: it takes .pte and hands other targets back to the agent)
from .base import DeviceSession, open_session, register_session

__all__ = ["DeviceSession", "open_session", "register_session"]
