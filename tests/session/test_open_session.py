"""Opening a session: chosen by the artifact's format, refused on a link that cannot run it, and the Python agent
session over the local link end to end (installed, started, told what it loaded, cleaned up)."""
import json
import sys
from pathlib import Path

import pytest

from edgekit.artifact import Artifact, write_artifact
from edgekit.errors import InputError, UnsupportedError
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.session.agent import AgentSession
from edgekit.transport import FirmwarePort, RemoteShell, make_transport


def _artifact(tmp_path: Path, fmt: str, model_file: str) -> Artifact:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / model_file).write_bytes(b"not a real model")
    return write_artifact(tmp_path / "art", {model_file: tmp_path / model_file},
                          {"format": fmt, "model_file": model_file, "inputs": [], "outputs": []})


def test_links_offer_one_capability():
    profile = load_profile("emu-phone")
    for name in ("local", "ssh", "adb"):
        link = make_transport(profile, name)
        link.python, link.memory_limit = "python3", None  # set by open(); the capability is the methods
        assert isinstance(link, RemoteShell) and not isinstance(link, FirmwarePort), name
    serial = make_transport(load_profile("emu-cortex-m4"))
    assert isinstance(serial, FirmwarePort) and not isinstance(serial, RemoteShell)


def test_a_link_that_cannot_run_the_artifact_is_refused(tmp_path):
    pte = _artifact(tmp_path / "p", "pte", "model.pte")
    with make_transport(load_profile("emu-cortex-m4")) as serial:
        with pytest.raises(UnsupportedError, match="serial transport cannot run the Python agent"):
            open_session(serial, pte, timeout=5)
    fw = _artifact(tmp_path / "f", "c-firmware", "firmware.bin")
    with make_transport(load_profile("emu-phone")) as local:
        with pytest.raises(UnsupportedError, match="local transport cannot run c-firmware"):
            open_session(local, fw, timeout=5)
    odd = _artifact(tmp_path / "o", "onnx", "model.onnx")
    with make_transport(load_profile("emu-phone")) as local:
        with pytest.raises(UnsupportedError, match="no device session runs .onnx"):
            open_session(local, odd, timeout=5)


def test_agent_session_over_the_local_link(tmp_path):
    art = _artifact(tmp_path, "pte", "model.pte")
    # The artifact changes after its manifest was written: the agent must refuse it, which shows that load()
    # named the uploaded artifact without being told from outside.
    (art.path / "model.pte").write_bytes(b"changed after compile")
    with make_transport(load_profile("emu-phone"), options={"python": sys.executable}) as link:
        session, timings = open_session(link, art, timeout=30)
        assert isinstance(session, AgentSession)
        assert set(timings) == {"setup_s", "upload_s", "agent_start_s"} and all(v >= 0 for v in timings.values())
        root = Path(link.root())
        [workspace] = root.glob("ws-*")
        assert json.loads((workspace / "artifact" / "manifest.json").read_text())["format"] == "pte"
        try:
            assert session.hello()["protocol_version"] == 2
            with pytest.raises(InputError, match="sha256"):
                session.load()
        finally:
            session.close()
        assert not workspace.exists(), "the session's workspace was not removed on close"
        assert len(list(root.glob("agent-*/agent.py"))) == 1
    assert not root.exists(), "the local link left its folder behind"
