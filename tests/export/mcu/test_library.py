"""The model as a C library for a user's own firmware (`edgekit compile --c-library`, edgekit/export/mcu/library.py).

The digits CNN, compiled through the real CLI with --c-library, is checked three ways against the outputs of
edgekit's own firmware agent for the same inputs (which are also TFLite Micro's): the library built for this host
with CMake and cc, through add_subdirectory and through its Zephyr module's CMake (against the agent on the
emulated Cortex-M4); and examples/mcu_app, a user-style STM32L475 application with its own start-up, linker script
and USART1 driver, cross-built with CMake + arm-none-eabi-gcc from the library compiled for b-l475e-iot01a, run on
QEMU's b-l475e-iot01a machine against the agent running that compile's own image there."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from edgekit.artifact import Artifact
from edgekit.errors import InputError
from edgekit.export.mcu import tflm
from edgekit.export.mcu.codegen import plan_model
from edgekit.export.mcu.library import MARKER, io_tensors, kernel_files, write_c_library
from edgekit.export.quant_arith import quantize
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.transport import make_transport
from tests.helpers import ROOT, run_cli

HOST_PROJECT = Path(__file__).parent / "library_host"
APP = ROOT / "examples" / "mcu_app"


def _y_lines(text: str, width: int) -> np.ndarray:
    rows = [bytes.fromhex(m) for m in re.findall(r"^y ([0-9a-f]+)\r?$", text, re.M)]
    assert rows and all(len(r) == width for r in rows), text[-2000:]
    return np.frombuffer(b"".join(rows), np.int8).reshape(len(rows), width)


@pytest.fixture(scope="module")
def library(mcu_artifact):
    lib = mcu_artifact.path.parent / "lib"
    return SimpleNamespace(path=lib, facts=json.loads((lib / MARKER).read_text()))


def _case(artifact: Artifact, facts: dict, target: str, split) -> SimpleNamespace:
    """Inputs (test digits, the two extremes, random bytes) quantized with the library's own facts, and the
    outputs edgekit's agent computes for them on `target` from `artifact` (the same model)."""
    spec = facts["inputs"][0]
    x = quantize(split.x_test[:24], "int8", {"scale": spec["scale"], "zero_point": spec["zero_point"]})
    x = x.reshape(len(x), -1)
    rng = np.random.default_rng(0)
    x = np.concatenate([x, np.full((1, spec["bytes"]), -128, np.int8), np.full((1, spec["bytes"]), 127, np.int8),
                        rng.integers(-128, 128, (6, spec["bytes"]), dtype=np.int8)])
    shaped = x.reshape(len(x), *spec["shape"][1:])
    with make_transport(load_profile(target)) as link:
        session, _ = open_session(link, artifact, timeout=30)
        try:
            agent = np.concatenate([session.invoke_raw(shaped[i:i + 1]) for i in range(len(x))])
        finally:
            session.close()
    agent = agent.reshape(len(x), -1)
    assert np.array_equal(agent, tflm.run_int8(artifact.path / "model.tflite", shaped).reshape(len(x), -1))
    return SimpleNamespace(x=x, agent=agent)


@pytest.fixture(scope="module")
def case(mcu_artifact, library, digits):
    """The agent's outputs on the emulated Cortex-M4, for the host builds."""
    return _case(mcu_artifact, library.facts, "emu-cortex-m4", digits[1])


@pytest.fixture(scope="module")
def l475(l475_artifact, digits):
    """The model compiled for the B-L475E-IOT01A, its C library, and the agent's outputs on that board's image
    under QEMU's b-l475e-iot01a (emu-b-l475e-iot01a)."""
    lib = l475_artifact.parent / "l475-lib"
    facts = json.loads((lib / MARKER).read_text())
    case = _case(Artifact.load(l475_artifact), facts, "emu-b-l475e-iot01a", digits[1])
    return SimpleNamespace(path=lib, facts=facts, x=case.x, agent=case.agent)


