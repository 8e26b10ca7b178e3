"""Running the real `edgekit` command in a subprocess, as a user would."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def start_cli(*args: str) -> subprocess.Popen:
    """An `edgekit` command started in the background (finish it with `finish_cli`)."""
    return subprocess.Popen([sys.executable, "-m", "edgekit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish_cli(proc: subprocess.Popen, timeout: float = 600) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli_together(*commands: list, timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Several `edgekit` commands at once (independent compiles: most of each is single-threaded start-up)."""
    procs = [start_cli(*args) for args in commands]
    return [finish_cli(proc, timeout) for proc in procs]


_BOARD = re.compile(r"edgekit-(?P<pid>\d+)-(?P<tag>[0-9a-f]{6})")


def host_state() -> dict[str, set[str]]:
    """What an emulated Linux board creates outside its temporary folder: namespaces, veth links, cgroups."""
    def lines(argv: list[str]) -> list[str]:
        return [line for line in subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
                if line.strip()]
    cgroups = {str(p) for pattern in ("edgekit-*", "*/edgekit-*") for p in Path("/sys/fs/cgroup").glob(pattern)}
    links = {line.split(":")[1].strip().split("@")[0] for line in lines(["ip", "-o", "link", "show"])}
    return {"netns": {line.split()[0] for line in lines(["ip", "netns", "list"])}, "links": links,
            "cgroups": cgroups}


def leaked(before: dict[str, set[str]]) -> dict[str, set[str]]:
    """What appeared since `before` and belongs to no live process: a board's namespace and cgroups carry its
    creator's pid, its veth links its tag. Boards that other tests (other pytest workers) run meanwhile are alive,
    so they are not counted."""
    after = host_state()
    live_tags = {m["tag"] for name in after["netns"] if (m := _BOARD.search(name))
                 and Path(f"/proc/{m['pid']}").exists()}

    def dead(name: str) -> bool:
        m = _BOARD.search(name)
        return m is None or not Path(f"/proc/{m['pid']}").exists()

    return {"netns": {n for n in after["netns"] - before["netns"] if dead(n)},
            "cgroups": {c for c in after["cgroups"] - before["cgroups"] if dead(c)},
            "links": {link for link in after["links"] - before["links"]
                      if link[:3] in ("ekh", "ekb") and link[3:] not in live_tags}}
