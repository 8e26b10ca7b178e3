"""Models with several inputs or outputs on the emulated Cortex-M4, through the real CLI: a two-output model (a
class head and a box head) and a two-input model (base + conv(side)) compile to firmware, bench under QEMU with
every output equal to the host reference (TFLite Micro), and the protocol moves their packed tensors in frames
that span two tensors while refusing any offset outside them."""
import json

import numpy as np
import pytest

from edgekit.artifact import Artifact
from edgekit.errors import DeviceError
from edgekit.export.mcu import tflm
from edgekit.export.quant_arith import quantize
from edgekit.profiles import load_profile
from edgekit.session import firmware_protocol as P
from edgekit.session import open_session
from edgekit.transport import make_transport
from tests.export.mcu import multi_io_models as models
from tests.helpers import run_cli_together

pytestmark = pytest.mark.emulator
TARGET = "emu-cortex-m4"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """{"heads": the two-output artifact, "sum": the two-input one}, compiled together through the CLI, with
    their eval data. PT2E leaves an ADD of an input and a convolution in float: the two-input model takes the
    ai-edge-quantizer route (a recipe step), as a user would."""
    d = tmp_path_factory.mktemp("multi_io")
    np.savez(d / "heads.npz", **models.two_heads_data(32))
    np.savez(d / "sum.npz", **models.sum_of_two_data(32))
    (d / "aeq.toml").write_text('[[step]]\nmethod = "int8"\nroute = "ai-edge-quantizer"\n')
    results = run_cli_together(
        ["compile", f"{models.SPEC}:two_heads", "-t", TARGET, "-q", "int8", "--calibration", d / "heads.npz",
         "-o", d / "heads"],
        ["compile", f"{models.SPEC}:sum_of_two", "-t", TARGET, "--recipe", d / "aeq.toml", "--calibration",
         d / "sum.npz", "-o", d / "sum"])
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    return {name: (Artifact.load(d / name), d / f"{name}.npz") for name in ("heads", "sum")}


def _bench(artifacts) -> dict:
    results = run_cli_together(*[["bench", art.path, "-t", TARGET, "--runs", "2", "--eval", data, "--json"]
                                 for art, data in artifacts.values()])
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    return {name: json.loads(r.stdout) for name, r in zip(artifacts, results)}


@pytest.fixture(scope="module")
def reports(artifacts):
    return _bench(artifacts)


def test_two_outputs_run_on_the_mcu_equal_to_the_host(artifacts, reports):
    art, _ = artifacts["heads"]
    fw = art.manifest["export"]["firmware"]
    assert [o["shape"] for o in fw["outputs"]] == [[1, 5], [1, 4]] and len(fw["inputs"]) == 1
    assert fw["outputs"][0]["scale"] != fw["outputs"][1]["scale"]  # each dequantized with its own
    assert fw["output_bytes"] == 9
    fidelity = reports["heads"]["fidelity"]
    assert [o["name"] for o in fidelity["outputs"]] == ["output_0", "output_1"]
    for o in fidelity["outputs"]:
        assert o["vs_host"]["cosine"] > 0.9999 and o["vs_host"]["max_abs"] == 0.0, o  # the host runs TFLite Micro
        assert o["vs_float"]["cosine"] > 0.99, o
    assert reports["heads"]["counters"]["instructions_per_inference"] > fw["macs"]
    assert reports["heads"]["accuracy"]["samples"] == 32


def test_two_inputs_run_on_the_mcu_equal_to_the_host(artifacts, reports):
    art, _ = artifacts["sum"]
    fw = art.manifest["export"]["firmware"]
    assert [i["name"] for i in art.manifest["inputs"]] == ["base", "side"]
    assert [(i["shape"], i["signature_index"]) for i in fw["inputs"]] == [([1, 8, 6, 6], 0), ([1, 4, 6, 6], 1)]
    assert fw["inputs"][0]["scale"] != fw["inputs"][1]["scale"]  # each quantized with its own
    report = reports["sum"]
    assert report["fidelity"]["vs_host"]["max_abs"] == 0.0 and report["fidelity"]["vs_float"]["cosine"] > 0.99
    assert report["accuracy"]["samples"] == 32  # --eval: 32 samples of both inputs through the device


@pytest.mark.parametrize("name", ["heads", "sum"])
def test_frames_span_tensors_and_offsets_outside_are_refused(artifacts, name):
    """Inputs written 7 bytes a frame and outputs read 3 a frame (frames across the boundary of two tensors) give
    TFLite Micro's outputs; SET_INPUT, GET_OUTPUT and TENSORS past the end are BAD_ARG, and the agent answers on."""
    art, data = artifacts[name]
    fw = art.manifest["export"]["firmware"]
    tflite = art.path / "model.tflite"
    with np.load(data) as d:
        arrays = [d[i["name"]] for i in art.manifest["inputs"]]
    q = [quantize(arrays[spec["signature_index"]][:3], "int8", spec) for spec in fw["inputs"]]
    expected = tflm.run_int8_many(tflite, q)
    in_total, out_total = fw["input_bytes"], fw["output_bytes"]
    with make_transport(load_profile(TARGET)) as link:
        session, _ = open_session(link, art, timeout=30)
        try:
            session.hello()
            info = session.info
            assert (info.num_inputs, info.num_outputs) == (len(fw["inputs"]), len(fw["outputs"]))
            assert (info.input_bytes, info.output_bytes) == (in_total, out_total)
            assert session.tensor_sizes() == ([i["bytes"] for i in fw["inputs"]], [o["bytes"] for o in fw["outputs"]])
            for s in range(3):
                packed = b"".join(x[s:s + 1].tobytes() for x in q)
                for off, n in P.pieces(in_total, 7):
                    session.request(P.Cmd.SET_INPUT, P.set_input_payload(off, packed[off:off + n]))
                session.run(1)
                got = b"".join(session.request(P.Cmd.GET_OUTPUT, P.get_output_payload(off, n))
                               for off, n in P.pieces(out_total, 3))
                at = 0
                for spec, e in zip(fw["outputs"], expected):
                    assert got[at:at + spec["bytes"]] == e[s].tobytes(), (s, spec["name"])
                    at += spec["bytes"]
            refused = [(P.Cmd.SET_INPUT, P.set_input_payload(in_total - 3, bytes(4))),
                       (P.Cmd.SET_INPUT, P.set_input_payload(in_total + 1, b"")),
                       (P.Cmd.SET_INPUT, P.set_input_payload(0xFFFFFFFF, bytes(2))),
                       (P.Cmd.GET_OUTPUT, P.get_output_payload(out_total - 1, 2)),
                       (P.Cmd.GET_OUTPUT, P.get_output_payload(0xFFFFFFFF, 1)),
                       (P.Cmd.TENSORS, P.tensors_payload(len(fw["inputs"]) + len(fw["outputs"]) + 1))]
            for cmd, payload in refused:
                with pytest.raises(DeviceError, match="BAD_ARG"):
                    session.request(cmd, payload)
            session.request(P.Cmd.SET_INPUT, P.set_input_payload(in_total, b""))  # the end itself: nothing to write
            assert session.request(P.Cmd.TENSORS, P.tensors_payload(len(fw["inputs"]) + len(fw["outputs"]))) == b""
            assert P.parse_info(session.request(P.Cmd.INFO)).ready  # still answering normally
        finally:
            session.close()
