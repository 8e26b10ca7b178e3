"""An emulated Linux board (a Raspberry Pi): a real OpenSSH server in a network namespace of its own.

Entering the context manager creates a namespace and a veth pair with private addresses (10.200.N.1 on the host,
10.200.N.2 on the "board"), fresh host and user keys, a known_hosts file pinning the host key, and starts sshd
inside the namespace in a cgroup limited to the profile's cores and RAM (cgroup v1 or v2). Sessions inherit the
cgroup, so the agent runs under the board's limits. The board's `python3` is the Pi environment (.venv-pi:
tflite-runtime + numpy<2, no torch), put first on PATH by sshd. Leaving tears it all down: processes, cgroups,
veth, namespace, scratch files. Needs root, iproute2 and openssh-server; `unavailable_reason()` says what is
missing.

Registered as the emulator kind "netns-sshd"; the SSH transport starts it when a target has no --host.

Profile options ([emulation.options]): python_env (device-side venv, relative to the project root; default
".venv-pi"), cpus (cores to allow; default the profile's, capped at this host's), user (default "root").
"""
from __future__ import annotations

import os
import random
import re
import secrets
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
from ..profiles import BUILTIN_TARGETS_DIR, Profile
from .base import register_emulator

PROJECT_ROOT = BUILTIN_TARGETS_DIR.parent
SSHD = "/usr/sbin/sshd"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
STEP_TIMEOUT_S = 15.0


