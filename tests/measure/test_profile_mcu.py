"""Per-kernel profiles on the microcontroller path (`bench --profile` for c-firmware): the generated model.c marks
every kernel call, the agent times them (RUN with EK_RUN_PROFILE, then PROFILE), FirmwareSession.profile averages
them into a RawProfile and edgekit/measure/profile_mcu.py names each call's module. A small untrained CNN compiled
for emu-cortex-m4 (about 10 s) serves every test here; the QEMU runs take a few seconds each."""
from __future__ import annotations

import ctypes
import json
import struct

import numpy as np
import pytest
import torch
from torch import nn

import edgekit
from edgekit.artifact import Artifact
from edgekit.export.mcu.codegen import generate
from edgekit.measure.profile_mcu import map_firmware_profile
from edgekit.session import firmware_protocol as P
from tests.export.mcu import host_run
from tests.helpers import run_cli

TARGET = "emu-cortex-m4"
PROFILE_START = 0xFFFFFFFF
# ops litert-torch adds that no module of the model produced: the flatten's layout TRANSPOSE and such
GLUE_OPS = {"TRANSPOSE", "RESHAPE", "QUANTIZE", "PAD"}


class TinyNet(nn.Module):
    """conv + ReLU, depthwise, pointwise, pool, flatten, linear: the kernels of the digits CNN, at 8x8."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.pw(torch.relu(self.dw(self.stem(x))))))
        return self.head(torch.flatten(x, 1))


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory) -> Artifact:
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32)
    return edgekit.compile_model(TinyNet().eval(), (torch.from_numpy(x[:1]),), TARGET,
                                 tmp_path_factory.mktemp("mcu-profile") / "art",
                                 recipe=[edgekit.Int8StaticConfig()], calibration=edgekit.Dataset(x))


def _calls(art: Artifact) -> list[dict]:
    fw = art.manifest["export"]["firmware"]
    return json.loads((art.path / fw["profile_table"]).read_text())["calls"]


def test_the_artifact_lists_every_kernel_call_of_model_c(tiny_artifact):
    """kernel_calls.json (in the manifest's files) holds one entry per kernel call of model.c, in its order, each
    with the .tflite op, its output tensor and the C function; model.c's table has exactly that many slots."""
    art = tiny_artifact
    assert "kernel_calls.json" in art.manifest["files"]
    calls, model_c = _calls(art), (art.path / "model.c").read_text()
    assert len(calls) == art.manifest["export"]["firmware"]["kernel_calls"] > 0
    assert f"const uint32_t ek_model_calls = {len(calls)}u;" in model_c
    assert f"uint32_t ek_model_profile[{len(calls)}];" in model_c
    profiled = model_c[model_c.index("ek_status ek_model_eval_profiled("):]
    assert [line.split("(s = ")[1].split("(")[0] for line in profiled.splitlines() if "(s = " in line] \
        == [c["kernel"] for c in calls]
    assert [c["call"] for c in calls] == list(range(len(calls)))
    assert all(c["tensor"] and c["op"] and c["kernel"].endswith("_eval") for c in calls)


@pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")
def test_profiled_eval_marks_each_call_and_computes_the_same(tiny_artifact, tmp_path):
    """On this host: ek_model_eval_profiled calls mark(START), then mark(k) after call k, and leaves the same
    outputs as ek_model_eval."""
    gen = generate(tiny_artifact.path / "model.tflite", dsp=True)
    assert gen.source == (tiny_artifact.path / "model.c").read_text()
    lib = host_run.build(gen, tmp_path, dsp=True)
    x = np.random.default_rng(1).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    plain = host_run.run(lib, gen, x)
    marks: list[int] = []
    mark = ctypes.CFUNCTYPE(None, ctypes.c_uint32)(marks.append)
    lib.ek_model_eval_profiled.argtypes = [ctypes.c_void_p]
    arena = ctypes.addressof((ctypes.c_int8 * gen.plan.arena.arena_bytes).in_dll(lib, "ek_arena"))
    ctypes.memmove(arena + gen.plan.inputs[0]["offset"], x.tobytes(), x.nbytes)
    assert lib.ek_model_eval_profiled(ctypes.cast(mark, ctypes.c_void_p)) == 0
    n = len(gen.plan.steps)
    assert marks == [PROFILE_START, *range(n)]
    out = gen.plan.outputs[0]
    assert ctypes.string_at(arena + out["offset"], out["bytes"]) == plain.tobytes()


def test_protocol_pages():
    page = P.parse_profile(struct.pack("<III", 3, P.PROFILE_CLOCK_TICKS, 1) + struct.pack("<2I", 7, 9))
    assert (page.calls, page.first, page.values) == (3, 1, [7, 9])
    with pytest.raises(P.FrameError):
        P.parse_profile(struct.pack("<III", 2, 0, 1) + struct.pack("<2I", 7, 9))  # past the table's end
    assert P.run_payload(1) == struct.pack("<I", 1)  # a plain RUN is what every firmware takes
    assert P.run_payload(2, P.RUN_PROFILE) == struct.pack("<II", 2, P.RUN_PROFILE)


def test_mapper_names_modules_glue_and_the_last_op_by_its_weights(tiny_artifact):
    calls = _calls(tiny_artifact)
    raw = {"unit": "instructions", "events": [{"name": c["op"], "index": c["index"], "kernel": c["kernel"],
                                                "tensor": c["tensor"], "calls": 1, "value": 1.0} for c in calls]}
    rows = map_firmware_profile(tiny_artifact, raw)
    by_op = {r["name"]: r["module"] for r in rows}
    # the last op's output is named after the signature ("serving_default_output_0_output"); its bias is not
    assert by_op["FULLY_CONNECTED"] == "head" and "head" not in calls[-1]["tensor"]
    assert by_op["MAX_POOL_2D"] == "pool"
    assert {r["module"] for r in rows if r["name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")} == {"stem.0", "dw", "pw"}


@pytest.mark.emulator
def test_profile_rows_add_up_to_the_whole_inference(tiny_artifact):
    """Under QEMU: one row per kernel call in counted instructions, each a module of the model or glue, adding up
    to the profiled inference within 5 %; profiling costs under 1 %; the plain inference is what bench measures."""
    from edgekit.profiles import load_profile
    from edgekit.session import open_session
    from edgekit.transport import make_transport
    art = tiny_artifact
    modules = art.manifest["model"]["modules"]
    with make_transport(load_profile(TARGET)) as link:
        session, _ = open_session(link, art, timeout=30)
        try:
            session.hello()
            session.load()
            raw = session.profile(3)
            plain = session.bench(2, 0)["counters"]["instructions_per_inference"]
        finally:
            session.close()
    assert raw["unit"] == "instructions" and "QEMU" in raw["basis"] and raw["runs"] == 3
    rows = map_firmware_profile(art, raw)
    assert len(rows) == len(_calls(art))
    total = sum(r["value"] for r in rows)
    assert total == pytest.approx(raw["whole"], rel=0.05)
    assert raw["whole_unprofiled"] <= raw["whole"] < 1.01 * raw["whole_unprofiled"]
    assert raw["whole_unprofiled"] == pytest.approx(plain, abs=40)  # one SysTick tick: 40 instructions
    for row in rows:
        assert row["value"] > 0
        assert row["module"] in modules or (row["module"] is None and row["name"] in GLUE_OPS), row
    assert max(rows, key=lambda r: r["value"])["name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")


@pytest.mark.emulator
def test_bench_profile_through_the_cli(tiny_artifact):
    """`edgekit bench ART -t emu-cortex-m4 --profile --json`: the report's `ops` rows cover the inference."""
    proc = run_cli("bench", tiny_artifact.path, "-t", TARGET, "--profile", "--runs", "2", "--warmup", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    ops = json.loads(proc.stdout)["ops"]
    assert ops["unit"] == "instructions" and ops["coverage"] == pytest.approx(1.0, abs=0.05)
    assert 0 <= ops["overhead"] < 0.01
    modules = set(tiny_artifact.manifest["model"]["modules"])
    assert {r["module"] for r in ops["rows"]} <= modules | {"(glue added by the converter)"}
