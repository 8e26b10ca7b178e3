""".tflite per-operator profiles: LiteRT's profiler in the Pi agent (TFLiteModel.profile) and the mapper that names
each operator's module (edgekit/measure/profile_tflite.py)."""
import json

import pytest

from edgekit.agent.agent import TFLiteModel
from edgekit.emulators.netns_sshd import unavailable_reason
from edgekit.measure.op_profile import GLUE, ROOT as OWN_FORWARD, mapper_for
from edgekit.measure.profile_tflite import module_of_event
from tests.helpers import ROOT, run_cli

PI_PYTHON = ROOT / ".venv-pi" / "bin" / "python"
KWS = "edgekit/models/zoo/kws_dscnn.py:build"
DIGITS = "edgekit.models.digits.DigitsCNN/torch.nn.modules.container.Sequential_features"
MODULES = {"features.0": {"type": "Conv2d", "macs": 9216}, "features.1": {"type": "ReLU", "macs": 0},
           "classifier": {"type": "Linear", "macs": 1280}}


def test_events_name_their_module_or_glue():
    fused = (f"{DIGITS}/torch.nn.modules.activation.ReLU_1;;{DIGITS}/torch.nn.modules.conv.Conv2d_0;1")
    assert module_of_event({"name": "CONV_2D", "index": 1, "kernel": "XNNPACK", "tensor": fused}, MODULES) \
        == "features.0"  # conv + ReLU fused: the one with the MACs
    # The input's layout TRANSPOSE is named after the conv it feeds, but the agent marked it glue.
    assert module_of_event({"name": "TRANSPOSE", "index": 0, "kernel": "XNNPACK", "tensor": fused, "glue": True},
                           MODULES) is None
    # The last op's output took the signature's name: its weights name the module.
    last = {"name": "FULLY_CONNECTED", "index": 9, "kernel": "XNNPACK", "tensor": "serving_default_output_0_output",
            "input_tensors": ["edgekit.models.digits.DigitsCNN;1", "torch.export._trace.Wrapper;1",
                              "edgekit.models.digits.DigitsCNN/torch.nn.modules.linear.Linear_classifier;"]}
    assert module_of_event(last, MODULES) == "classifier"
    assert mapper_for("tflite").__name__ == "tflite_rows"


@pytest.mark.parametrize("xnn, nodes, expected", [
    # one XNNPACK operator per node, kinds that fit (a 1x1 CONV_2D runs as a GEMM)
    (("Convolution (NHWC, F32) IGEMM", "Fully Connected (NC, F32) GEMM", "Add (ND)"),
     ["CONV_2D", "CONV_2D", "ADD"], [0, 1, 2]),
    # XNNPACK folds a PAD into the depthwise conv after it: the PAD gets no operator
    (("Fully Connected (NC, QS8, QC8W) GEMM", "Convolution (NHWC, QC8) DWConv", "Fully Connected (NC, F32) GEMM"),
     ["CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "CONV_2D"], [0, 2, 3]),
    # a node XNNPACK runs as two operators
    (("Transpose (ND, X32) Transpose", "Softmax (NC, F32)", "Multiply (ND)", "Transpose (ND, X32) Transpose"),
     ["TRANSPOSE", "SOFTMAX", "TRANSPOSE"], [0, 1, 1, 2]),
])
def test_xnnpack_operators_are_matched_to_nodes_in_order(xnn, nodes, expected):
    assert TFLiteModel._match_xnnpack(xnn, nodes) == expected


@pytest.mark.runtime
@pytest.mark.emulator
@pytest.mark.skipif(not PI_PYTHON.exists(), reason=".venv-pi missing: run `make setup` to build it")
@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_profile_on_the_emulated_pi_maps_every_operator(tmp_path):
    """The MLPerf Tiny DS-CNN through the CLI on emu-rpi4-x86 with --profile --html: XNNPACK's operators one row
    each, each row a module of the model or glue, the rows adding up to most of an unprofiled inference measured
    in the same run, and the costliest layers drawn in the HTML page. On this x86 host the DS-CNN takes ~60 us and
    XNNPACK floors each operator to whole microseconds, which loses up to 1 us per operator: the 5% of issue 23
    is checked on the emulated Arm cores, whose inferences are long enough (bench/bench_profile.py)."""
    art, page = tmp_path / "art", tmp_path / "report.html"
    result = run_cli("compile", KWS, "-t", "emu-rpi4-x86", "-o", art)
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_cli("bench", art, "-t", "emu-rpi4-x86", "--runs", "5", "--profile", "--json", "--html", page)
    assert result.returncode == 0, result.stderr[-2000:]
    ops = json.loads(result.stdout)["ops"]
    assert ops["unit"] == "ns" and ops["runs"] >= 1 and "LiteRT 2.3.0 CompiledModel" in ops["basis"]
    assert 0.7 < ops["coverage"] < 1.05, ops
    modules = set(json.loads((art / "manifest.json").read_text())["model"]["modules"])
    rows = ops["rows"]
    assert all(r["module"] in modules | {GLUE, OWN_FORWARD} for r in rows), [(r["op"], r["module"]) for r in rows]
    operators = [r for r in rows if r["kernel"] == "XNNPACK"]
    assert operators and all(isinstance(r["index"], int) for r in operators)  # LiteRT's XNNPACK takes it all
    assert len({r["index"] for r in operators}) == len(operators)
    convs = [r for r in operators if r["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert convs[0]["macs"] and convs[0]["per_mac"] > 0 and convs[0]["module_type"] == "Conv2d"
    assert ops["overhead"] is not None
    assert "costliest operators" in page.read_text()
