"""The digits model as C firmware under QEMU: byte-for-byte equal to TFLite Micro over the whole test split,
measured through the shared runner, and robust to malformed frames."""
import socket
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.session import firmware_protocol as P
from edgekit.export.mcu import tflm
from edgekit.measure.runner import benchmark
from edgekit.modelio import Dataset
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.transport import make_transport
from tests.export.mcu.conftest import quantize_input

pytestmark = pytest.mark.emulator


def test_artifact_layout_and_memory_figures(mcu_artifact):
    fw = mcu_artifact.manifest["export"]["firmware"]
    assert mcu_artifact.format == "c-firmware" and mcu_artifact.manifest["model_file"] == "firmware.bin"
    assert {"model.tflite", "model.c", "firmware.elf", "firmware.bin", "reference.npz"} <= set(mcu_artifact.manifest["files"])
    assert fw["build"]["kernels"] == "dsp" and fw["build"]["ram_region_bytes"] == 256 * 1024
    assert fw["arena_lower_bound_bytes"] <= fw["arena_bytes"] <= 0.7 * fw["tflite_micro_arena_bytes"]
    assert fw["flash_bytes"] <= fw["weight_bytes"] + 32 * 1024


def test_whole_test_split_equals_tflite_micro_byte_for_byte(mcu_artifact, digits):
    _, split = digits
    x = quantize_input(mcu_artifact, split.x_test)
    expected = tflm.run_int8(mcu_artifact.path / "model.tflite", x)
    profile = load_profile("emu-cortex-m4")
    with make_transport(profile) as link:
        session, _ = open_session(link, mcu_artifact, timeout=30)
        try:
            assert session.hello()["machine"]["core"] == "cortex-m4"
            got = np.concatenate([session.invoke_raw(x[i:i + 1]) for i in range(len(x))])
        finally:
            session.close()
    assert got.dtype == np.int8 and got.shape == expected.shape == (len(split.x_test), 10)
    assert np.array_equal(got, expected), f"{int((got != expected).any(axis=1).sum())} samples differ"


def test_benchmark_report(mcu_artifact, digits):
    _, split = digits
    report = benchmark(mcu_artifact, "emu-cortex-m4", runs=5, warmup=1,
                       eval_data=Dataset(split.x_test[:40], split.y_test[:40]))
    lat = report["latency_ms"]
    # -icount: deterministic up to one SysTick tick (40 instructions, the phase of the 25 MHz tick)
    assert lat["min"] > 0 and lat["max"] - lat["min"] <= 40e-6 + 1e-9 and "virtual time" in lat["measured_on"]
    counters = report["counters"]
    assert counters["instructions_per_inference"] == pytest.approx(lat["p50"] * 1e6, abs=40)
    macs = mcu_artifact.manifest["export"]["firmware"]["macs"]
    assert macs < counters["instructions_per_inference"] < 20 * macs
    est = report["device_estimate"]
    assert est["estimated"] and "cycles/instruction" in est["basis"]
    assert est["latency_ms"] == pytest.approx(counters["instructions_per_inference"] * 1.5 / 64e6 * 1e3)
    assert report["energy"]["estimated"]
    mem = report["memory"]
    fw = mcu_artifact.manifest["export"]["firmware"]
    assert mem["arena_bytes"] == fw["arena_bytes"] and 0 < mem["arena_used_bytes"] <= mem["arena_bytes"]
    assert 0 < mem["stack_peak_bytes"] < mem["stack_bytes"] and mem["flash_bytes"] == fw["flash_bytes"]
    assert report["fidelity"]["vs_host"]["max_abs"] == 0.0  # the host reference is TFLite Micro
    assert report["accuracy"]["samples"] == 40 and report["accuracy"]["top1"] > 0.8


def _raw_exchange(sock: socket.socket, frame: bytes) -> P.Frame:
    sock.sendall(frame)
    dec = P.FrameDecoder()
    while True:
        frames = dec.feed(sock.recv(4096))
        if frames:
            return frames[0]


def assert_malformed_frames_get_status_codes(sock: socket.socket, input_bytes: int, output_bytes: int) -> None:
    """Every kind of bad frame gets its status code, and the agent answers normally afterwards."""
    bad_crc = bytearray(P.encode_frame(P.Cmd.INFO, 1))
    bad_crc[-1] ^= 0xFF
    assert _raw_exchange(sock, bytes(bad_crc)) == P.Frame(P.Status.BAD_CRC, 1, b"")
    too_long = P.MAGIC + struct.pack("<BBH", P.Cmd.SET_INPUT, 2, P.MAX_PAYLOAD + 1)
    assert _raw_exchange(sock, too_long).kind == P.Status.BAD_LENGTH
    assert _raw_exchange(sock, P.encode_frame(0x7F, 3)).kind == P.Status.UNKNOWN_CMD
    beyond = P.set_input_payload(input_bytes - 4, b"\x00" * 8)  # 4 bytes past the input's end
    assert _raw_exchange(sock, P.encode_frame(P.Cmd.SET_INPUT, 4, beyond)).kind == P.Status.BAD_ARG
    too_much = P.get_output_payload(0, output_bytes + 1)
    assert _raw_exchange(sock, P.encode_frame(P.Cmd.GET_OUTPUT, 5, too_much)).kind == P.Status.BAD_ARG
    assert _raw_exchange(sock, P.encode_frame(P.Cmd.RUN, 6, P.run_payload(0))).kind == P.Status.BAD_ARG
    assert _raw_exchange(sock, P.encode_frame(P.Cmd.RUN, 7, b"\x01")).kind == P.Status.BAD_LENGTH
    info = _raw_exchange(sock, P.encode_frame(P.Cmd.INFO, 8))  # still answering normally
    assert info.kind == P.Status.OK and info.seq == 8 and P.parse_info(info.payload).ready


def test_malformed_frames_get_status_codes(mcu_artifact):
    from edgekit.emulators.qemu import QemuMachine
    with tempfile.TemporaryDirectory() as tmp, \
            QemuMachine("mps2-an386", mcu_artifact.path / "firmware.elf", limit_s=60, log=Path(tmp) / "q.log") as q:
        with q.connect() as sock:
            assert_malformed_frames_get_status_codes(sock, 64, 10)  # the digits CNN: 8x8 in, 10 scores out
