"""Transports to target agents; importing this package registers the built-in ones."""
from . import local  # noqa: F401
from . import ssh  # noqa: F401  (Linux boards such as a Raspberry Pi; paramiko is imported on use)
from . import adb  # noqa: F401  (Android phones)
from . import serial  # noqa: F401  (MCU firmware over a UART or QEMU socket)
from .base import LineChannel, LinkClosed, LinkTimeout, Transport, make_transport, register_transport

__all__ = ["LineChannel", "LinkClosed", "LinkTimeout", "Transport", "make_transport", "register_transport"]
