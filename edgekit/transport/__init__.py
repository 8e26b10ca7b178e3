"""Links to devices (see base.py); importing this package registers the built-in transports."""
from . import local  # noqa: F401
from . import ssh  # noqa: F401  (Linux boards such as a Raspberry Pi; paramiko is imported on use)
from . import adb  # noqa: F401  (Android phones)
from . import serial  # noqa: F401  (MCU firmware over a UART or an emulator's socket)
from .base import FirmwarePort, RemoteShell, Transport, make_transport, register_transport, registered_transports
from .channel import LineChannel, LinkClosed, LinkTimeout

__all__ = ["FirmwarePort", "LineChannel", "LinkClosed", "LinkTimeout", "RemoteShell", "Transport", "make_transport",
           "register_transport", "registered_transports"]
