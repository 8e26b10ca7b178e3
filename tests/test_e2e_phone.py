"""End to end through the real ExecuTorch runtime in the agent process: compile, deploy, measure."""
import json

import numpy as np
import pytest

import edgekit
from edgekit.errors import DeviceError, InputError
from edgekit.models.digits import accuracy
from tests.helpers import run_cli

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, digits, digits_example):
    model, split = digits
    out = tmp_path_factory.mktemp("art")
    cal = edgekit.Dataset(split.x_train, split.y_train)
    fp32 = edgekit.compile_model(model, digits_example, "emu-phone", out / "fp32", calibration=cal)
    int8 = edgekit.compile_model(model, digits_example, "emu-phone", out / "int8",
                                 recipe=[edgekit.Int8StaticConfig()], calibration=cal)
    return fp32, int8


def test_manifest_describes_the_artifact(artifacts):
    fp32, int8 = artifacts
    m = int8.manifest
    assert m["format"] == "pte" and m["inputs"] == [{"name": "x", "shape": [1, 1, 8, 8], "dtype": "float32"}]
    assert m["outputs"][0]["shape"] == [1, 10]
    assert m["recipe"] == [{"method": "int8", "per_channel": True, "calibration_samples": 256, "route": "auto",
                            "keep_float": [], "min_cosine": None}]
    assert m["model"]["compute_dtype"] == "int8"
    assert m["target"] == {"name": "emu-phone", "stands_for": "pixel8"}
    deleg = m["export"]["delegation"]
    assert deleg["delegated_nodes"] > 0 and "aten_convolution_default" in deleg["delegated_ops"]
    assert int8.size_bytes < 0.6 * fp32.size_bytes


def test_bench_report_through_the_agent(artifacts, digits):
    _, split = digits
    model = digits[0]
    report = edgekit.benchmark(artifacts[1], "emu-phone", runs=100, eval_data=edgekit.Dataset(split.x_test, split.y_test))
    lat = report["latency_ms"]
    assert lat["runs"] == 100 and 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert report["fidelity"]["vs_host"]["cosine"] > 0.999
    assert report["fidelity"]["vs_float"]["cosine"] > 0.98
    host = accuracy(model, split.x_test, split.y_test)
    assert report["accuracy"]["samples"] == len(split.y_test)
    assert abs(report["accuracy"]["top1"] - host) <= 0.02
    assert report["energy"]["estimated"] is True and report["energy"]["per_inference_mj"] > 0
    assert report["device_estimate"]["estimated"] is True
    assert report["memory"]["peak_rss_bytes"] > 1e6
    assert report["memory"]["limit_bytes"] == 8 * 1024**3
    assert report["target"]["stands_for"] == "pixel8" and report["measured_on"]["cpu"]


def test_cli_compile_and_bench_json(tmp_path, digits_npz):
    train, test = digits_npz
    result = run_cli("compile", "examples/digits_cnn.py:build_quick", "-t", "emu-phone", "-q", "int8",
                     "--calibration", train, "-o", tmp_path / "art")
    assert result.returncode == 0, result.stderr
    assert "not delegated" in result.stdout or "delegated" in result.stdout
    # A check the user asks for fails with exit code 4, after the report is printed.
    result = run_cli("bench", tmp_path / "art", "-t", "emu-phone", "--runs", "20", "--eval", test, "--json",
                     "--max-latency-ms", "0.000001", "--profile")
    assert result.returncode == 4 and "check failed: p50 latency" in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1 and report["latency_ms"]["runs"] == 20 and report["accuracy"]["samples"]
    # --profile: ExecuTorch's ETDump, XNNPACK's operators one row each, every row a module of the model (or said
    # not to be one), the rows against an unprofiled inference of the same run.
    ops, modules = report["ops"], json.loads((tmp_path / "art" / "manifest.json").read_text())["model"]["modules"]
    assert ops["unit"] == "ns" and "ETDump" in ops["basis"] and 0.5 < ops["coverage"] < 1.5, ops
    assert all(r["module"] in modules or r["module"].startswith("(") for r in ops["rows"]), ops["rows"]
    convs = [r for r in ops["rows"] if r["module_type"] == "Conv2d"]
    assert len({r["module"] for r in convs}) == 4 and all(r["source"] for r in convs)  # the digits CNN's 4 convs


def test_tampered_pte_is_refused(tmp_path, artifacts):
    import shutil
    art = shutil.copytree(artifacts[0].path, tmp_path / "art")
    data = bytearray((art / "model.pte").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (art / "model.pte").write_bytes(bytes(data))
    result = run_cli("bench", art, "-t", "emu-phone", "--runs", "5")
    assert result.returncode == 1 and "does not match its sha256" in result.stderr


def test_corrupt_pte_with_matching_hash_fails_to_load(tmp_path, artifacts):
    import shutil
    from edgekit.artifact import Artifact, write_artifact
    src = artifacts[0]
    (tmp_path / "model.pte").write_bytes(b"not a flatbuffer" * 10)
    manifest = {k: v for k, v in src.manifest.items() if k not in ("files", "schema_version")}
    art = write_artifact(tmp_path / "art", {"model.pte": tmp_path / "model.pte",
                                            "reference.npz": src.path / "reference.npz"}, manifest)
    with pytest.raises(DeviceError, match="ExecuTorch could not load"):
        edgekit.benchmark(Artifact.load(art.path), "emu-phone", runs=2)


def test_agent_without_enough_memory_is_a_device_error(artifacts):
    # 64 MiB of address space cannot hold the runtime's libraries: the agent reports it and the host says so.
    with pytest.raises(DeviceError) as info:
        edgekit.benchmark(artifacts[0], "emu-phone", runs=2, transport_options={"memory_limit": 64 * 1024**2},
                          timeout=60)
    assert "\n" not in info.value.one_line()


def test_hung_agent_times_out_instead_of_hanging(tmp_path, artifacts):
    import time
    hung = tmp_path / "hung-python"
    hung.write_text("#!/bin/sh\nexec sleep 600\n")
    hung.chmod(0o755)
    start = time.monotonic()
    with pytest.raises(DeviceError, match="did not answer within 2 s"):
        edgekit.benchmark(artifacts[0], "emu-phone", runs=2, transport_options={"python": str(hung)}, timeout=2)
    assert time.monotonic() - start < 20


def test_eval_data_of_wrong_shape(artifacts):
    with pytest.raises(InputError, match="eval data has samples of shape"):
        edgekit.benchmark(artifacts[0], "emu-phone", eval_data=edgekit.Dataset(np.zeros((4, 3, 8, 8), np.float32), None))
