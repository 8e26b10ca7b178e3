"""Fuzzing the agent's JSON-lines request handling (serve -> Agent.handle) with hypothesis, in-process.

Properties, for any request line (random bytes, random JSON, structured requests with wrong types, sizes and
base64, artifacts whose manifests point anywhere):
- exactly one response line (none for a blank line), a JSON object echoing the request's id, never an exception
  out of serve();
- a failure is ok=false with one of the documented error codes and a message; with a stand-in runtime that cannot
  fail, a malformed request is never blamed on the runtime (run_failed);
- no file outside the workspace is opened, written, renamed or removed (an audit hook watches while serve runs;
  the runtime is replaced by a stand-in that reads its model file from Python, so the hook sees that read too).
Deterministic (derandomize=True) and a few seconds each; EK_FUZZ_EXAMPLES=N searches longer with fresh examples.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import edgekit.agent.agent as agent_mod
from edgekit.agent.agent import (E_BAD_REQUEST, E_NOT_LOADED, E_OUTSIDE_WORKSPACE, E_RUN_FAILED, SPARSE_ENCODING,
                                 Agent, serve)
from edgekit.sparse_file import encode_bitmask_sparse

CODES = {v for k, v in vars(agent_mod).items() if k.startswith("E_") and isinstance(v, str)}  # the agent's codes
# EK_FUZZ_EXAMPLES=5000 for a longer, randomised search (the suite runs a fixed 150 examples per property).
_EXAMPLES = os.environ.get("EK_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(_EXAMPLES or 150), derandomize=_EXAMPLES is None, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- watching file access: an audit hook (permanent once added) that records only while `_watch` is set ---------

_watch: list | None = None
_PATH_EVENTS = frozenset({"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
                          "os.truncate", "os.chmod", "os.chown", "os.utime", "shutil.rmtree", "shutil.copyfile",
                          "shutil.move", "os.listdir", "os.scandir"})


def _hook(event: str, args: tuple) -> None:
    if _watch is None or event not in _PATH_EVENTS:
        return
    paths = list(args[:2]) if event in ("os.rename", "os.link", "os.symlink", "shutil.copyfile", "shutil.move") \
        else [args[0]]
    mode = args[1] if event == "open" and len(args) > 1 else None
    flags = args[2] if event == "open" and len(args) > 2 and isinstance(args[2], int) else 0
    for p in paths:
        if isinstance(p, int) or p is None:  # a file descriptor: its path was checked when it was opened
            continue
        try:
            path = os.path.realpath(os.fsdecode(p))
        except (TypeError, ValueError):  # a NUL byte: the operation itself fails; never raise from the hook
            path = repr(p)
        _watch.append((event, path, mode, flags))


sys.addaudithook(_hook)

_SYSTEM_READS = ("/proc/", "/sys/", os.devnull)


def _python_paths() -> tuple[str, ...]:
    """Where imports read (the import machinery lists and opens these when a handler imports a module)."""
    roots = [sys.prefix, sys.base_prefix, sys.exec_prefix, *(p or os.getcwd() for p in sys.path)]
    return tuple({os.path.realpath(p) + os.sep for p in roots} | {os.path.realpath(p) for p in roots})


@contextmanager
def watch_files(workspace: Path, outside: Path):
    """Fail if anything under `outside` is touched, anything outside `workspace` is written, or anything outside
    it is read other than the machine facts the agent reports (/proc, /sys) and Python's own modules."""
    global _watch
    _watch = []
    try:
        yield
    finally:
        seen, _watch = _watch, None
    ws, out = str(workspace.resolve()), str(outside.resolve())
    python = _python_paths()
    for event, path, mode, flags in seen:
        inside = path == ws or path.startswith(ws + os.sep)
        assert not (path == out or path.startswith(out + os.sep)), f"{event} {path}: outside the workspace"
        writes = event != "open" and event not in ("os.listdir", "os.scandir") or \
            any(c in str(mode or "") for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        if writes:  # /dev/null: platform's first uname runs with stdin from it
            assert inside or path == os.devnull, f"{event} {path} (mode {mode!r}): a write outside the workspace"
        elif not inside:
            assert path.startswith(_SYSTEM_READS) or path.startswith(python), f"{event} {path}: read outside"


# ---- a stand-in runtime: never fails, reads its model file from Python (so the audit hook sees the read) -----------

class FakeModel:
    @staticmethod
    def import_runtime():
        return None

    def __init__(self, path: Path, threads: int = 1) -> None:
        with open(path, "rb") as f:
            f.read()
        self.threads = threads

    def describe(self) -> dict:
        return {"name": "fake", "version": None}

    def prepare(self, arrays: list) -> list:
        return [np.ascontiguousarray(a) for a in arrays]

    def invoke(self, prepared: list) -> None:
        self._last = [np.asarray(prepared[0], dtype=np.float32).reshape(len(prepared[0]), -1).sum(axis=1,
                                                                                                 keepdims=True)]

    def outputs(self) -> list:
        return self._last


def fake_runtimes():
    return mock.patch.dict(agent_mod.RUNTIMES, {"pte": (FakeModel,), "tflite": (FakeModel,)})


# ---- a sandbox: workspace (with a good artifact and a symlink out) next to an outside folder holding bait ----------

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MODEL = b"fake model \x00\x01\x02" * 8
REF = np.arange(8, dtype=np.float32).reshape(2, 4)


def _npz(path: Path) -> None:
    with open(path, "wb") as f:
        np.savez(f, input_0=REF)


def make_sandbox(root: Path) -> tuple[Path, Path]:
    ws, out = root / "ws", root / "outside"
    (ws / "art" / "sub").mkdir(parents=True)
    out.mkdir()
    for d in (ws / "art", out):
        (d / "model.bin").write_bytes(MODEL)
        _npz(d / "reference.npz")
        (d / "model.bin.sparse").write_bytes(encode_bitmask_sparse(MODEL, 1))
    (ws / "escape").symlink_to(out, target_is_directory=True)
    (ws / "art" / "manifest.json").write_text(json.dumps(good_manifest()))
    return ws, out


def good_manifest() -> dict:
    return {"format": "pte", "model_file": "model.bin", "files": {"model.bin": {"sha256": _sha(MODEL)}},
            "inputs": [{"name": "x", "shape": [1, 4], "dtype": "float32"}], "outputs": [{"name": "y"}],
            "reference": {"file": "reference.npz"}}


def converse_bytes(agent: Agent, line: bytes) -> list[dict]:
    """One request line in, the response lines out (parsed); serve must not raise."""
    stdout = io.StringIO()
    serve(agent, io.BytesIO(line + b"\n"), stdout)
    return [json.loads(text) for text in stdout.getvalue().splitlines()]


def check_one_response(responses: list[dict], line: bytes, strict: bool = True) -> dict | None:
    if not line.strip():
        assert responses == []
        return None
    assert len(responses) == 1, responses
    resp = responses[0]
    assert isinstance(resp, dict) and isinstance(resp.get("ok"), bool) and "id" in resp
    try:
        req = json.loads(line)
    except ValueError:
        req = None
    if isinstance(req, dict):  # the id is echoed (compared as JSON text: NaN != NaN)
        assert json.dumps(resp["id"]) == json.dumps(req.get("id"))
    else:
        assert resp["id"] is None
    if not resp["ok"]:
        err = resp["error"]
        assert err["code"] in CODES and isinstance(err["message"], str)
        if strict:  # the stand-in runtime cannot fail: a run_failed is an unexpected exception in request handling
            assert err["code"] != E_RUN_FAILED, err
    return resp


OK_WITHOUT_MODEL = {"hello", "memory", "thermal", "shutdown"}


@given(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")))
@FUZZ
def test_random_bytes(line):
    with tempfile.TemporaryDirectory() as tmp, fake_runtimes():
        ws, out = make_sandbox(Path(tmp))
        with watch_files(ws, out):
            responses = converse_bytes(Agent(ws), line)
        resp = check_one_response(responses, line)
        if resp is not None:
            assert resp["ok"] is False


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c,
                                                                                              max_size=4),
                           max_leaves=12)


