"""How a link reports an agent that ended: its exit status or signal and the line that says why, not a runtime's
progress log."""
import sys

import pytest

from edgekit.profiles import load_profile
from edgekit.transport import LinkClosed, make_transport
from edgekit.transport.channel import exit_description, last_meaningful_line

XNNPACK_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
# What a runtime crashing in native code looks like: a log line, then a segmentation fault (Python's faulthandler,
# which the agent enables, names it).
CRASHING_RUNTIME = ("import ctypes, faulthandler, sys\nfaulthandler.enable()\n"
                    f"print({XNNPACK_INFO!r}, file=sys.stderr, flush=True)\nsys.stdin.readline()\n"
                    "ctypes.string_at(0)\n")


def test_the_meaningful_line_skips_runtime_logs_and_prefers_a_fatal_error():
    log = f"{XNNPACK_INFO}\nI0000 00:00:1 port.cc:153] oneDNN custom operations are on.\n"
    assert last_meaningful_line(log) is None
    assert last_meaningful_line("ValueError: bad model\n" + log) == "ValueError: bad model"
    crash = "Fatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n  File \"a.py\""
    assert last_meaningful_line(log + crash) == "Fatal Python error: Segmentation fault"
    assert exit_description(-11, log + crash) == " (killed by SIGSEGV): Fatal Python error: Segmentation fault"
    assert exit_description(3, "error: no such file\n") == " with status 3: error: no such file"
    assert exit_description(0, log) == ""


def test_an_agent_killed_by_a_signal_is_reported_with_it():
    with make_transport(load_profile("emu-phone")) as link:
        channel = link.spawn([sys.executable, "-c", CRASHING_RUNTIME])
        channel.send(b"load")
        with pytest.raises(LinkClosed) as info:
            channel.recv(30)
    message = str(info.value)
    assert "killed by SIGSEGV" in message and "Fatal Python error: Segmentation fault" in message
    assert "INFO" not in message
