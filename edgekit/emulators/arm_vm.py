"""An emulated Arm Linux board (a Raspberry Pi): arm64 Debian booted in qemu-system-aarch64 on the profile's
Cortex-A core, reached over SSH on a loopback port.

The disk image (arm_image.py) is built once and booted read-only (`snapshot=on`: the guest's writes go to a
temporary overlay that QEMU drops at exit), so every bench starts from the same state. The guest runs one core
under `-icount shift=0`: every executed instruction advances the guest's clock by 1 ns, so latencies measured
with the guest's clock are virtual time, independent of this host's CPU, and the guest's emulated PMU counts
instructions exactly (the agent reads it, user space only). Those are emulated instructions, not cycles: the
report turns them into a device estimate with the profile's cycles per instruction. The guest's network is
QEMU's user mode with `restrict=on` (no route out) and one forward, 127.0.0.1:PORT -> guest:22; the host key was
generated when the image was built and is pinned.

Registered as the emulator kind "qemu-arm-vm". Profile options ([emulation.options]): image (recipe name under
images/), cpu (QEMU -cpu), machine (default "virt"), boot_timeout_s (default 180).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import interrupts
from ..errors import DeviceError
from ..profiles import Profile
from .arm_image import ArmImage, ImageRecipe, cached_image
from .base import free_loopback_port, register_emulator

QEMU = "qemu-system-aarch64"
GUEST_PYTHON = "/usr/bin/python3"
INSTRUCTIONS_PER_VIRTUAL_NS = 1.0  # -icount shift=0


def unavailable_reason() -> str | None:
    if shutil.which(QEMU) is None:
        return f"'{QEMU}' not found (install qemu-system-arm: make system-deps)"
    return None


def _ssh_banner(port: int) -> bool:
    """True once sshd answers: QEMU accepts on the forwarded port before the guest listens, then hangs up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(3)
            return s.recv(4) == b"SSH-"
    except OSError:
        return False