def test_folder_holds_the_model_the_kernels_it_calls_and_one_public_header(mcu_artifact, library):
    lib, facts = library.path, library.facts
    fw = mcu_artifact.manifest["export"]["firmware"]
    # src/model.c is byte for byte the model.c the agent's firmware was built from
    assert (lib / "src" / "model.c").read_text() == (mcu_artifact.path / "model.c").read_text()
    assert facts["model_id"] == fw["model_id"] and facts["arena_bytes"] == fw["arena_bytes"]
    assert facts["kernels"] == fw["build"]["kernels"] == "dsp" and facts["target"] == "emu-cortex-m4"
    plan = plan_model(mcu_artifact.path / "model.tflite", dsp=True)
    kernels = sorted(p.relative_to(lib / "src").as_posix() for p in (lib / "src" / "kernels").rglob("*.c"))
    assert kernels == kernel_files(plan)
    assert "kernels/dsp/ek_conv2d_s8_dsp.c" in kernels and "kernels/reference/ek_conv2d_s8.c" in kernels
    assert "kernels/reference/ek_add_s8.c" not in kernels  # the digits CNN adds nothing
    every = {p.relative_to(lib).as_posix() for p in lib.rglob("*") if p.is_file()}
    assert not {p for p in every if re.search(r"agent|protocol|port|crc32|startup", p)}
    assert set(facts["sources"]) | set(facts["headers"]) | {"CMakeLists.txt", "README.md", MARKER,
                                                            "zephyr/module.yml", "zephyr/CMakeLists.txt",
                                                            "zephyr/Kconfig"} == every
    header = (lib / "include" / "edgekit_model.h").read_text()
    assert re.findall(r"#include\s*[<\"]([^>\"]+)", header) == ["stdint.h"]  # nothing of the firmware's
    ins, outs = io_tensors(plan)
    assert facts["inputs"] == ins and facts["outputs"] == outs
    assert f"#define EDGEKIT_MODEL_ARENA_BYTES {fw['arena_bytes']}u" in header
    assert "#define EDGEKIT_MODEL_OUTPUT0_SHAPE {1, 10}" in header
    assert f"#define EDGEKIT_MODEL_INPUT0_ZERO_POINT ({ins[0]['zero_point']})" in header
    assert "EK_KERNELS_VARIANT=1" in (lib / "CMakeLists.txt").read_text()
    module = yaml.safe_load((lib / "zephyr" / "module.yml").read_text())
    assert module["build"] == {"cmake": "zephyr", "kconfig": "zephyr/Kconfig"}
    assert "config EDGEKIT_MODEL\n" in (lib / "zephyr" / "Kconfig").read_text()