@given(json_values)
@FUZZ
def test_random_json(value):
    line = json.dumps(value).encode()
    with tempfile.TemporaryDirectory() as tmp, fake_runtimes():
        ws, out = make_sandbox(Path(tmp))
        with watch_files(ws, out):
            resp = check_one_response(converse_bytes(Agent(ws), line), line)
    assert resp["ok"] is (isinstance(value, dict) and value.get("cmd") in OK_WITHOUT_MODEL)


# Paths meant to escape: parent folders, absolute paths, the symlink out, NUL bytes, the workspace itself.
tricky_paths = st.sampled_from(["", ".", "..", "../", "art", "art/", "art/..", "art/../..", "escape", "escape/",
                                "/", "/etc", "/etc/passwd", "../outside", "../outside/model.bin", "art/../../outside",
                                "escape/model.bin", "art/sub/../../escape", "nul\x00byte", "model.bin", "sub",
                                "reference.npz", "../../outside/reference.npz", "manifest.json",
                                "model.bin.sparse", "../escape/model.bin.sparse", "~", "$HOME"]) | \
    st.text(max_size=10)
dtypes = st.sampled_from(["float32", "float64", "int8", "uint8", "int64", "bool", "float16", "<f4", ">i4", "O", "V0",
                          "S0", "U4", "M8[ns]", "complex64", "(2,)f4", "(999999999999,)f8", "f4,i4", "x", ""]) | \
    json_values
