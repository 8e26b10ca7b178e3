"""Links know nothing of sessions, and the device-side packages have no import loops (imports inside functions
count; TYPE_CHECKING ones do not, they never run)."""
import ast
import subprocess
import sys

import pytest

from tests.helpers import ROOT

PACKAGES = ("transport", "session", "emulators", "agent", "measure")


def _imports() -> dict[str, set[str]]:
    """module -> the edgekit modules it imports (relative imports resolved, `from pkg import mod` as pkg.mod)."""
    files = {}
    for pkg in PACKAGES:
        for f in (ROOT / "edgekit" / pkg).glob("*.py"):
            parts = ["edgekit", pkg] + ([] if f.stem == "__init__" else [f.stem])
            files[".".join(parts)] = (f, f.stem == "__init__")
    graph = {}
    for mod, (f, is_pkg) in files.items():
        tree = ast.parse(f.read_text())
        hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                  ast.unparse(node.test) for n in ast.walk(node)}
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]
        found = set()
        for node in ast.walk(tree):
            if id(node) in hidden or not isinstance(node, ast.ImportFrom):
                continue
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base)
        graph[mod] = {m for m in found if m in files and m != mod}
    return graph


def test_transports_never_import_sessions():
    graph = _imports()
    for mod in [m for m in graph if m.startswith("edgekit.transport")]:
        assert not [m for m in graph[mod] if m.startswith("edgekit.session")], mod


def test_no_import_loops():
    graph = _imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    # A package importing its own submodules is how registration works; a module importing back is a loop.
    loops = [m for m in graph if reaches(m, m, set()) and not m.endswith(PACKAGES)]
    assert loops == []


@pytest.mark.parametrize("module", ["edgekit.transport.channel", "edgekit.session.agent", "edgekit.emulators.qemu",
                                    "edgekit.transport.options", "edgekit.measure.runner"])
def test_each_module_imports_first(module):
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
