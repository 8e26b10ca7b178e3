"""The agent on a Pi-like Python: ai-edge-litert 2.3.0 and tflite-runtime 2.14, numpy<2 and no torch (the .venv-pi
that make builds)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from edgekit.agent import AGENT_SCRIPT
from edgekit.agent.agent import decode_tensor, encode_tensor
from edgekit.compiler import compile_model
from edgekit.compress import Int8StaticConfig
from edgekit.modelio import Dataset
from tests.helpers import ROOT

PI_PYTHON = ROOT / ".venv-pi" / "bin" / "python"
pytestmark = [pytest.mark.runtime,
              pytest.mark.skipif(not PI_PYTHON.exists(), reason=".venv-pi missing: run `make setup` to build it")]


@pytest.fixture(scope="module")
def workspace(digits, digits_example, tmp_path_factory):
    model, split = digits
    ws = tmp_path_factory.mktemp("ws")
    compile_model(model, digits_example, "rpi4", ws / "art", recipe=[Int8StaticConfig(calibration_samples=64)],
                  calibration=Dataset(split.x_train, split.y_train))
    shutil.copyfile(AGENT_SCRIPT, ws / "agent.py")
    return ws


def converse(ws, *requests, env=None):
    lines = "".join(json.dumps({"id": i, **r}) + "\n" for i, r in enumerate(requests, 1))
    proc = subprocess.run([str(PI_PYTHON), str(ws / "agent.py"), "--workspace", str(ws)], input=lines,
                          capture_output=True, text=True, timeout=60, env=env)
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture(params=["ai-edge-litert", "tflite-runtime"])
def runtime_env(request, tmp_path):
    """The device's environment, and the runtime the agent should pick in it: both installed (LiteRT preferred),
    or an image with tflite-runtime only (ai_edge_litert made unimportable ahead of site-packages)."""
    if request.param == "ai-edge-litert":
        return request.param, None
    shadow = tmp_path / "shadow" / "ai_edge_litert"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not on this image')\n")
    return request.param, {**os.environ, "PYTHONPATH": str(shadow.parent)}


def test_pi_env_has_no_torch_and_numpy_1():
    out = subprocess.run([str(PI_PYTHON), "-c", "import numpy, importlib.util as u; "
                          "print(numpy.__version__, u.find_spec('torch') is None)"], capture_output=True, text=True)
    version, no_torch = out.stdout.split()
    assert version.startswith("1.") and no_torch == "True"


def test_int8_model_on_the_pi_runtimes(workspace, digits, runtime_env):
    _, split = digits
    x = split.x_test[:20]
    runtime, env = runtime_env
    hello, load, pred, raw, bench = converse(
        workspace, {"cmd": "hello"}, {"cmd": "load", "artifact": "art"}, {"cmd": "predict", "x": encode_tensor(x)},
        {"cmd": "predict", "x": encode_tensor(np.full((2, 1, 8, 8), -128, np.int8)), "raw": True},
        {"cmd": "bench", "runs": 5, "warmup": 1}, env=env)
    assert "tflite_runtime" in hello["runtimes"] and "executorch" not in hello["runtimes"]
    assert load["ok"], load
    assert load["runtime"]["name"] == runtime and load["runtime"]["version"] == {
        "ai-edge-litert": "2.3.0", "tflite-runtime": "2.14.0"}[runtime]
    delegate = load["runtime"]["delegate"]
    if runtime == "ai-edge-litert":  # LiteRT's XNNPACK takes the whole static int8 graph
        assert delegate["name"] == "XNNPACK" and delegate["delegated_ops"] == delegate["ops"] > 0
        assert delegate["partitions"] == 1 and delegate["not_delegated"] == {}
    y = decode_tensor(pred["y"])
    assert y.dtype == np.float32 and y.shape == (20, 10)  # dequantized with the output's scale/zero-point
    manifest = json.loads((workspace / "art" / "manifest.json").read_text())
    q = manifest["export"]["outputs"][0]["quantization"]
    steps = y / q["scale"] + q["zero_point"]
    assert np.allclose(steps, np.round(steps), atol=1e-3), "outputs are not on the int8 grid"
    from edgekit.export.tflite import host_runner
    host = host_runner(workspace / "art" / "model.tflite")([x])[0]
    assert np.abs(y - host).max() <= 1.01 * q["scale"]  # two runtimes: at most one quantization step apart
    assert (y.argmax(1) == host.argmax(1)).mean() >= 0.95
    r = decode_tensor(raw["y"])
    assert r.dtype == np.int8 and r.shape == (2, 10)
    assert bench["ok"] and len(bench["latencies_ns"]) == 5


def test_profile_per_operator_with_litert(workspace, runtime_env):
    """LiteRT's profiler, through its C API: one event per .tflite operator XNNPACK ran (with its output tensor's
    name), and the whole inference with and without profiling. tflite-runtime has none."""
    runtime, env = runtime_env
    _, _, profile = converse(workspace, {"cmd": "hello"}, {"cmd": "load", "artifact": "art"},
                             {"cmd": "profile", "runs": 20}, env=env)
    if runtime == "tflite-runtime":
        assert not profile["ok"] and profile["error"]["code"] == "bad_request", profile
        assert "no per-operator profiler" in profile["error"]["message"]
        return
    assert profile["ok"], profile
    assert profile["unit"] == "ns" and profile["runs"] == 20 and "XNNPACK" in profile["basis"]
    operators = [e for e in profile["events"] if e["kernel"] == "XNNPACK"]
    manifest = json.loads((workspace / "art" / "manifest.json").read_text())
    assert {e["name"] for e in operators} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"}
    assert sorted(e["index"] for e in operators) == list(range(len(operators)))  # every node, once, none fused
    assert all(e["calls"] == 1 and e["value"] >= 0 and e["runtime_op"] for e in operators)
    assert all("Sequential_features" in e["tensor"] for e in operators if e["name"] in ("CONV_2D", "MAX_POOL_2D"))
    assert manifest["model"]["modules"]
    assert profile["whole"] > 0 and profile["whole_unprofiled"] > 0
    assert sum(e["value"] for e in operators) <= profile["whole_unprofiled"] * 1.5  # operator timers not inflated
