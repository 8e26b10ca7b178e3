#!/usr/bin/env python3
"""A stand-in for `adb`: devices, push and shell behave like adb's, on one of two "phones".

- This machine (default): `shell` hands its command string to `sh -c`, exactly as adb hands it to the phone's shell,
  so quoting mistakes in the transport show up here too; `push` copies the file.
- The emulated Arm phone (FAKE_ADB_SSH="PORT IDENTITY KNOWN_HOSTS", FAKE_ADB_ROOT=/phone): the commands run in the
  emu-phone-arm VM (QEMU aarch64, Cortex-A76/A710, -icount), inside an empty root prepared by `prepare_vm_root`: it
  holds nothing but /proc, /sys and /dev (bind-mounted from the VM), a static busybox as the shell and its
  utilities (standing for Android's /system/bin/sh and toybox) and the folders edgekit writes, /data/local/tmp.
  `shell` becomes `ssh root@VM chroot ROOT /bin/sh -c CMD` (stdin and stdout passed through, as `adb shell -T`
  does), `push` an `ssh ... cat > ROOT/REMOTE`.

What it fakes: adb's link (USB, adbd, the device list; FAKE_ADB_DEVICES lists "serial:state" pairs), Android's shell
(this machine's sh, or busybox in the VM) and Android itself (no bionic, no Android linker, no SELinux, no getprop).
What is real in the VM mode: the Arm CPU model and its PMU, the Linux kernel, /proc and /sys, and every byte of the
runner bundle, which starts with nothing from the OS around it.
"""
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

VM_ROOT = "/phone"
# Run in the VM once (as root): the empty root, busybox's applets as the shell's commands, /proc /sys /dev bound.
_PREPARE = r"""set -e
R="$1"
mkdir -p "$R/proc" "$R/sys" "$R/dev" "$R/bin" "$R/data/local/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
for d in proc sys dev; do mountpoint -q "$R/$d" || mount --rbind "/$d" "$R/$d"; done
echo prepared
"""


def ssh_argv(port: str, identity: str, known_hosts: str) -> list[str]:
    return ["ssh", "-p", str(port), "-i", identity, "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=60",
            "-o", "ServerAliveInterval=30", "-o", "LogLevel=ERROR",
            # one SSH connection for every call, as adb keeps one to adbd: a handshake costs seconds under emulation
            "-o", "ControlMaster=auto", "-o", f"ControlPath={os.path.dirname(known_hosts)}/adb-%p",
            "-o", "ControlPersist=600", "-o", "KexAlgorithms=curve25519-sha256", "root@127.0.0.1"]


def ssh_call(argv: list[str], stdin=None) -> int:
    """ssh, again when the connection itself failed (exit 255: the loaded guest's sshd sometimes drops a key
    exchange), as adb reconnects to adbd; a command that ran answers with its own status."""
    for attempt in range(4):
        rc = subprocess.call(argv, stdin=stdin)
        if rc != 255:
            return rc
        if stdin is not None and hasattr(stdin, "seek"):
            stdin.seek(0)
        time.sleep(2 + attempt * 3)
    return rc


def vm_env(vm_options: dict, root: str = VM_ROOT) -> dict:
    """The environment that points this adb at the VM (an ArmLinuxVM's transport_options)."""
    port = vm_options["host"].rsplit(":", 1)[1]
    return {"FAKE_ADB_SSH": f"{port} {vm_options['identity']} {vm_options['known_hosts']}", "FAKE_ADB_ROOT": root}


def prepare_vm_root(vm_options: dict, root: str = VM_ROOT, timeout: float = 300) -> None:
    """Make the empty root in the running VM (idempotent)."""
    port, identity, known = vm_env(vm_options, root)["FAKE_ADB_SSH"].split(" ")
    for attempt in range(3):  # a guest under load may drop a first connection
        proc = subprocess.run([*ssh_argv(port, identity, known), "sh -s " + shlex.quote(root)], input=_PREPARE,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0 and "prepared" in proc.stdout:
            return
        time.sleep(5)
    raise RuntimeError(f"preparing {root} in the VM failed (exit {proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()[-300:]}")


def main() -> None:
    args = sys.argv[1:]
    serial = None
    if args[:1] == ["-s"]:
        serial, args = args[1], args[2:]
    devices = dict(d.split(":") for d in os.environ.get("FAKE_ADB_DEVICES", "").split(",") if d)
    if args[:1] == ["devices"]:
        print("List of devices attached")
        for name, state in devices.items():
            print(f"{name}\t{state}")
        sys.exit(0)
    if serial not in devices:
        print(f"adb: device '{serial}' not found", file=sys.stderr)
        sys.exit(1)
    vm = os.environ.get("FAKE_ADB_SSH")
    ssh = ssh_argv(*vm.split(" ")) if vm else None
    root = os.environ.get("FAKE_ADB_ROOT", VM_ROOT)
    if args[:1] == ["push"]:
        if ssh:
            target = root + args[2]
            with open(args[1], "rb") as f:
                rc = ssh_call([*ssh, f"mkdir -p {shlex.quote(os.path.dirname(target))} && "
                                     f"cat > {shlex.quote(target)}"], stdin=f)
            if rc:
                sys.exit(rc)
        else:
            Path(args[2]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args[1], args[2])
        print(f"{args[1]}: 1 file pushed")
        sys.exit(0)
    if args[:1] == ["shell"]:
        rest = args[1:]
        if rest[:1] == ["-T"]:
            rest = rest[1:]
        command = " ".join(rest)
        if ssh:  # the VM's sshd hands this to its sh, which execs the root's busybox sh with the command
            sys.exit(ssh_call([*ssh, f"exec chroot {shlex.quote(root)} /bin/sh -c {shlex.quote(command)}"]))
        os.execvp("sh", ["sh", "-c", command])
    print(f"fake adb: unsupported {args}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
