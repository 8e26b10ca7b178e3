"""A signal while a child starts: its exception waits until the child is held, so clean-up can stop it."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from edgekit import interrupts


def test_a_signal_inside_deferred_is_raised_when_the_block_ends():
    with interrupts.handled():
        reached_end_of_block = False
        with pytest.raises(interrupts.Terminated):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run by now, and raised nothing
                reached_end_of_block = True
        assert reached_end_of_block
        assert interrupts.received() == signal.SIGTERM


def test_run_returns_what_subprocess_run_returns():
    done = interrupts.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); "
                           "sys.exit(3)"], 30, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    with pytest.raises(subprocess.CalledProcessError) as failed:
        interrupts.run([sys.executable, "-c", "import sys; sys.exit(3)"], 30, check=True)
    assert failed.value.returncode == 3
    with pytest.raises(subprocess.TimeoutExpired):
        interrupts.run([sys.executable, "-c", "import time; time.sleep(30)"], 0.5)


def test_an_interrupted_run_leaves_no_child(tmp_path):
    """The child writes its pid, then would create a file after the interrupt: it must be gone (killed and reaped)
    before run() raises, so no file appears."""
    pid_file, late = tmp_path / "pid", tmp_path / "late"
    code = (f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(1.5); "
            f"open({str(late)!r}, 'w')")
    with interrupts.handled():
        threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            interrupts.run([sys.executable, "-c", code], 30)
    child = int(pid_file.read_text())
    time.sleep(2.0)
    assert not late.exists()
    assert not os.path.exists(f"/proc/{child}")  # reaped


def test_a_signal_of_an_earlier_command_does_not_stop_later_work():
    """A library caller (a test, a notebook) compiling after a command that was interrupted in the same process: the
    artifact's `check()` must not raise for that old signal (a pytest worker crashed this way)."""
    with interrupts.handled():
        with pytest.raises(interrupts.Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
    assert interrupts.received() == signal.SIGTERM  # the command's exit code still reads it
    interrupts.check()  # outside the command: nothing to raise
