"""Emulated devices started by edgekit itself (see base.py); importing this package registers the built-in ones."""
from . import netns_sshd  # noqa: F401  (an emulated Linux board: sshd in a network namespace)
from . import qemu  # noqa: F401  (an emulated Cortex-M board: the firmware under qemu-system-arm)
from .base import Emulator, emulator_for, register_emulator

__all__ = ["Emulator", "emulator_for", "register_emulator"]
