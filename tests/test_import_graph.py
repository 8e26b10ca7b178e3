"""The package's import graph: no loops anywhere (imports inside functions count; TYPE_CHECKING ones do not, they
never run), links never import sessions, nothing imports the CLI, and modules import on their own."""
import ast
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def _imports() -> dict[str, set[str]]:
    """module -> the edgekit modules it imports (relative imports resolved, `from pkg import mod` as pkg.mod)."""
    files = {}
    for f in (ROOT / "edgekit").rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        files[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    graph = {}
    for mod, (f, is_pkg) in files.items():
        tree = ast.parse(f.read_text())
        hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                  ast.unparse(node.test) for n in ast.walk(node)}
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]
        found = set()
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        deps = set()
        for name in found:
            while name and name not in files:  # `import edgekit.compress.numerics` style: the deepest module
                name = name.rpartition(".")[0]
            if name and name != mod:
                deps.add(name)
        graph[mod] = deps
    return graph


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_import_loops():
    assert _loops(_imports()) == []


def test_the_check_sees_a_loop():
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_transports_never_import_sessions():
    graph = _imports()
    for mod in [m for m in graph if m.startswith("edgekit.transport")]:
        assert not [m for m in graph[mod] if m.startswith("edgekit.session")], mod


def test_nothing_imports_the_cli():
    graph = _imports()
    assert [m for m, deps in graph.items() if not m.startswith("edgekit.cli") and
            any(d.startswith("edgekit.cli") for d in deps) and m != "edgekit.__main__"] == []


def test_the_cli_starts_without_torch():
    proc = subprocess.run([sys.executable, "-c", "import sys, edgekit.cli; print('torch' in sys.modules)"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize("module", ["edgekit.transport.channel", "edgekit.session.agent", "edgekit.emulators.qemu",
                                    "edgekit.transport.options", "edgekit.measure.runner", "edgekit.export.mcu",
                                    "edgekit.compress.quantize", "edgekit.cli.bench"])
def test_each_module_imports_first(module):
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