def test_host_build_with_cmake_is_bit_exact_with_the_agent(tmp_path, library, case):
    """add_subdirectory(library) and the Zephyr module's CMake, built with this host's cc at -Werror."""
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", HOST_PROJECT, "-B", build, f"-DEDGEKIT_MODEL_DIR={library.path}",
                 "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"], ["cmake", "--build", build, "-j2"]):
        proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (tmp_path / "x.bin").write_bytes(case.x.tobytes())
    for exe in ("host_app", "host_app_zephyr"):
        proc = subprocess.run([str(build / exe), str(tmp_path / "x.bin")], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 0, proc.stderr
        out = library.facts["outputs"][0]
        assert (f"info arena={library.facts['arena_bytes']} inputs=1 outputs=1 in_bytes={case.x.shape[1]} "
                f"out_bytes={out['bytes']} out_rank=2 out_last=10 out_zp={out['zero_point']}") in proc.stdout
        got = _y_lines(proc.stdout, out["bytes"])
        assert np.array_equal(got, case.agent), f"{exe}: {int((got != case.agent).any(axis=1).sum())} samples differ"


@pytest.mark.emulator
def test_user_app_on_the_b_l475e_iot01a_is_bit_exact_with_the_agent(tmp_path, l475):
    """examples/mcu_app: the user's own start-up, linker script and USART1 driver; the library (compiled with
    --target b-l475e-iot01a) through add_subdirectory; cross-built with the app's toolchain file; run on QEMU's
    STM32L475 board, where edgekit's agent ran the same compile of the model."""
    library, case = l475, l475
    rows = ",\n".join("    {%s}" % ", ".join(str(int(v)) for v in row) for row in case.x)
    inputs = tmp_path / "app_inputs.h"
    inputs.write_text(f"static const int8_t app_inputs[][EDGEKIT_MODEL_INPUT0_BYTES] = {{\n{rows}\n}};\n")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", APP, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={APP / 'arm-none-eabi.cmake'}",
                 f"-DEDGEKIT_MODEL_DIR={library.path}", f"-DAPP_INPUTS={inputs}", "-DAPP_SEMIHOSTING_EXIT=ON"],
                ["cmake", "--build", build, "-j2"]):
        proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    elf = build / "app.elf"
    head = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True, text=True).stdout
    assert re.search(r"\.isr_vector\s+\S+\s+08000000", head)
    proc = subprocess.run(["qemu-system-arm", "-M", "b-l475e-iot01a", "-nographic", "-monitor", "none",
                           "-kernel", str(elf), "-serial", "stdio", "-icount", "shift=0,align=off,sleep=off",
                           "-semihosting-config", "enable=on,target=native"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and "done 0" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    got = _y_lines(proc.stdout, library.facts["outputs"][0]["bytes"])
    assert np.array_equal(got, case.agent), f"{int((got != case.agent).any(axis=1).sum())} samples differ"


def test_io_tensors_in_the_models_order():
    spec = {"shape": [1, 8], "bytes": 8, "offset": 16, "scale": 0.5, "zero_point": -3}
    single = SimpleNamespace(inputs=[spec], outputs=[{**spec, "offset": 0, "zero_point": 4}])
    ins, outs = io_tensors(single)
    assert ins == [{"name": "input0", "shape": [1, 8], "dtype": "int8", "bytes": 8, "offset": 16, "scale": 0.5,
                    "zero_point": -3}]
    assert outs[0]["name"] == "output0" and outs[0]["offset"] == 0 and outs[0]["zero_point"] == 4
    a = {**spec, "name": "b", "dtype": "int8", "signature_index": 1}
    b = {**spec, "name": "a", "dtype": "int8", "offset": 32, "signature_index": 0}
    ins, outs = io_tensors(SimpleNamespace(inputs=[a, b], outputs=[{**spec, "name": "y", "dtype": "int8"}]))
    assert [t["name"] for t in ins] == ["a", "b"] and [t["offset"] for t in ins] == [32, 16]  # the model's order
    assert outs[0]["name"] == "y"


def test_library_folder_is_replaced_only_when_it_is_one(tmp_path, mcu_artifact, library):
    tflite = mcu_artifact.path / "model.tflite"
    first = write_c_library(tflite, tmp_path / "lib", dsp=False)
    assert first.manifest["kernels"] == "reference" and not (tmp_path / "lib" / "src" / "kernels" / "dsp").exists()
    assert "EK_KERNELS_VARIANT=0" in (tmp_path / "lib" / "CMakeLists.txt").read_text()
    again = write_c_library(mcu_artifact, tmp_path / "lib")  # an earlier library is replaced
    assert again.manifest == library.facts
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="not an edgekit C library"):
        write_c_library(mcu_artifact, tmp_path / "mine")
    with pytest.raises(InputError, match="overlap"):
        write_c_library(mcu_artifact, mcu_artifact.path / "lib")


def test_cli_refuses_c_library_for_a_target_without_firmware(tmp_path):
    result = run_cli("compile", "examples/digits_cnn.py:build_quick", "--target", "emu-phone", "-o", tmp_path / "a",
                     "--c-library", tmp_path / "lib")
    assert result.returncode == 1 and "--c-library needs a microcontroller target" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "lib").exists()
