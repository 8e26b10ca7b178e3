"""The local-process link as a RemoteShell: argument lists, timeouts, a process as a LineChannel, and nothing left
behind on close."""
import sys
import time
from pathlib import Path

import pytest

from edgekit.errors import DeviceError
from edgekit.profiles import load_profile
from edgekit.transport import LinkClosed, LinkTimeout, make_transport


@pytest.fixture
def link():
    with make_transport(load_profile("emu-phone")) as link:
        yield link


def test_run_takes_argument_lists_and_bounds_time(link, tmp_path):
    rc, out, _ = link.run(["echo", "a b; echo pwned"], "echoing")
    assert (rc, out) == (0, "a b; echo pwned\n"), "an argument must reach the program as one string, unparsed"
    assert link.run(["no-such-program-edgekit"], "running nothing")[0] == 127
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="sleeping did not finish within 0.5 s"):
        link.run(["sleep", "30"], "sleeping", timeout=0.5)
    assert time.monotonic() - t0 < 10


def test_files_and_hashes(link, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 1000)
    dst = f"{link.root()}/f.bin"
    link.put(src, dst)
    link.rename(dst, dst + ".2")
    from edgekit.artifact import sha256_file
    assert link.sha256([dst + ".2"]) == [sha256_file(src)]
    assert link.free_bytes(link.root()) > 0


def test_spawned_process_is_a_line_channel(link):
    channel = link.spawn([sys.executable, "-u", "-c",
                          "import sys\nfor line in sys.stdin: print(line.strip().upper(), flush=True)\n"
                          "print('bye', file=sys.stderr)"])
    channel.send(b"hello")
    assert channel.recv(10) == b"HELLO\n"
    with pytest.raises(LinkTimeout):
        channel.recv(0.2)
    channel.close()
    with pytest.raises(LinkClosed, match="exited: bye"):  # the process's last stderr line says why
        channel.recv(5)


def test_close_stops_processes_and_removes_everything():
    link = make_transport(load_profile("emu-phone"))
    link.open()
    root = Path(link.root())
    channel = link.spawn(["sleep", "300"])
    link.close()
    with pytest.raises(LinkClosed):
        channel.recv(5)
    assert not root.exists()


def test_an_open_cut_short_is_undone(tmp_path, monkeypatch):
    """Ctrl-C (or any failure) after open() made the workspace but before it returned: `with` never calls __exit__
    then, so the transport closes itself and the folder goes."""
    from edgekit.transport.local import LocalTransport
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    real_open = LocalTransport.open

    def open_then_interrupted(self):
        real_open(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalTransport, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with make_transport(load_profile("emu-phone")):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.runtime
def test_a_phone_without_the_memory_for_the_runtime_says_so(tmp_path):
    """The emulated phone's agent runs under an address-space limit; a runtime that cannot be mapped in it is named
    as out of memory, not as a missing runtime."""
    import torch

    from edgekit.compiler import compile_model
    from edgekit.measure.runner import benchmark
    model = torch.nn.Sequential(torch.nn.Linear(64, 10)).eval()
    art = compile_model(model, (torch.randn(1, 64),), "emu-phone", tmp_path / "a")
    with pytest.raises(DeviceError, match="out of memory loading the ExecuTorch runtime"):
        benchmark(art, "emu-phone", runs=1, warmup=0, transport_options={"memory_limit": 400_000_000})
