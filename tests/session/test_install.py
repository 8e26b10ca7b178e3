"""The agent installer over a fake RemoteShell whose "device" is a folder on this host: content-addressed agent
directory, staged and hash-checked uploads, atomic renames, a cached probe, disk-space checks, cleanup."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.agent import AGENT_SCRIPT, INA_SAMPLER, agent_files_digest
from edgekit.artifact import sha256_file
from edgekit.errors import DeviceError
from edgekit.session.install import AgentInstaller
from edgekit.transport.base import RemoteShell

PROBE_OK = {"python": "3.11", "numpy": "1.26.4", "tflite_runtime": "2.14.0", "ai_edge_litert": None,
            "executorch": None}


class FakeShell:
    """A RemoteShell on a local folder. POSIX tools really run; the device's Python is answered from `probe`.
    Every call is recorded (argument lists only: there is no shell string to get wrong)."""

    name = "fake"
    python = "/device/python3"
    memory_limit = None
    check_runtime = True

    def __init__(self, root: Path, probe: dict | None = None, free: int | None = 10**9) -> None:
        self._root, self.probe, self.free = root, probe or PROBE_OK, free
        self.calls: list[tuple[str, list[str]]] = []
        self.tamper: str | None = None  # a file name whose bytes change on the way

    def root(self) -> str:
        return str(self._root)

    def run(self, argv, what, timeout=None):
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
        assert timeout is None or timeout > 0  # None: the link's own default timeout
        self.calls.append(("run", argv))
        if argv[0] == self.python:
            return 0, json.dumps(self.probe), ""
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return proc.returncode, proc.stdout, proc.stderr

    def put(self, local, remote):
        self.calls.append(("put", [str(local), remote]))
        shutil.copyfile(local, remote)
        if Path(remote).name == self.tamper:
            with open(remote, "ab") as f:
                f.write(b"\0")

    def rename(self, src, dst):
        self.calls.append(("rename", [src, dst]))
        Path(src).rename(dst)

    def sha256(self, paths):
        return [sha256_file(Path(p)) for p in paths]

    def free_bytes(self, path):
        return self.free

    def spawn(self, argv):
        raise AssertionError("the installer starts nothing")


@pytest.fixture
def shell(tmp_path):
    return FakeShell(tmp_path / "device")


@pytest.fixture
def art_dir(tmp_path):
    d = tmp_path / "art"
    d.mkdir()
    (d / "model.tflite").write_bytes(b"model" * 100)
    (d / "manifest.json").write_text("{}")
    return d


def test_fake_is_a_remote_shell(shell):
    assert isinstance(shell, RemoteShell)


def test_agent_dir_is_content_addressed_and_reused(shell):
    first = AgentInstaller(shell)
    agent = first.install_agent("tflite")
    device = Path(shell.root())
    assert agent == f"{device}/agent-{agent_files_digest()[:16]}/agent.py"
    assert Path(agent).read_bytes() == AGENT_SCRIPT.read_bytes()
    assert (Path(agent).parent / INA_SAMPLER.name).read_bytes() == INA_SAMPLER.read_bytes()
    assert first.facts["setup_cached"] is False and first.facts["device_python"]["interpreter"] == shell.python
    assert [p.name for p in device.iterdir()] == [Path(agent).parent.name], "staging left behind"
    assert len(list(Path(agent).parent.glob("ready-*.json"))) == 1

    shell.calls.clear()
    second = AgentInstaller(shell)
    assert second.install_agent("tflite") == agent
    assert second.facts["setup_cached"] is True
    assert not [c for c in shell.calls if c[0] in ("put", "rename")], "a cached agent was uploaded again"
    assert not [c for c in shell.calls if c[1][0] == shell.python], "a cached probe was run again"


def test_a_new_interpreter_is_probed_without_reuploading_the_agent(shell):
    AgentInstaller(shell).install_agent("tflite")
    shell.python = "/other/python3"
    shell.calls.clear()
    installer = AgentInstaller(shell)
    installer.install_agent("tflite")
    assert installer.facts["setup_cached"] is False
    puts = [c[1][1] for c in shell.calls if c[0] == "put"]
    assert len(puts) == 1 and puts[0].endswith(".json.partial"), "only the new ready file should be written"


def test_tampered_agent_upload_is_refused_and_removed(shell):
    shell.tamper = "agent.py"
    with pytest.raises(DeviceError, match="agent.py has a different sha256 on the device"):
        AgentInstaller(shell).install_agent("tflite")
    assert list(Path(shell.root()).iterdir()) == [], "the refused upload was left on the device"


def test_missing_runtime_is_named(shell):
    shell.probe = {**PROBE_OK, "numpy": None}
    with pytest.raises(DeviceError, match="missing runtime on the device: numpy"):
        AgentInstaller(shell).install_agent("tflite")
    shell.probe = {**PROBE_OK, "numpy": "1.26.4", "tflite_runtime": None}
    shell.python = "/another/python3"
    with pytest.raises(DeviceError, match="no ai_edge_litert or tflite_runtime"):
        AgentInstaller(shell).install_agent("tflite")


def test_a_runtime_installed_after_a_failed_probe_is_found(shell):
    shell.probe = {**PROBE_OK, "tflite_runtime": None, "ai_edge_litert": None}
    with pytest.raises(DeviceError, match="no ai_edge_litert or tflite_runtime"):
        AgentInstaller(shell).install_agent("tflite")
    shell.probe = PROBE_OK  # the user ran pip install tflite-runtime on the device
    installer = AgentInstaller(shell)
    installer.install_agent("tflite")
    assert installer.facts["setup_cached"] is False


def test_no_probe_where_the_link_says_so(shell):
    shell.check_runtime = False
    installer = AgentInstaller(shell)
    installer.install_agent("pte")
    assert installer.facts == {} and not [c for c in shell.calls if c[1][0] == shell.python]


def test_upload_is_staged_checked_and_renamed(shell, art_dir):
    installer = AgentInstaller(shell)
    workspace = installer.new_workspace()
    assert Path(workspace).parent == Path(shell.root()) and Path(workspace).name.startswith("ws-")
    assert installer.upload_dir(art_dir, workspace, "artifact") == "artifact"
    assert sorted(p.name for p in Path(workspace).iterdir()) == ["artifact"]
    assert (Path(workspace) / "artifact" / "model.tflite").read_bytes() == (art_dir / "model.tflite").read_bytes()
    puts = [c[1][1] for c in shell.calls if c[0] == "put"]
    assert puts and all("/.artifact.partial/" in p for p in puts), "files must go to a temporary name first"
    assert ("rename", [f"{workspace}/.artifact.partial", f"{workspace}/artifact"]) in shell.calls
    installer.remove(workspace)
    assert not Path(workspace).exists()


def test_tampered_upload_never_reaches_its_name(shell, art_dir):
    installer = AgentInstaller(shell)
    workspace = installer.new_workspace()
    shell.tamper = "model.tflite"
    with pytest.raises(DeviceError, match="model.tflite has a different sha256"):
        installer.upload_dir(art_dir, workspace, "artifact")
    assert not (Path(workspace) / "artifact").exists()


def test_disk_full_is_named_before_uploading(shell, art_dir):
    installer = AgentInstaller(shell)
    workspace = installer.new_workspace()
    shell.free = 1000
    with pytest.raises(DeviceError, match="disk full on the device: 1,000 B free"):
        installer.upload_dir(art_dir, workspace, "artifact")
    assert not [c for c in shell.calls if c[0] == "put"]
    shell.free = None  # a link that cannot tell: the upload goes ahead
    installer.upload_dir(art_dir, workspace, "artifact")


def test_paths_with_shell_syntax_stay_one_argument(tmp_path, art_dir):
    shell = FakeShell(tmp_path / "dev ice; touch pwned")
    installer = AgentInstaller(shell)
    installer.install_agent("tflite")
    installer.upload_dir(art_dir, installer.new_workspace(), "artifact")
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert len(list(Path(shell.root()).glob("ws-*/artifact/model.tflite"))) == 1