@register_emulator("qemu-arm-vm")
class ArmLinuxVM:
    """The running VM, reachable as root@127.0.0.1:port with the image's user key and pinned host key."""

    takes_image = False

    def __init__(self, profile: Profile, link_options: dict[str, Any] | None = None) -> None:
        options = profile.emulation.options if profile.emulation else {}
        self.profile = profile
        self.recipe = ImageRecipe.load(str(options.get("image", "debian-arm64-pi")))
        self.cpu = str(options.get("cpu", profile.hardware.core))
        self.machine = str(options.get("machine", "virt"))
        self.boot_timeout = float(options.get("boot_timeout_s", 180))
        self.memory_mib = int(profile.hardware.ram_bytes // 2**20)
        self.image: ArmImage | None = None
        self.port = 0
        self.scratch: Path | None = None
        self._qemu: subprocess.Popen | None = None

    def __enter__(self) -> "ArmLinuxVM":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, image: Path | None = None, load_address: int | None = None) -> None:
        """Boot the VM from its cached disk image; returns once sshd answers. A missing image is an error, not a
        silent five-minute build: `edgekit targets prepare NAME` builds it, with progress."""
        reason = unavailable_reason()
        if reason:
            raise DeviceError(f"cannot start the emulated {self.profile.stands_for or self.profile.name}: {reason}")
        self.image = cached_image(self.recipe)
        if self.image is None:
            raise DeviceError(f"the disk image '{self.recipe.name}' of {self.profile.name} is not built yet",
                              f"run `edgekit targets prepare {self.profile.name}` once (root, about 5 minutes)")
        try:
            self._boot()
        except BaseException:
            self.stop()
            raise

    def _argv(self) -> list[str]:
        img = self.image
        assert img is not None
        return [QEMU, "-M", self.machine, "-cpu", self.cpu, "-smp", "1", "-m", str(self.memory_mib),
                "-icount", "shift=0,align=off,sleep=off", "-nographic", "-no-reboot", "-monitor", "none",
                "-serial", f"file:{self.scratch / 'console.log'}",
                "-kernel", str(img.kernel), "-initrd", str(img.initrd),
                "-append", "root=/dev/vda rw console=ttyAMA0 quiet",
                "-drive", f"file={img.rootfs},if=none,format=raw,id=d0,snapshot=on,readonly=off",
                "-device", "virtio-blk-pci,drive=d0",
                "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                "-device", "virtio-net-pci,netdev=n0,romfile="]

    def _boot(self) -> None:
        img = self.image
        assert img is not None
        self.scratch = Path(tempfile.mkdtemp(prefix="edgekit-armvm-"))
        key_type, key_b64 = img.host_key_pub.read_text().split()[:2]
        # The identity must be ours alone (0600) for ssh clients; the cached key may be shared by several boots.
        shutil.copyfile(img.user_key, self.scratch / "user_key")
        os.chmod(self.scratch / "user_key", 0o600)
        for attempt in range(3):  # the free port can be taken between our probe and QEMU's bind
            self.port = free_loopback_port()
            (self.scratch / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {key_type} {key_b64}\n")
            log = open(self.scratch / "qemu.log", "wb")
            try:
                with interrupts.deferred():  # held by self._qemu before an interrupt can leave it running
                    self._qemu = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                  start_new_session=True)
            finally:
                log.close()
            if self._wait_for_sshd():
                return
            if "hostfwd" not in self._qemu_log() or attempt == 2:
                break
        raise DeviceError(f"emulated {self.profile.name}: {self._boot_failure()}")

    def _wait_for_sshd(self) -> bool:
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            if self._qemu is None or self._qemu.poll() is not None:
                return False
            if _ssh_banner(self.port):
                return True
            time.sleep(0.5)
        return False

    def _qemu_log(self) -> str:
        return (self.scratch / "qemu.log").read_text(errors="replace") if self.scratch else ""

    def _boot_failure(self) -> str:
        if self._qemu is not None and self._qemu.poll() is not None:
            lines = self._qemu_log().strip().splitlines()
            return f"QEMU exited ({lines[-1] if lines else self._qemu.returncode})"
        console = (self.scratch / "console.log").read_text(errors="replace").strip().splitlines()[-1:]
        return (f"sshd did not answer within {self.boot_timeout:g} s of boot"
                + (f" (console: {console[0][:120]})" if console else ""))

    def transport_options(self) -> dict[str, Any]:
        assert self.scratch is not None
        return {"host": f"root@127.0.0.1:{self.port}", "identity": str(self.scratch / "user_key"),
                "known_hosts": str(self.scratch / "known_hosts"), "python": GUEST_PYTHON}

    def check_alive(self) -> None:
        if self._qemu is not None and self._qemu.poll() is not None:
            raise DeviceError(f"emulated {self.profile.name}: QEMU exited (status {self._qemu.returncode})")

    def describe(self) -> dict[str, Any]:
        manifest = self.image.manifest if self.image else {}
        return {"emulator": QEMU, "board": f"QEMU {self.machine}, {self.cpu}, 1 core, {self.memory_mib} MiB",
                "cpu": f"{self.cpu} (emulated by QEMU TCG)", "virtual_time": True,
                "instructions_per_virtual_ns": INSTRUCTIONS_PER_VIRTUAL_NS, "icount_shift": 0,
                "memory_limit_bytes": self.memory_mib * 2**20,
                "image": {"recipe": self.recipe.name, "digest": self.recipe.digest[:16],
                          "kernel": manifest.get("kernel"), "description": self.recipe.description}}

    def stop(self) -> None:
        """Power off: QEMU and its overlay go; the cached image is untouched. Safe to call twice."""
        if self._qemu is not None:
            try:
                os.killpg(self._qemu.pid, signal.SIGTERM)
                self._qemu.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self._qemu.pid, signal.SIGKILL)
                self._qemu.wait(timeout=10)
            self._qemu = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
