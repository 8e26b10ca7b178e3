"""Transports to target agents; importing this package registers the built-in ones."""
from . import local  # noqa: F401
from .base import LineChannel, LinkClosed, LinkTimeout, Transport, make_transport, register_transport

__all__ = ["LineChannel", "LinkClosed", "LinkTimeout", "Transport", "make_transport", "register_transport"]
