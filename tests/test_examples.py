"""The examples, each run as a user runs it (one command)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.emulator
def test_digits_on_cortex_m_reports_the_accuracy_the_device_computed():
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed (make system-deps)")
    proc = subprocess.run([sys.executable, "examples/digits_on_cortex_m.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("emu-cortex-m4: accuracy on the device ") and "of 360 digits" in line
    assert float(line.split("device ")[1].split("%")[0]) > 90


@pytest.mark.runtime
def test_llm_on_phone_prints_the_side_by_side_table(tmp_path):
    """The decoder example at its smallest (a tiny decoder trained for a few steps, one GPTQ variant): compiled,
    perplexity through the .pte, tokens generated on the emulated phone and checked against the host's."""
    proc = subprocess.run([sys.executable, "examples/llm_on_phone.py", "--size", "tiny", "--steps", "3",
                           "--context", "32", "--eval-windows", "1", "--new-tokens", "4", "--group-size", "32",
                           "--only", "INT4 GPTQ g32"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "EDGEKIT_CACHE": str(tmp_path), "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "INT4 GPTQ" in proc.stdout and "identical" in proc.stdout, proc.stdout  # device tokens = host's
    assert "perplexity on 32 held-out bytes" in proc.stdout


@pytest.mark.runtime
def test_sentence_encoder_on_phone_compares_int8_on_the_device_with_host_fp32(tmp_path):
    """The encoder example at its smallest (a seeded 1-layer encoder): FP32 and INT8 .pte files benchmarked on the
    emulated phone, the held-out sentences embedded there with the INT8 file; its embeddings must stay close to the
    host's FP32 ones. (--no-fp32-embeddings saves a device session; the FP32 report still checks that file.)"""
    proc = subprocess.run([sys.executable, "examples/sentence_encoder_on_phone.py", "--size", "tiny", "--runs", "5",
                           "--no-fp32-embeddings", "-o", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "latency time base: wall-clock on " in proc.stdout and "seeded random weights" in proc.stdout, proc.stdout
    assert "FP32" in proc.stdout and "int8-dynamic-token" in proc.stdout  # the side-by-side table
    summary = json.loads((tmp_path / "summary.json").read_text())
    fp32, int8 = summary["variants"]["FP32"], summary["variants"]["INT8"]
    assert {fp32["target"], int8["target"]} == {"emu-phone"} and int8["emulated"]
    assert (tmp_path / "fp32" / "manifest.json").is_file() and (tmp_path / "int8" / "manifest.json").is_file()
    assert int8["size_bytes"] < 0.5 * fp32["size_bytes"]  # int8 linears and embedding rows
    assert fp32["report_fidelity"]["vs_float"]["max_abs"] < 1e-5  # the FP32 file computes what PyTorch computes
    assert int8["cosine_vs_host_fp32"]["min"] > 0.999  # INT8 on the device stays close to FP32 on the host
    manifest = json.loads((tmp_path / "int8" / "manifest.json").read_text())
    # ... and is really quantized: every linear's weights; the attention matmuls (activations by activations, 11% of
    # this 1-layer encoder's MACs) stay float on XNNPACK, so the manifest calls it mixed
    share = manifest["model"]["int8_share"]
    assert share["weights"] == 1.0 and 0.85 < share["macs"] < 1.0 and manifest["model"]["compute_dtype"] == "mixed"
    assert {f["op"] for f in share["float_layers"]} == {"matmul"}
    assert int8["same_neighbour_as_host_fp32"] >= 0.85 and summary["sentences"]["queries"] >= 40
    assert int8["latency_ms"]["p50"] > 0 and int8["peak_rss_bytes"] > 0
    assert "INT8 on emu-phone: " in proc.stdout.splitlines()[-1] and "x smaller" in proc.stdout.splitlines()[-1]
