"""Emulated devices started by edgekit itself (see base.py); importing this package registers the built-in ones."""
from . import arm_vm  # noqa: F401  (an emulated Arm Linux board: arm64 Debian under qemu-system-aarch64)
from . import netns_sshd  # noqa: F401  (an x86 stand-in for a Linux board: sshd in a network namespace)
from . import qemu  # noqa: F401  (an emulated Cortex-M board: the firmware under qemu-system-arm)
from .base import Emulator, emulator_for, register_emulator

__all__ = ["Emulator", "emulator_for", "register_emulator"]
