"""SSH transport (paramiko) to a Linux board such as a Raspberry Pi, real or emulated: a RemoteShell (commands
over exec channels, files over SFTP) on which edgekit/session/install.py installs the agent.

Options (CLI flags in brackets): host "USER@HOST[:PORT]" [--host], identity key file [--identity] (else ssh-agent
and ~/.ssh keys), known_hosts file [--known-hosts] (default ~/.ssh/known_hosts), trust_host_key [--trust-host-key],
python (the device's interpreter, default "python3"), remote_root (default ~/.cache/edgekit on the device),
connect_timeout (s, default 10), command_timeout (s, default 60).

Safety: the host key must already be in known_hosts (RejectPolicy) unless the user explicitly trusts it, which
appends it to that file; a changed key is always refused. Every remote command is an argument list joined with
shlex (never a string built from input), and every call has a timeout. A target with an emulator and no host
starts it (and stops it on close); option "emulator", an emulator the caller already started (the pytest plugin's
session device), is used as it is and left running.
"""
from __future__ import annotations

import hashlib
import re
import shlex
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import DeviceError, InputError
from .base import Transport, register_transport, run_python
from .channel import LineChannel, exit_description, from_shell_status
from .options import TransportOption

# The agent runs under the login shell, which then says how it ended on stderr: paramiko does not pass on SSH's
# exit-signal message, so a crash in a runtime would otherwise be only "the agent exited".
_REPORTING_EXIT = '{command}; status=$?; echo "edgekit-exit-status $status" >&2; exit $status'
_EXIT_LINE = re.compile(r"^edgekit-exit-status (\d+)\s*$", re.MULTILINE)

if TYPE_CHECKING:
    from ..emulators import Emulator

_HASH = ("import hashlib, sys\n"
         "for p in sys.argv[1:]:\n"
         "    h = hashlib.sha256()\n"
         "    with open(p, 'rb') as f:\n"
         "        for b in iter(lambda: f.read(1 << 20), b''): h.update(b)\n"
         "    print(h.hexdigest())")
_FREE = "import os, sys; s = os.statvfs(sys.argv[1]); print(s.f_bavail * s.f_frsize)"
_T = TypeVar("_T")


def parse_host(spec: str) -> tuple[str, str, int]:
    """'user@host[:port]' (IPv6 as user@[addr]:port) -> (user, host, port)."""
    user, at, rest = spec.rpartition("@")
    if not at or not user or not rest:
        raise InputError(f"bad --host {spec!r}", "write it as USER@HOST or USER@HOST:PORT")
    host, port = rest, "22"
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = tail[1:]
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"bad --host {spec!r}", "write it as USER@HOST or USER@HOST:PORT")
    return user, host, int(port)


