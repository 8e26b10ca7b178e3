"""Putting the Python agent and an artifact on a device, over any RemoteShell (SSH, adb, the local process).

One policy for every link:
- the agent's directory is content-addressed (`<root>/agent-<sha256 of agent.py and the files beside it>`, see
  edgekit.agent.AGENT_FILES) and kept between sessions;
- every upload goes to a temporary name, its sha256 is checked on the device, then it is renamed into place
  (atomic: a directory appears complete or not at all); free space is checked first where the link can tell;
- the device's Python is probed once for numpy and the runtime (where the link asks for it), the result cached
  in a ready file beside the agent, named by the interpreter (a cached result that lacks what the artifact needs is
  probed again: the user may have installed it since);
- each session gets its own workspace (`<root>/ws-<random>`), removed when the session ends.
Every command is an argument list run by the link (quoted, with a timeout).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from ..agent import AGENT_FILES, AGENT_SCRIPT, agent_files_digest
from ..agent.agent import PTE_RUNNER_ENV, PTE_RUNNER_PATH, TFLITE_RUNTIMES
from ..artifact import sha256_file
from ..errors import DeviceError
from ..transport.base import RemoteShell, run_python

# Which Python modules the device needs for each artifact format (any one of a tuple is enough).
NEEDS = {"tflite": tuple(module.split(".")[0] for module, _ in TFLITE_RUNTIMES), "pte": ("ek_pte_runner", "executorch")}
_PROBE = ("import importlib.util as u, importlib.metadata as m, json, os, platform\n"
          "def v(n, d):\n"
          "    if u.find_spec(n) is None: return None\n"
          "    try: return m.version(d)\n"
          "    except Exception: return 'unknown'\n"
          "print(json.dumps({'python': platform.python_version(), 'numpy': v('numpy', 'numpy'),"
          " 'tflite_runtime': v('tflite_runtime', 'tflite-runtime'),"
          " 'ai_edge_litert': v('ai_edge_litert', 'ai-edge-litert'), 'executorch': v('executorch', 'executorch'),"
          f" 'ek_pte_runner': (lambda p: p if os.access(p, os.X_OK) else None)("
          f"os.environ.get('{PTE_RUNNER_ENV}') or '{PTE_RUNNER_PATH}')}}))")
INSTALL_HINTS = {"tflite": "pip install ai-edge-litert on the device",
                 "pte": f"pip install executorch on the device, or build ek_pte_runner (edgekit/agent/native) and "
                        f"install it as {PTE_RUNNER_PATH}"}
SPACE_MARGIN = 1 << 20  # bytes left free beyond an upload


class AgentInstaller:
    """Installs over one link; `facts` collects what the report shows (device Python, whether set-up was cached)."""

    def __init__(self, shell: RemoteShell, agent_script: Path = AGENT_SCRIPT) -> None:
        self.shell = shell
        self.agent_script = agent_script
        # agent.py and the modules it imports from beside itself (the INA sampler)
        self.agent_files = (agent_script, *(p for p in AGENT_FILES if p.name != agent_script.name))
        self.facts: dict[str, Any] = {}

    # -- the agent --------------------------------------------------------------------------------------------

    def install_agent(self, fmt: str) -> str:
        """The agent on the device (uploaded only when its hash is new); the remote path of agent.py."""
        root = self.shell.root()
        agent_dir = f"{root}/agent-{agent_files_digest(self.agent_files)[:16]}"
        agent = f"{agent_dir}/{self.agent_script.name}"
        ready = f"{agent_dir}/ready-{hashlib.sha256(self.shell.python.encode()).hexdigest()[:8]}.json"
        if self.shell.check_runtime:
            probe = self._read_json(ready)
            if probe is not None:
                try:
                    self._check_runtime(probe, fmt)
                    self.facts["setup_cached"] = True
                    return agent
                except DeviceError:
                    pass  # probed before the user installed the runtime, perhaps: probe again
        if not self._exists(agent):
            self._mkdir(root)
            self._check_space(root, sum(p.stat().st_size for p in self.agent_files))
            staging = f"{root}/.{Path(agent_dir).name}.partial-{secrets.token_hex(4)}"
            try:
                self._upload_checked({p.name: p for p in self.agent_files}, staging)
                if self._exists(agent_dir):  # another session installed it meanwhile: keep theirs
                    self.remove(staging)
                else:
                    self.shell.rename(staging, agent_dir)
            except BaseException:
                self.remove(staging)
                raise
        if self.shell.check_runtime:
            probe = json.loads(run_python(self.shell, _PROBE, [], "probing the device's Python"))
            self._write_json(ready, probe)
            self.facts["setup_cached"] = False
            self._check_runtime(probe, fmt)
        return agent

    def _check_runtime(self, probe: dict[str, Any], fmt: str) -> None:
        python = self.shell.python
        self.facts["device_python"] = {"interpreter": python, **probe}
        if not probe.get("numpy"):
            raise DeviceError(f"missing runtime on the device: numpy is not installed for {python}",
                              "pip install numpy on the device (numpy<2 with tflite-runtime 2.14)")
        needs = NEEDS.get(fmt, ())
        if needs and not any(probe.get(n) for n in needs):
            raise DeviceError(f"missing runtime on the device: no {' or '.join(needs)} for {python}",
                              INSTALL_HINTS.get(fmt))

    # -- workspaces and uploads -------------------------------------------------------------------------------

    def new_workspace(self) -> str:
        workspace = f"{self.shell.root()}/ws-{secrets.token_hex(8)}"
        self._mkdir(workspace)
        return workspace

    def upload_dir(self, local: Path, workspace: str, name: str) -> str:
        """Copy the files of `local` into `<workspace>/<name>`, atomically and hash-checked; returns `name`."""
        files = {p.name: p for p in sorted(Path(local).iterdir()) if p.is_file()}
        self._check_space(workspace, sum(p.stat().st_size for p in files.values()))
        staging = f"{workspace}/.{name}.partial"
        self._upload_checked(files, staging)
        self.shell.rename(staging, f"{workspace}/{name}")
        return name

    def remove(self, path: str) -> None:
        """Remove a directory on the device, best effort: a dead link cannot be cleaned from here."""
        try:
            self.shell.run(["rm", "-rf", "--", path], "removing " + path, timeout=30)
        except DeviceError:
            pass

    def _upload_checked(self, files: dict[str, Path], staging: str) -> None:
        self._mkdir(staging)
        for name, local in files.items():
            self.shell.put(local, f"{staging}/{name}")
        digests = self.shell.sha256([f"{staging}/{n}" for n in files])
        for (name, local), digest in zip(files.items(), digests):
            if digest != sha256_file(local):
                raise DeviceError(f"upload corrupted: {name} has a different sha256 on the device; refusing to use it",
                                  "the link or the device's storage altered the file; retry, check the device")
        if len(digests) != len(files):
            raise DeviceError("device: hashing the uploaded files did not hash every file")

    def _check_space(self, path: str, need: int) -> None:
        free = self.shell.free_bytes(path)
        if free is not None and free < need + SPACE_MARGIN:
            raise DeviceError(f"disk full on the device: {free:,} B free in {path}, need {need:,} B plus 1 MiB",
                              "free space on the device or choose another folder with --device-root")

    # -- small remote operations ------------------------------------------------------------------------------

    def _check(self, argv: list[str], what: str) -> str:
        rc, out, err = self.shell.run(argv, what)
        if rc == 127:
            raise DeviceError(f"the device has no '{argv[0]}'", "install it on the device")
        if rc != 0:
            raise DeviceError(f"device: {what} failed: {(err.strip() or out.strip() or f'exit {rc}').splitlines()[-1]}")
        return out

    def _mkdir(self, path: str) -> None:
        self._check(["mkdir", "-p", "--", path], "creating " + path)

    def _exists(self, path: str) -> bool:
        return self.shell.run(["test", "-e", path], "looking for " + path)[0] == 0

    def _read_json(self, path: str) -> dict[str, Any] | None:
        rc, out, _ = self.shell.run(["cat", "--", path], "reading " + path)
        try:
            return json.loads(out) if rc == 0 else None
        except ValueError:
            return None  # a damaged cache: probe again

    def _write_json(self, path: str, data: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(path).name
            local.write_text(json.dumps(data))
            self.shell.put(local, path + ".partial")
        self.shell.rename(path + ".partial", path)
