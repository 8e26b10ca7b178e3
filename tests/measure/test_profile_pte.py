"""`edgekit bench --profile` for a .pte: the ETDump that ExecuTorch's runtimes write on the device (the Python runtime
of emu-phone, the C++ runner ek_pte_runner of the Arm phones, here built for this host), mapped on the host through
the artifact's ETRecord to the modules of the user's model."""
from __future__ import annotations

import inspect
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import edgekit
from edgekit.agent.agent import Agent, AgentError
from edgekit.artifact import Artifact
from edgekit.measure.op_profile import GLUE, ROOT as OWN_FORWARD, ops_section
from edgekit.measure.profile_pte import _xnn_kind, pte_rows

pytestmark = pytest.mark.runtime


class SmallNet(nn.Module):
    """Convolutions heavy enough to take microseconds each (XNNPACK times its operators to the microsecond)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()),
            nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU()),
            nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.ReLU6()),
            nn.Conv2d(32, 64, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(torch.flatten(self.pool(x), 1)).softmax(-1)


CONVS = {"features.0.0", "features.1.0", "features.2.0", "features.3"}
_lines, _first = inspect.getsourcelines(SmallNet.forward)
FEATURES_LINE = f"test_profile_pte.py:{_first + next(i for i, s in enumerate(_lines) if 'self.features(x)' in s)}"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Artifact:
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ws") / "art"
    return edgekit.compile_model(SmallNet().eval(), (torch.randn(1, 3, 64, 64),), "emu-phone", out)


@pytest.fixture(scope="module")
def host_runner(tmp_path_factory) -> Path:
    from edgekit.emulators.pte_runner_build import build_host_runner
    if shutil.which("g++") is None:
        pytest.skip("no g++ to build ek_pte_runner for this host")
    return build_host_runner(tmp_path_factory.mktemp("runner") / "ek_pte_runner")


def _profile(artifact: Artifact, runs: int = 10) -> tuple[dict, list[dict]]:
    agent = Agent(artifact.path.parent)
    agent.cmd_load({"artifact": artifact.path.name})
    try:
        raw = agent.cmd_profile({"runs": runs})
    finally:
        close = getattr(agent.model, "_proc", None)
        if close is not None:
            close.stdin.close()
            close.wait(timeout=30)
    return raw, pte_rows(artifact, raw)


def _check(artifact: Artifact, raw: dict, rows: list[dict], runtime: str) -> dict:
    assert raw["unit"] == "ns" and raw["runs"] == 10 and raw["runtime"] == runtime
    assert raw["whole"] > 0 and raw["whole_unprofiled"] > 0 and "ETDump" in raw["basis"]
    assert "not_broken_down" not in raw  # XNNPACK logs each of its operators
    section = ops_section(artifact, raw, rows)
    # The rows add up to most of the whole inference of the same (traced) runs. On this x86 host the model takes
    # ~0.3 ms and a test beside it (pytest-xdist) preempts the runner between operators, which no operator's timer
    # sees: a CI run read 0.79. The 5% of issue 23 is checked on the emulated Arm cores, in virtual time
    # (bench/bench_profile.py). The report's coverage holds the rows against the untraced runs in between.
    assert 0.7 <= section["rows_sum"] / raw["whole"] <= 1.05, section
    assert 0.5 < section["coverage"] < 2, section
    modules = artifact.manifest["model"]["modules"]
    for row in section["rows"]:
        assert row["module"] in (GLUE, OWN_FORWARD) or row["module"] in modules, row  # a module of the model, or glue
    xnn = {r["module"] for r in section["rows"] if r["kernel"] == "XNNPACK" and r["op"].startswith(
        ("Convolution", "Fully Connected"))}
    assert CONVS | {"head"} <= xnn  # each convolution (1x1 ones run as Fully Connected) and the head named
    conv = next(r for r in section["rows"] if r["module"] == "features.1.0")
    assert conv["module_type"] == "Conv2d" and conv["source"].endswith(FEATURES_LINE)
    assert conv["macs"] and conv["value"] > 0
    first = next(r for r in rows if r["module"] == "features.0.0")
    assert first["fused"] == ["features.0.1", "features.0.2"]  # its batch norm and ReLU ran inside XNNPACK's conv
    return section


def test_etrecord_is_written_beside_the_pte_without_weights(artifact):
    files = artifact.manifest["files"]
    assert "model.etrecord" in files and artifact.manifest["export"]["etrecord"] == "model.etrecord"
    assert files["model.etrecord"]["bytes"] < 64 << 10  # the graphs and maps, not the weights
    with zipfile.ZipFile(artifact.path / "model.etrecord") as z:
        assert {"edge_dialect_exported_program/forward", "debug_handle_map", "delegate_map"} <= set(z.namelist())


def test_profile_through_the_python_runtime(artifact, monkeypatch):
    monkeypatch.setenv("EDGEKIT_PTE_RUNNER", "/nonexistent/ek_pte_runner")
    raw, rows = _profile(artifact)
    section = _check(artifact, raw, rows, "executorch-python")
    assert any(r["kernel"] == "pybindings" for r in section["rows"])  # the bindings' time is a row of its own


def test_profile_through_the_cpp_runner(artifact, host_runner, monkeypatch):
    monkeypatch.setenv("EDGEKIT_PTE_RUNNER", str(host_runner))
    raw, rows = _profile(artifact)
    section = _check(artifact, raw, rows, "ek_pte_runner")
    assert not any(r["kernel"] == "pybindings" for r in section["rows"])
    assert raw["events"] and all("module" not in e for e in raw["events"])


def test_runner_bench_is_untouched_by_profile(artifact, host_runner, monkeypatch):
    """"run" after "profile" times the same method as before (the traced copy is gone) and its outputs hold."""
    monkeypatch.setenv("EDGEKIT_PTE_RUNNER", str(host_runner))
    agent = Agent(artifact.path.parent)
    agent.cmd_load({"artifact": artifact.path.name})
    model, prepared = agent.model, agent.model.prepare(agent.reference_inputs)
    model.invoke(prepared)
    before = model.outputs()
    model.profile(prepared, 2)
    times, _ = model.timed_runs(prepared, 3)
    assert len(times) == 3 and all(t > 0 for t in times)
    model.invoke(prepared)
    assert all((a == b).all() for a, b in zip(before, model.outputs()))
    with pytest.raises(AgentError, match="usage: profile N"):
        model._ask("profile 0")
    model._proc.stdin.close()
    model._proc.wait(timeout=30)


@pytest.mark.parametrize("name, kind", [("Convolution (NHWC, QC8) IGEMM #3", "convolution"),
                                        ("Global Average Pooling (NWC, F32) #1", "global average pooling"),
                                        ("Fully Connected (NC, PF32) GEMM #2", "fully connected"),
                                        ("Static Reshape (NC) #1", "static reshape"),
                                        ("Convert (NC) #1", "convert")])
def test_xnnpack_operator_kinds(name, kind):
    assert _xnn_kind(name) == kind


def test_an_artifact_without_etrecord_still_profiles(artifact, tmp_path, monkeypatch):
    """Compiled before the ETRecord: the rows come, without modules, and the basis says why."""
    monkeypatch.setenv("EDGEKIT_PTE_RUNNER", "/nonexistent/ek_pte_runner")
    raw, _ = _profile(artifact, runs=2)
    old = Artifact(tmp_path / "old", {**artifact.manifest, "export": {}})
    (tmp_path / "old").mkdir()
    rows = pte_rows(old, raw)
    assert rows and all(r["module"] is None for r in rows) and "no ETRecord" in raw["basis"]
