"""Run a generated model.c on this host: the firmware kernels and the model compiled into a shared library with
the host C compiler (the kernels are portable C; the DSP variant falls back to plain C over the same packed
weights). Fast bit-exactness checks against TFLite Micro without QEMU; the emulated cores are tested in the
*_qemu tests."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgekit.export.mcu.build import FIRMWARE_DIR
from edgekit.export.mcu.codegen import GeneratedModel

HAVE_CC = shutil.which("cc") is not None


def build(gen: GeneratedModel, workdir: Path, dsp: bool) -> ctypes.CDLL:
    workdir.mkdir(parents=True, exist_ok=True)
    model_c = workdir / "model.c"
    model_c.write_text(gen.source)
    lib = workdir / "libmodel.so"
    sources = sorted((FIRMWARE_DIR / "kernels").glob("*.c")) + [model_c]
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-std=c11", "-Wall", "-Werror",
                    *(["-DEK_KERNELS_DSP"] if dsp else []), f"-I{FIRMWARE_DIR / 'include'}",
                    *map(str, sources), "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


def run(lib: ctypes.CDLL, gen: GeneratedModel, samples: np.ndarray) -> np.ndarray:
    """int8 samples (N, *input shape[1:]) -> int8 outputs (N, *output shape[1:])."""
    assert lib.ek_model_prepare() == 0
    arena = (ctypes.c_int8 * max(gen.plan.arena_bytes, 8)).in_dll(lib, "ek_arena")
    base = ctypes.addressof(arena)
    i_off, i_n = gen.input_spec["offset"], gen.input_spec["bytes"]
    o_off, o_n = gen.output_spec["offset"], gen.output_spec["bytes"]
    outs = []
    for x in np.ascontiguousarray(samples, dtype=np.int8):
        assert x.nbytes == i_n
        ctypes.memmove(base + i_off, x.ctypes.data, i_n)
        assert lib.ek_model_eval() == 0
        outs.append(np.frombuffer(ctypes.string_at(base + o_off, o_n), np.int8).copy())
    return np.stack(outs).reshape((len(samples), *gen.output_spec["shape"][1:]))
