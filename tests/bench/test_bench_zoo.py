"""The fast subset of the conformance zoo, through the real benchmark script: the MLPerf Tiny keyword-spotting
DS-CNN (asymmetric padding, 49x10 MFCCs) at INT8 on the emulated phone and microcontroller (the other cells
are what `make zoo` adds; this model's INT8 .tflite for the Pi is compiled in tests/export/test_tflite.py)."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = [pytest.mark.runtime, pytest.mark.emulator]
CELLS = ["phone-int8", "mcu-int8"]


def test_kws_dscnn_on_every_target(tmp_path):
    out = tmp_path / "zoo.json"
    proc = subprocess.run([sys.executable, "bench/bench_zoo.py", "--models", "kws_dscnn", "--cells", ",".join(CELLS),
                           "--runs", "3", "--out", str(out), "--matrix", str(tmp_path / "zoo.md")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["machine"]["cpu"] and "command" in doc
    cells = doc["models"]["kws_dscnn"]["cells"]
    assert {c: cells[c]["status"] for c in CELLS} == {c: "ok" for c in CELLS}, {c: cells[c].get("reason") for c in CELLS}
    for name in CELLS:
        cell = cells[name]
        assert cell["size_bytes"] > 0 and cell["latency_p50_ms"] > 0
        assert cell["cosine_vs_fp32"] >= (0.99 if "int8" in name else 0.9999), (name, cell["cosine_vs_fp32"])
    assert cells["mcu-int8"]["bit_exact_with_tflite_micro"] is True
    assert cells["mcu-int8"]["instructions_per_inference"] > 1e6  # QEMU -icount, not host time
    assert "QEMU virtual time" in cells["mcu-int8"]["latency_time_base"]
    matrix = (tmp_path / "zoo.md").read_text()
    assert "| kws_dscnn | mlperf-tiny | not run | ok," in matrix  # phone-fp32, not run here, is the first column