shapes = st.lists(st.integers(-3, 5), max_size=4) | st.lists(st.integers(-2**70, 2**70), max_size=3) | json_values
b64 = st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=12) | json_values
tensors = st.fixed_dictionaries({}, optional={"dtype": dtypes, "shape": shapes, "b64": b64}) | json_values
good_tensors = st.builds(lambda n: {"dtype": "float32", "shape": [n, 4],
                                    "b64": base64.b64encode(np.ones((n, 4), np.float32).tobytes()).decode()},
                         st.integers(0, 3))
numbers = st.integers(-3, 12) | st.sampled_from([None, "3", "x", [], {}, 1.5, float("nan"), float("inf"), -0.0,
                                                 10**400, True]) | json_values
commands = st.sampled_from(["hello", "load", "bench", "predict", "memory", "thermal", "shutdown", "", "Hello",
                            "handle", "_inside", "cmd_hello", "__init__"]) | json_values


def requests(cmds=commands):
    return st.fixed_dictionaries({"cmd": cmds}, optional={
        "id": json_values, "artifact": tricky_paths | json_values, "options": st.just({}) | json_values,
        "x": tensors | good_tensors, "inputs": st.lists(tensors | good_tensors, max_size=3) | json_values,
        "raw": json_values, "runs": numbers, "warmup": numbers, "cooldown_s": st.sampled_from([0, -1, "x", None]),
        "thermal_every": numbers})


@given(requests())
@FUZZ
def test_structured_requests_without_a_model(req):
    """Every command with arguments of any type; the workspace holds a valid artifact, so a load may succeed."""
    line = json.dumps(req).encode()
    with tempfile.TemporaryDirectory() as tmp, fake_runtimes():
        ws, out = make_sandbox(Path(tmp))
        agent = Agent(ws)
        with watch_files(ws, out):
            resp = check_one_response(converse_bytes(agent, line), line)
    if req["cmd"] in ("bench", "predict"):
        assert resp["error"]["code"] == E_NOT_LOADED
    if resp["ok"] and req["cmd"] == "load":
        assert agent.model is not None


