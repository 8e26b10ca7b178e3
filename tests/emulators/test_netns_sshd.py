"""The emulated Pi: a real sshd in a namespace under cgroup limits, and a teardown that leaves nothing behind."""
import os
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from edgekit.emulators import emulator_for
from edgekit.emulators.netns_sshd import CFS_PERIOD_US, unavailable_reason
from edgekit.profiles import load_profile

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]


def _leftovers(pi, sshd_pid, scratch):
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    veth = subprocess.run(["ip", "link", "show", pi.veth_host], capture_output=True, text=True).returncode == 0
    return {"netns": pi.netns in netns, "veth": veth, "cgroups": [str(d) for d in pi.cgroups.dirs if d.exists()],
            "sshd": Path(f"/proc/{sshd_pid}").exists(), "scratch": scratch.exists()}


def _ssh(pi):
    client = paramiko.SSHClient()
    client.load_host_keys(str(pi.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    user, host = pi.transport_options()["host"].split(":")[0].split("@")
    client.connect(host, pi.port, username=user, key_filename=str(pi.identity), look_for_keys=False,
                   allow_agent=False, timeout=10)
    return client


def test_limits_sessions_and_clean_teardown():
    profile = load_profile("emu-rpi4-x86")
    with emulator_for(profile) as pi:
        sshd_pid, scratch = pi._sshd.pid, pi.scratch
        facts = pi.describe()
        cores = min(profile.hardware.cores, os.cpu_count())
        assert facts["cpu_limit_cores"] == cores and facts["memory_limit_bytes"] == profile.hardware.ram_bytes
        if pi.cgroups.v2:
            assert (pi.cgroups.dirs[0] / "cpu.max").read_text().split() == [str(cores * CFS_PERIOD_US),
                                                                            str(CFS_PERIOD_US)]
        else:
            assert int((pi.cgroups.dirs[0] / "cpu.cfs_quota_us").read_text()) == cores * CFS_PERIOD_US
            assert int((pi.cgroups.dirs[1] / "memory.limit_in_bytes").read_text()) == profile.hardware.ram_bytes
        assert sshd_pid in pi.cgroups.pids()
        client = _ssh(pi)
        try:
            _, out, _ = client.exec_command("cat /proc/self/cgroup; readlink /proc/self/ns/net", timeout=10)
            text = out.read().decode()
            assert pi.netns in text, "the session does not inherit the board's cgroup"
            assert os.readlink("/proc/self/ns/net") not in text, "the session runs in the host's network namespace"
            # A session still running at teardown (a hung agent) must not survive it.
            client.exec_command("sleep 300")
        finally:
            client.close()
        left = _leftovers(pi, sshd_pid, scratch)
        assert left["netns"] and left["veth"] and left["sshd"] and left["scratch"]
    assert _leftovers(pi, sshd_pid, scratch) == {"netns": False, "veth": False, "cgroups": [], "sshd": False,
                                                 "scratch": False}


def test_teardown_after_an_exception_inside():
    with pytest.raises(RuntimeError, match="boom"):
        with emulator_for(load_profile("emu-rpi4-x86")) as pi:
            sshd_pid, scratch = pi._sshd.pid, pi.scratch
            raise RuntimeError("boom")
    assert not any(v for v in _leftovers(pi, sshd_pid, scratch).values())


def test_boards_of_killed_processes_are_reaped():
    """A process killed with SIGKILL cannot tear down; the next board start (reap_stale) does it for it."""
    import signal
    import sys
    from edgekit.emulators.netns_sshd import reap_stale
    code = ("import sys, time; from edgekit.emulators import emulator_for; from edgekit.profiles import load_profile\n"
            "pi = emulator_for(load_profile('emu-rpi4-x86')).__enter__()\n"
            "print(pi.netns, pi._sshd.pid, pi.scratch, flush=True); time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        netns, sshd_pid, scratch = proc.stdout.readline().split()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert Path(f"/proc/{sshd_pid}").exists(), "the orphaned sshd should still run before reaping"
    assert netns in reap_stale()
    assert netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    deadline = time.monotonic() + 5  # killed; its /proc entry goes once init has reaped it (it lost its parent)
    while Path(f"/proc/{sshd_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{sshd_pid}").exists() and not Path(scratch).exists()
    assert not any(Path(d, netns).exists() for d in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory",
                                                     "/sys/fs/cgroup"))