def _fingerprint(key: Any) -> str:
    import base64
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class _RefuseUnknownKey:
    """paramiko's RejectPolicy, remembering the refused key so the error can show its fingerprint."""

    offered: str | None = None

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        import paramiko
        self.offered = _fingerprint(key)
        raise paramiko.SSHException(f"host key for {hostname} not found in known_hosts")


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a host: bare on port 22, else [HOST]:PORT (OpenSSH's form)."""
    return host if port == 22 else f"[{host}]:{port}"


@register_transport("ssh")
class SSHTransport(Transport):
    """A paramiko connection: commands over exec channels, files over SFTP."""

    memory_limit = None   # the board itself (or the emulator's cgroup) limits memory
    check_runtime = True  # a board's Python may lack numpy or the runtime: probe it once, cached on the device

    cli_options = (
        TransportOption("host", "--host", "SSH targets: USER@HOST[:PORT] of the device (emulated targets start their "
                        "own)"),
        TransportOption("identity", "--identity", "SSH private key (default: ssh-agent, ~/.ssh)", is_path=True),
        TransportOption("known_hosts", "--known-hosts", "known-hosts file (default ~/.ssh/known_hosts)", is_path=True),
        TransportOption("trust_host_key", "--trust-host-key", "accept an unknown SSH host key and save it to "
                        "known-hosts", is_flag=True),
        TransportOption("python", "--device-python", "SSH and adb targets: the device's Python with the runtime "
                        "(default python3)"),
        TransportOption("remote_root", "--device-root", "SSH and adb targets: the folder edgekit keeps its files in "
                        "on the device (default ~/.cache/edgekit; adb: /data/local/tmp/edgekit)"),
    )

    def open(self) -> None:
        self._client: Any = None  # paramiko objects, imported on use
        self._sftp: Any = None
        self._chan: Any = None
        self._emulator: Emulator | None = None   # started (and stopped) by this link
        self._borrowed: Emulator | None = None   # started by the caller, left running (a test session's device)
        self._root: str | None = None
        self.timings = {}
        self.facts: dict[str, Any] = {}
        # A failure below is closed by Transport.__enter__ (it stops an emulator already started).
        options = dict(self.options)
        self._borrowed = options.pop("emulator", None)
        if self._borrowed is not None:
            options.update(self._borrowed.transport_options())
        elif not options.get("host"):
            if not self.profile.emulated:
                raise InputError(f"target '{self.profile.name}' is reached over SSH: pass --host USER@HOST[:PORT]")
            from ..emulators import emulator_for
            t0 = time.perf_counter()
            self._emulator = emulator_for(self.profile, self.options)
            self._emulator.start()  # a full OS: it boots nothing from the artifact
            self.timings["emulator_start_s"] = time.perf_counter() - t0
            options.update(self._emulator.transport_options())
        self.user, self.host, self.port = parse_host(str(options["host"]))
        self.python = str(options.get("python", "python3"))
        self.connect_timeout = float(options.get("connect_timeout", 10))
        self.command_timeout = float(options.get("command_timeout", 60))
        self._remote_root_option = options.get("remote_root")
        t0 = time.perf_counter()
        self._connect(options.get("identity"), Path(options.get("known_hosts") or "~/.ssh/known_hosts").expanduser(),
                      bool(options.get("trust_host_key")))
        self.timings["ssh_connect_s"] = time.perf_counter() - t0

    # -- connection -------------------------------------------------------------------------------------------

    def _connect(self, identity: str | None, known_hosts: Path, trust: bool) -> None:
        import paramiko
        where = f"{self.user}@{self.host}:{self.port}"
        if identity and not Path(identity).expanduser().is_file():
            raise InputError(f"identity file not found: {identity}", "pass the private key with --identity FILE")
        client = paramiko.SSHClient()
        if known_hosts.is_file():
            try:
                client.load_host_keys(str(known_hosts))
            except (OSError, paramiko.SSHException) as exc:
                raise InputError(f"cannot read known-hosts file {known_hosts}: {exc}") from None
        refuse = _RefuseUnknownKey()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if trust else refuse)
        try:
            client.connect(self.host, self.port, username=self.user,
                           key_filename=str(Path(identity).expanduser()) if identity else None,
                           look_for_keys=not identity, allow_agent=not identity, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                           channel_timeout=self.connect_timeout)
        except paramiko.BadHostKeyException:
            client.close()
            raise DeviceError(f"the host key of {self.host} does NOT match the one in {known_hosts}: refusing to "
                              "connect (possible man-in-the-middle)",
                              "if the device was re-imaged, remove its old line from the known-hosts file") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise DeviceError(f"authentication to {where} failed: {exc}",
                              "check --identity and the device's ~/.ssh/authorized_keys") from None
        except paramiko.SSHException as exc:
            client.close()
            if refuse.offered:
                raise DeviceError(f"unknown host key for {self.host} ({refuse.offered}): not in {known_hosts}",
                                  "compare it with the device's own fingerprint (ssh-keygen -lf "
                                  "/etc/ssh/ssh_host_ed25519_key.pub on it), then pass --trust-host-key") from None
            raise DeviceError(f"SSH to {where} failed: {exc}") from None
        except (socket.timeout, TimeoutError):
            client.close()
            raise DeviceError(f"cannot reach {where}: no answer within {self.connect_timeout:g} s",
                              "check the address and that the device is on and on the network") from None
        except OSError as exc:  # refused, no route, name not resolved (paramiko.NoValidConnectionsError too)
            client.close()
            raise DeviceError(f"cannot reach {where}: {getattr(exc, 'strerror', None) or exc}",
                              "check the address, the port and that sshd runs on the device") from None
        self._client = client
        key = client.get_transport().get_remote_server_key()
        self.facts["host_key"] = _fingerprint(key)
        if trust:
            self._save_host_key(known_hosts, key)
        client.get_transport().set_keepalive(15)

    def _save_host_key(self, known_hosts: Path, key: Any) -> None:
        """Append the trusted key (only if the file does not already pin it), keeping the user's other lines."""
        name = known_hosts_name(self.host, self.port)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        if known_hosts.is_file() and line in known_hosts.read_text(errors="replace"):
            return
        known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with open(known_hosts, "a") as f:
            f.write(line)

    # -- RemoteShell ------------------------------------------------------------------------------------------

    def run(self, argv: list[str], what: str, timeout: float | None = None) -> tuple[int, str, str]:
        """Run a command (argument list, each argument shell-quoted) on the device; (exit code, stdout, stderr)."""
        timeout = timeout or self.command_timeout
        try:
            _, stdout, stderr = self._client.exec_command(shlex.join(argv), timeout=timeout)
            out, err = stdout.read(), stderr.read()
            if not stdout.channel.status_event.wait(timeout):
                raise socket.timeout()
            return stdout.channel.exit_status, out.decode(errors="replace"), err.decode(errors="replace")
        except (socket.timeout, TimeoutError):
            raise DeviceError(f"device: {what} did not finish within {timeout:g} s") from None
        except Exception as exc:  # paramiko.SSHException, EOFError, OSError: the link broke
            raise DeviceError(f"device: {what} failed: {exc}") from None

    def _sftp_call(self, what: str, call: Callable[[Any], _T]) -> _T:
        """An SFTP operation with the channel's timeout; a broken link or refused operation is a DeviceError."""
        try:
            if self._sftp is None:
                self._sftp = self._client.open_sftp()
                self._sftp.get_channel().settimeout(self.command_timeout)
            return call(self._sftp)
        except DeviceError:
            raise
        except Exception as exc:  # OSError, EOFError, paramiko.SSHException, socket.timeout
            raise DeviceError(f"device: {what} failed: {type(exc).__name__}: {exc}",
                              "check the device's storage and the link") from None

    def root(self) -> str:
        if self._root is None:
            home = self._sftp_call("finding the home directory", lambda sftp: sftp.normalize("."))
            self._root = str(self._remote_root_option or f"{home}/.cache/edgekit")
        return self._root

    def put(self, local: Path, remote: str) -> None:
        try:
            self._sftp_call(f"uploading {local.name}", lambda sftp: sftp.put(str(local), remote))
        except DeviceError as exc:
            parent = remote.rpartition("/")[0] or "/"
            if "space" in exc.message.lower() or self.free_bytes(parent) < local.stat().st_size:
                raise DeviceError(f"disk full on the device while uploading {local.name} to {parent}",
                                  "free space on the device or choose another folder with --device-root") from None
            raise

    def rename(self, src: str, dst: str) -> None:
        self._sftp_call(f"renaming {src}", lambda sftp: sftp.posix_rename(src, dst))

    def sha256(self, paths: list[str]) -> list[str]:
        return run_python(self, _HASH, paths, "checking uploaded files").split()

    def free_bytes(self, path: str) -> int:
        return int(run_python(self, _FREE, [path], "checking free space").strip())

    def spawn(self, argv: list[str]) -> LineChannel:
        if self._chan is not None:
            self._stop_process(self._chan)  # one process at a time on this link
        try:
            chan = self._client.get_transport().open_session(timeout=self.connect_timeout)
            chan.exec_command(_REPORTING_EXIT.format(command=shlex.join(argv)))
        except Exception as exc:
            raise DeviceError(f"starting {shlex.join(argv[:2])} on the device failed: {exc}") from None
        self._chan = chan
        return LineChannel(chan.makefile("rb"), chan.makefile_stdin("wb"), on_close=lambda: self._stop_process(chan),
                           describe=lambda: self._how_it_ended(chan))

    @staticmethod
    def _how_it_ended(chan: Any) -> str:
        chan.status_event.wait(2)  # the shell's exit status follows its last stderr line
        log = chan.recv_stderr(1 << 20).decode(errors="replace") if chan.recv_stderr_ready() else ""
        statuses = _EXIT_LINE.findall(log)
        status = int(statuses[-1]) if statuses else None
        return exit_description(from_shell_status(status), _EXIT_LINE.sub("", log))

    def _stop_process(self, chan: Any) -> None:
        if self._chan is chan:
            self._chan = None
        try:
            chan.shutdown_write()  # EOF on the process's stdin (the agent's loop ends)
            chan.status_event.wait(5)
        except Exception:
            pass
        chan.close()

    # -- teardown ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            if self._chan is not None:
                self._stop_process(self._chan)
            if self._sftp is not None:
                self._sftp.close()
            if self._client is not None:
                self._client.close()
        finally:
            self._client = self._sftp = None
            if self._emulator is not None:
                emulator, self._emulator = self._emulator, None
                emulator.stop()

    def describe(self) -> dict[str, Any]:
        facts = {"transport": self.name, "host": f"{self.user}@{self.host}:{self.port}", **self.facts}
        for emulator in (self._emulator, self._borrowed):
            if emulator is not None:
                facts.update(emulator.describe())
        return facts