def _bounded(value):
    """A bench of 10**9 runs is a long job, not a bug: counts past 20 (as the agent's int() reads them) become 20."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return value
    return 20 if number > 20 else value


@given(st.lists(requests(st.sampled_from(["predict", "bench", "predict"])), min_size=1, max_size=3))
@example([{"cmd": "predict", "x": {"dtype": "float32", "shape": [0, 4], "b64": ""}}])  # found: N = 0 -> IndexError
@example([{"cmd": "bench", "runs": float("inf")}])  # found: int(inf) -> OverflowError, reported as run_failed
@FUZZ
def test_structured_requests_with_a_model(reqs):
    """predict and bench (bounded runs) against a loaded stand-in model: arguments of any type."""
    with tempfile.TemporaryDirectory() as tmp, fake_runtimes():
        ws, out = make_sandbox(Path(tmp))
        agent = Agent(ws)
        [loaded] = converse_bytes(agent, b'{"cmd": "load", "artifact": "art"}')
        assert loaded["ok"], loaded
        for req in reqs:
            for key in ("runs", "warmup", "thermal_every"):
                if key in req:
                    req[key] = _bounded(req[key])
            line = json.dumps(req).encode()
            with watch_files(ws, out):
                check_one_response(converse_bytes(agent, line), line)


# ---- artifacts whose manifests point anywhere: loading must stay inside the workspace ------------------------------

manifests = st.fixed_dictionaries({
    "format": st.sampled_from(["pte", "tflite", "onnx"]) | json_values,
    "model_file": tricky_paths | json_values,
    "files": st.dictionaries(tricky_paths, st.booleans(), max_size=3),  # True: the right sha256
    "encoded": st.dictionaries(tricky_paths, st.tuples(tricky_paths, st.booleans()), max_size=2),
    "inputs": st.just([{"name": "x", "shape": [1, 4], "dtype": "float32"}]) | json_values,
    "reference": st.fixed_dictionaries({"file": tricky_paths}) | json_values,
})


def _manifest_json(draft: dict, artifact: Path) -> dict:
    """Fill in the sha256s the draft asks to be right (of whatever file the path names, even outside: the agent
    must refuse before reading it)."""
    def digest(rel, right: bool, decode: bool = False) -> str:
        path = artifact / rel if isinstance(rel, str) and "\x00" not in rel else None
        if right and path is not None and path.is_file():
            data = path.read_bytes()
            return _sha(agent_mod.decode_bitmask_sparse(data) if decode else data)
        return "0" * 64
    manifest = dict(draft)
    manifest["files"] = {name: {"sha256": digest(name, right)} for name, right in draft["files"].items()}
    manifest["encoded"] = {name: {"encoding": SPARSE_ENCODING, "file": src,
                                  "sha256": MODEL_SHA if right else "0" * 64}
                           for name, (src, right) in draft["encoded"].items()}
    return manifest


MODEL_SHA = _sha(MODEL)


@given(manifests, st.sampled_from(["art", "", "art/sub", "escape", "art/../escape"]))
@FUZZ
def test_load_stays_inside_the_workspace(draft, artifact):
    with tempfile.TemporaryDirectory() as tmp, fake_runtimes():
        ws, out = make_sandbox(Path(tmp))
        folder = out if artifact in ("escape", "art/../escape") else ws / artifact  # outside: bait
        (folder / "manifest.json").write_text(json.dumps(_manifest_json(draft, folder)))
        line = json.dumps({"id": 1, "cmd": "load", "artifact": artifact}).encode()
        with watch_files(ws, out):
            resp = check_one_response(converse_bytes(Agent(ws), line), line, strict=False)
        before = sorted(p.name for p in Path(tmp).iterdir())
        assert before == ["outside", "ws"], f"{before}: something was written next to the workspace"
        assert (out / "model.bin").read_bytes() == MODEL
    if artifact.startswith(("escape", "art/../escape")):
        assert resp["error"]["code"] == E_OUTSIDE_WORKSPACE


def test_paths_found_by_fuzzing_are_refused(tmp_path):
    """Regressions: the manifest's model_file and reference file, and an encoded file named after the workspace
    itself (its .partial went next to the workspace), were not checked against the workspace."""
    ws, out = make_sandbox(tmp_path)
    with fake_runtimes():
        for patch in ({"model_file": "../../outside/model.bin"}, {"reference": {"file": "../escape/reference.npz"}},
                      {"encoded": {"..": {"encoding": SPARSE_ENCODING, "file": "model.bin.sparse",
                                          "sha256": MODEL_SHA}}}):
            (ws / "art" / "manifest.json").write_text(json.dumps({**good_manifest(), **patch}))
            with watch_files(ws, out):
                [resp] = converse_bytes(Agent(ws), b'{"id": 3, "cmd": "load", "artifact": "art"}')
            assert resp["error"]["code"] == E_OUTSIDE_WORKSPACE, (patch, resp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "ws"]


def test_non_object_requests_are_bad_requests(tmp_path):
    for line in (b"[1]", b"1", b'"hello"', b"null", b"true"):
        [resp] = converse_bytes(Agent(tmp_path), line)
        assert resp == {"id": None, "ok": False, "error": resp["error"]} and resp["error"]["code"] == E_BAD_REQUEST


@given(st.integers(0, 3000))
@settings(max_examples=40, derandomize=True, deadline=None, database=None)
def test_deeply_nested_ids(depth):
    line = b'{"id": ' + b"[" * depth + b"]" * depth + b', "cmd": "nope"}'
    responses = converse_bytes(Agent(Path(tempfile.gettempdir())), line)
    assert len(responses) == 1 and responses[0]["ok"] is False


def test_agent_process_answers_lines_that_are_not_utf8(tmp_path):
    """The real entry point under a strict locale: a line of invalid UTF-8 gets an answer, the agent goes on."""
    agent = Path(agent_mod.__file__)
    stdin = b"\xff\xfe garbage\n" + b'{"id": "\xc3\x28", "cmd": "hello"}\n' + b'{"id": 2, "cmd": "shutdown"}\n'
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    out = subprocess.run([sys.executable, str(agent), "--workspace", str(tmp_path)], input=stdin,
                         capture_output=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    responses = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["ok"] for r in responses] == [False, False, True]
    assert {r["error"]["code"] for r in responses[:2]} == {E_BAD_REQUEST}