def unavailable_reason() -> str | None:
    """None when this machine can run the emulator, else why not (for skips and error hints)."""
    if os.geteuid() != 0:
        return "the emulated Pi needs root (network namespaces, cgroups)"
    for tool in ("ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"'{tool}' not found (install iproute2 / openssh-server: make system-deps)"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not found (install openssh-server: make system-deps)"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    return None


def _run(args: list[str], what: str, timeout: float = STEP_TIMEOUT_S, check: bool = True
         ) -> subprocess.CompletedProcess:
    try:
        proc = interrupts.run(args, timeout, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeviceError(f"emulated Pi: {what} failed: {exc}") from None
    if check and proc.returncode != 0:
        raise DeviceError(f"emulated Pi: {what} failed: {proc.stderr.strip() or proc.returncode}")
    return proc


class _Cgroups:
    """One cgroup with a CPU quota and a memory limit, on cgroup v2 or the v1 cpu + memory hierarchies."""

    def __init__(self, name: str, cpus: float, memory_bytes: int) -> None:
        self.v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
        if self.v2:
            self.dirs = [CGROUP_ROOT / name]
        else:
            self.dirs = [CGROUP_ROOT / "cpu" / name, CGROUP_ROOT / "memory" / name]
        self.cpus, self.memory_bytes = cpus, memory_bytes

    def create(self) -> None:
        quota = int(self.cpus * CFS_PERIOD_US)
        try:
            for d in self.dirs:
                d.mkdir()
            if self.v2:
                enabled = (CGROUP_ROOT / "cgroup.subtree_control").read_text().split()
                for controller in ("cpu", "memory"):
                    if controller not in enabled:
                        (CGROUP_ROOT / "cgroup.subtree_control").write_text(f"+{controller}")
                (self.dirs[0] / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
                (self.dirs[0] / "memory.max").write_text(str(self.memory_bytes))
            else:
                (self.dirs[0] / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (self.dirs[0] / "cpu.cfs_quota_us").write_text(str(quota))
                (self.dirs[1] / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
        except OSError as exc:
            raise DeviceError(f"emulated Pi: cannot set up cgroup limits: {exc}",
                              "cgroup v1 (cpu, memory) or v2 with the cpu and memory controllers is needed") from None

    def add(self, pid: int) -> None:
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def destroy(self) -> None:
        deadline = time.monotonic() + 10
        sig = signal.SIGTERM
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
            sig = signal.SIGKILL  # whatever survived a polite TERM (an agent mid-run) is killed
        for d in self.dirs:
            for _ in range(50):  # rmdir fails with EBUSY until the kernel has reaped the last task
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


_OURS = re.compile(r"^edgekit-(\d+)-([0-9a-f]{6})$")


def reap_stale() -> list[str]:
    """Tear down boards whose creating process died without doing so (a kill -9); names carry that pid.

    Only namespaces named by this module are considered, and only those whose creator no longer exists.
    """
    listing = _run(["ip", "netns", "list"], "listing namespaces", check=False).stdout
    reaped = []
    for line in listing.splitlines():
        match = _OURS.match(line.split(" ")[0]) if line.strip() else None
        if match is None or Path(f"/proc/{match.group(1)}").exists():
            continue
        name, tag = match.group(0), match.group(2)
        _Cgroups(name, 1, 1).destroy()  # kills the orphaned sshd and sessions, removes the groups
        _run(["ip", "link", "del", f"ekh{tag}"], "removing a stale veth", check=False)
        _run(["ip", "netns", "del", name], "removing a stale namespace", check=False)
        for scratch in Path(tempfile.gettempdir()).glob(f"{name}-*"):
            shutil.rmtree(scratch, ignore_errors=True)
        reaped.append(name)
    return reaped


@register_emulator("netns-sshd")
class EmulatedLinuxBoard:
    """The running board, reachable at `host` as `user` with `identity` / `known_hosts` (an Emulator)."""

    takes_image = False

    def __init__(self, profile: Profile, link_options: dict[str, Any] | None = None) -> None:
        # link_options (the transport's) are not used: the board is described by [emulation.options] alone.
        self.profile = profile
        options = profile.emulation.options if profile.emulation else {}
        self.user = str(options.get("user", "root"))
        env = Path(str(options.get("python_env", ".venv-pi")))
        self.python_env = env if env.is_absolute() else PROJECT_ROOT / env
        host_cpus = os.cpu_count() or 1
        self.cpus = float(min(options.get("cpus", profile.hardware.cores), host_cpus))
        self.memory_bytes = int(profile.hardware.ram_bytes)
        tag = secrets.token_hex(3)
        self.netns = f"edgekit-{os.getpid()}-{tag}"
        self.veth_host, self.veth_board = f"ekh{tag}", f"ekb{tag}"
        self.cgroups = _Cgroups(self.netns, self.cpus, self.memory_bytes)
        self.scratch: Path | None = None
        self.host = ""
        self.port = 22
        self._sshd: subprocess.Popen | None = None
        self._created: list[str] = []

    # -- start ------------------------------------------------------------------------------------------------

    def __enter__(self) -> "EmulatedLinuxBoard":
        self.start()
        return self

    def start(self, image: Path | None = None, load_address: int | None = None) -> None:
        """Boot the board. It runs its own OS and Python environment: an image is not used."""
        reason = unavailable_reason()
        if reason:
            raise DeviceError(f"cannot start the emulated Pi: {reason}", "bench a real Pi with --host USER@HOST")
        if not (self.python_env / "bin" / "python3").exists():
            raise DeviceError(f"the emulated Pi's Python environment {self.python_env} is missing",
                              "run `make setup` (it builds .venv-pi from requirements-pi.txt)")
        reap_stale()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _free_subnet(self) -> int:
        used = _run(["ip", "-o", "-4", "addr", "show"], "listing addresses").stdout
        candidates = [n for n in range(256) if f" 10.200.{n}." not in used]
        if not candidates:
            raise DeviceError("emulated Pi: no free 10.200.N.0/30 subnet on this host")
        return random.choice(candidates)

    def _start(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{self.netns}-"))
        os.chmod(self.scratch, 0o700)
        _run(["ip", "netns", "add", self.netns], "creating the network namespace")
        self._created.append("netns")
        _run(["ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_board], "creating veth")
        self._created.append("veth")
        _run(["ip", "link", "set", self.veth_board, "netns", self.netns], "moving veth into the namespace")
        n = self._free_subnet()
        self.host = f"10.200.{n}.2"
        inside = ["ip", "netns", "exec", self.netns]
        _run(["ip", "addr", "add", f"10.200.{n}.1/30", "dev", self.veth_host], "addressing the host side")
        _run(["ip", "link", "set", self.veth_host, "up"], "raising the host side")
        _run([*inside, "ip", "addr", "add", f"{self.host}/30", "dev", self.veth_board], "addressing the board")
        _run([*inside, "ip", "link", "set", self.veth_board, "up"], "raising the board side")
        _run([*inside, "ip", "link", "set", "lo", "up"], "raising loopback in the namespace")

        s = self.scratch
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-emulated-pi", "-f", str(s / "host_key")],
             "generating the host key")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-user", "-f", str(s / "user_key")],
             "generating the user key")
        shutil.copyfile(s / "user_key.pub", s / "authorized_keys")
        key_type, key_b64 = (s / "host_key.pub").read_text().split()[:2]
        (s / "known_hosts").write_text(f"{self.host} {key_type} {key_b64}\n")
        (s / "sshd_config").write_text("\n".join([
            f"Port {self.port}", f"ListenAddress {self.host}", f"HostKey {s / 'host_key'}",
            f"PidFile {s / 'sshd.pid'}", f"AuthorizedKeysFile {s / 'authorized_keys'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password", f"AllowUsers {self.user}",
            "Subsystem sftp internal-sftp", "MaxStartups 20", "LogLevel ERROR", ""]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir (no systemd here)

        self.cgroups.create()
        self._created.append("cgroup")
        log = open(s / "sshd.log", "wb")
        try:
            # -D: stays in the foreground as this pid (ip netns exec execs it), so the cgroup and teardown hold it.
            with interrupts.deferred():  # held by self._sshd before an interrupt can leave it running
                self._sshd = subprocess.Popen([*inside, SSHD, "-D", "-e", "-f", str(s / "sshd_config")],
                                              stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                              start_new_session=True)
        finally:
            log.close()
        self.cgroups.add(self._sshd.pid)
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._sshd is not None and self._sshd.poll() is not None:
                log = (self.scratch / "sshd.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise DeviceError(f"emulated Pi: sshd exited at start: {log[0] if log else self._sshd.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise DeviceError(f"emulated Pi: sshd did not listen on {self.host}:{self.port} within {STEP_TIMEOUT_S:g} s")

    # -- use --------------------------------------------------------------------------------------------------

    @property
    def identity(self) -> Path:
        return self.scratch / "user_key"

    @property
    def known_hosts(self) -> Path:
        return self.scratch / "known_hosts"

    def transport_options(self) -> dict[str, Any]:
        return {"host": f"{self.user}@{self.host}:{self.port}", "identity": str(self.identity),
                "known_hosts": str(self.known_hosts), "python": str(self.python_env / "bin" / "python3")}

    def check_alive(self) -> None:
        if self._sshd is not None and self._sshd.poll() is not None:
            raise DeviceError(f"emulated Pi: sshd exited (status {self._sshd.returncode})")

    def describe(self) -> dict[str, Any]:
        return {"emulator": "netns-sshd", "address": self.host, "cpu_limit_cores": self.cpus,
                "memory_limit_bytes": self.memory_bytes,
                "cgroup": "v2" if self.cgroups.v2 else "v1", "device_python_env": str(self.python_env)}

    # -- stop -------------------------------------------------------------------------------------------------

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Tear everything down: processes, cgroups, veth, namespace, scratch files. Safe to call twice."""
        if self._sshd is not None:
            try:
                self._sshd.terminate()
                self._sshd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._sshd.kill()
                self._sshd.wait(timeout=5)
            except ProcessLookupError:
                pass
            self._sshd = None
        if "cgroup" in self._created:
            self.cgroups.destroy()  # kills whatever sessions (agents) are left, then removes the groups
        if "veth" in self._created:
            _run(["ip", "link", "del", self.veth_host], "removing veth", check=False)
        if "netns" in self._created:
            _run(["ip", "netns", "del", self.netns], "removing the namespace", check=False)
        self._created.clear()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
