"""adb transport without a phone: missing adb / device errors, and the full protocol through a stand-in adb."""
import os
import sys
from pathlib import Path

import pytest

from edgekit.compiler import compile_model
from edgekit.errors import DeviceError, InputError
from edgekit.measure.runner import benchmark
from edgekit.modelio import Dataset
from edgekit.profiles import load_profile
from edgekit.transport import make_transport
from tests.helpers import run_cli

FAKE_ADB = Path(__file__).with_name("fake_adb.py")


@pytest.fixture
def adb_bin(tmp_path):
    """A directory holding an `adb` that runs the stand-in."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "adb").write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_ADB} \"$@\"\n")
    (d / "adb").chmod(0o755)
    return d / "adb"


def test_missing_adb_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match="adb not found"):
        make_transport(load_profile("pixel8"), "adb", {"adb": str(tmp_path / "no-adb")}).open()


def test_no_device_and_unauthorized(adb_bin, monkeypatch):
    profile = load_profile("pixel8")
    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    with pytest.raises(DeviceError, match="no Android device connected"):
        make_transport(profile, "adb", {"adb": str(adb_bin)}).open()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX:unauthorized")
    with pytest.raises(DeviceError, match="'unauthorized'") as info:
        make_transport(profile, "adb", {"adb": str(adb_bin)}).open()
    assert "accept the USB debugging prompt" in info.value.one_line()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "A:device,B:device")
    with pytest.raises(InputError, match="several Android devices"):
        make_transport(profile, "adb", {"adb": str(adb_bin)}).open()


@pytest.fixture(scope="module")
def phone_art(digits, digits_example, tmp_path_factory):
    """The digits CNN compiled for the Pixel 8 (INT8) into a folder whose name needs quoting."""
    model, split = digits
    return compile_model(model, digits_example, "pixel8", tmp_path_factory.mktemp("art") / "it's art",
                         calibration=Dataset(split.x_train, split.y_train))


@pytest.mark.runtime
def test_protocol_through_adb(adb_bin, digits, phone_art, tmp_path, monkeypatch):
    """The real agent and ExecuTorch runtime behind adb push / adb shell (quoted strings through a real sh)."""
    _, split = digits
    art = phone_art
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX:device")
    phone = tmp_path / "phone dir; echo pwned"  # spaces and shell syntax: must arrive as one path
    report = benchmark(art, "pixel8", runs=5, warmup=1, transport="adb", eval_data=Dataset(split.x_test, split.y_test),
                       transport_options={"adb": str(adb_bin), "python": sys.executable, "remote_root": str(phone),
                                          "agent": "python"})
    assert report["target"]["transport"] == "adb" and report["target"]["serial"] == "R5CX"
    assert report["runtime"]["name"] == "executorch"  # the Python agent, as --device-agent python asks
    assert report["fidelity"]["vs_host"]["cosine"] > 0.9999
    assert report["accuracy"]["top1"] > 0.5
    assert [p.name for p in phone.iterdir()] == [next(phone.glob("agent-*")).name], "workspace left on the phone"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.runtime
def test_native_runner_through_adb(adb_bin, digits, phone_art, tmp_path, monkeypatch):
    """pixel8's default: no Python on the phone. The host pushes the runner bundle once (content-addressed,
    hash-checked on the phone), the .pte into a workspace, and speaks ek_pte_runner's protocol over `adb shell`:
    bench on the runner's clock, outputs bit for bit those of ExecuTorch on this host, memory of the runner
    process, the per-operator profile; the workspace is gone afterwards and a second bench reuses the bundle."""
    import numpy as np
    from executorch.runtime import Runtime
    from edgekit.emulators.pte_runner_build import bundle_unavailable_reason
    from edgekit.session import open_session
    import edgekit.session.native_runner  # noqa: F401  (registers the native session for .pte)
    if bundle_unavailable_reason(os.uname().machine):
        pytest.skip(bundle_unavailable_reason(os.uname().machine))
    _, split = digits
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX:device")
    phone = tmp_path / "phone dir; echo pwned"
    options = {"adb": str(adb_bin), "remote_root": str(phone), "python": "/no/python/on/this/phone"}
    report = benchmark(phone_art, "pixel8", runs=10, warmup=2, transport="adb", profile_ops=True,
                       eval_data=Dataset(split.x_test[:40], split.y_test[:40]), transport_options=options)
    target = report["target"]
    assert target["device_agent"] == "native" and report["runtime"]["name"] == "ek_pte_runner"
    bundle = target["runner_bundle"]
    assert bundle["files"] == 14 and not bundle["cached_on_device"] and "sha256" in bundle["verified"]
    assert report["memory"]["process"] == "ek_pte_runner" and 1 << 20 < report["memory"]["peak_rss_bytes"] < 64 << 20
    assert len(report["thermal"]["samples"]) == 10 and report["latency_ms"]["runs"] == 10
    assert report["fidelity"]["vs_host"]["cosine"] > 0.9999 and report["accuracy"]["top1"] > 0.5
    assert report["ops"]["rows"] and "ek_pte_runner" in report["ops"]["basis"]
    assert [p.name for p in phone.iterdir()] == [f"runner-{bundle['digest'][:16]}"], "workspace left on the phone"
    assert not (tmp_path / "pwned").exists()

    # Bit for bit what ExecuTorch computes on this host (the bundle carries the same runtime); the bundle is reused.
    x = split.x_test[:16]
    method = Runtime.get().load_program(phone_art.path / "model.pte").load_method("forward")
    import torch
    host = np.concatenate([method.execute([torch.from_numpy(x[i:i + 1].copy())])[0].numpy() for i in range(len(x))])
    with make_transport(load_profile("pixel8"), "adb", {**options, "cpus": "0"}) as link:
        session, _ = open_session(link, phone_art, timeout=30)
        try:
            assert session.facts["runner_bundle"]["cached_on_device"] and session.facts["setup_cached"]
            assert session.facts["pinned_cpus"]["cpus"] == [0]  # started under `taskset 1`
            session.load()
            assert np.array_equal(session.predict([x])[0], host)
        finally:
            session.close()


@pytest.mark.runtime
def test_native_runner_refuses_altered_files(adb_bin, phone_art, tmp_path, monkeypatch):
    """A .pte changed on the phone after its push, or a file of the bundle changed since its push, is never run."""
    from edgekit.emulators.pte_runner_build import bundle_unavailable_reason
    from edgekit.session import open_session
    import edgekit.session.native_runner  # noqa: F401
    if bundle_unavailable_reason(os.uname().machine):
        pytest.skip(bundle_unavailable_reason(os.uname().machine))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX:device")
    phone = tmp_path / "phone"
    options = {"adb": str(adb_bin), "remote_root": str(phone)}
    with make_transport(load_profile("pixel8"), "adb", options) as link:
        session, _ = open_session(link, phone_art, timeout=30)
        try:
            workspace = Path(session.workspace)
            with open(workspace / "model.pte", "r+b") as f:
                f.seek(100)
                f.write(b"\xff")
            with pytest.raises(DeviceError, match="model.pte has a different sha256 on the device"):
                session.load()
        finally:
            session.close()
        assert not workspace.exists()
        library = next(phone.glob("runner-*")) / "lib" / "libexecutorch.so"
        data = bytearray(library.read_bytes())
        data[4096] ^= 0xFF
        library.write_bytes(bytes(data))
        with pytest.raises(DeviceError, match="libexecutorch.so has a different sha256 on the device"):
            open_session(link, phone_art, timeout=30)


@pytest.mark.runtime
def test_native_runner_generates_through_adb(adb_bin, tmp_path):
    """`bench --generate` on pixel8 through the stand-in adb: the greedy loop runs inside ek_pte_runner (this host's
    bundle), and its tokens are those of the Python agent (emu-phone: ExecuTorch's Python runtime) and the host's."""
    import json
    import subprocess
    import edgekit
    from edgekit.emulators.pte_runner_build import bundle_unavailable_reason
    from edgekit.models.llama import build_tiny
    from tests.helpers import ROOT
    if bundle_unavailable_reason(os.uname().machine):
        pytest.skip(bundle_unavailable_reason(os.uname().machine))
    model, prompt = build_tiny()
    art = edgekit.compile_decoder(model, "pixel8", tmp_path / "tiny", prompt=prompt[0, :12].tolist(),
                                  reference_tokens=10)
    phone = tmp_path / "phone"
    env = {"PATH": f"{adb_bin.parent}:{os.environ['PATH']}", "FAKE_ADB_DEVICES": "R5CX:device"}
    procs = [subprocess.Popen([sys.executable, "-m", "edgekit", "bench", str(art.path), *args, "--generate", "10",
                               "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, **env})
             for args in (["-t", "pixel8", "--device-root", str(phone)], ["-t", "emu-phone"])]
    (native_out, native_err), (agent_out, agent_err) = (p.communicate(timeout=600) for p in procs)
    assert procs[0].returncode == 0, native_err[-800:]
    assert procs[1].returncode == 0, agent_err[-800:]
    native, agent = json.loads(native_out), json.loads(agent_out)
    assert native["target"]["device_agent"] == "native" and native["target"]["transport"] == "adb"
    gen = native["generation"]
    assert len(gen["tokens"]) == 10 and gen["tokens"] == agent["generation"]["tokens"]
    assert gen["vs_host"]["identical"] and agent["generation"]["vs_host"]["identical"]
    assert gen["time_to_first_token_ms"] > 0 and native["latency_ms"]["runs"] == 9  # one time per decoded token
    assert native["memory"]["process"] == "ek_pte_runner"
    assert [p.name for p in phone.iterdir()] == [f"runner-{native['target']['runner_bundle']['digest'][:16]}"]


def test_missing_adb_cli_exit_code(tmp_path, digits, digits_example):
    model, _ = digits
    art = compile_model(model, digits_example, "pixel8", tmp_path / "a")
    proc = run_cli("bench", art.path, "--target", "pixel8", env={"PATH": str(tmp_path)})
    assert proc.returncode == 3 and "adb not found" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
