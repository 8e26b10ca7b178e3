"""Run a generated model.c on this host: the firmware kernels the build would pick (build.kernel_sources) and the
model compiled into a shared library with the host C compiler (the kernels are portable C; the DSP variant falls
back to plain C over the same packed weights). Fast bit-exactness checks against TFLite Micro without QEMU; the
emulated cores are tested in the *_qemu tests."""
from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgekit.export.mcu import kernels
from edgekit.export.mcu.build import FIRMWARE_DIR, kernel_sources
from edgekit.export.mcu.codegen import GeneratedModel

HAVE_CC = shutil.which("cc") is not None


def build_kernels(workdir: Path, dsp: bool = True) -> ctypes.CDLL:
    """The kernels alone (both variants by default), to call one by one through ctypes."""
    workdir.mkdir(parents=True, exist_ok=True)
    lib = workdir / "libek.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-std=c11", "-Wall", "-Werror",
                    f"-DEK_KERNELS_VARIANT={kernels.variant_id(dsp)}", f"-I{FIRMWARE_DIR / 'include'}",
                    *map(str, kernel_sources(dsp)), "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


_CTYPES = {kernels.I32: ctypes.c_int32, kernels.I32X4: ctypes.c_int32 * 4, kernels.P_I32: ctypes.c_void_p,
           kernels.P_I8: ctypes.c_void_p}


@functools.cache  # one class per struct: ctypes refuses a nested struct of an equal but distinct class
def ctypes_struct(struct: kernels.Struct) -> type[ctypes.Structure]:
    """A ctypes twin of a parameter struct, field by field from its description in kernels.py."""
    fields = [(f, _CTYPES[t] if t in _CTYPES else ctypes_struct(kernels.STRUCTS[t])) for f, t in struct.fields]
    return type(struct.name, (ctypes.Structure,), {"_fields_": fields})


def ctypes_params(struct: kernels.Struct, values: dict) -> ctypes.Structure:
    """A parameter struct filled from a KernelCall's values; pointers (constant arrays by name) left NULL."""
    def value(t: str, v):
        if t in (kernels.P_I32, kernels.P_I8):
            return None
        if t == kernels.I32X4:
            return (ctypes.c_int32 * 4)(*v)
        if t in kernels.STRUCTS:
            sub = kernels.STRUCTS[t]
            return ctypes_params(sub, v if isinstance(v, dict) else dict(zip(sub.names, v)))
        return v
    return ctypes_struct(struct)(**{f: value(t, values[f]) for f, t in struct.fields})


def build(gen: GeneratedModel, workdir: Path, dsp: bool) -> ctypes.CDLL:
    workdir.mkdir(parents=True, exist_ok=True)
    model_c = workdir / "model.c"
    model_c.write_text(gen.source)
    lib = workdir / "libmodel.so"
    sources = kernel_sources(dsp) + [model_c]
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-std=c11", "-Wall", "-Werror",
                    f"-DEK_KERNELS_VARIANT={kernels.variant_id(dsp)}", f"-I{FIRMWARE_DIR / 'include'}",
                    *map(str, sources), "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


def run(lib: ctypes.CDLL, gen: GeneratedModel, samples: np.ndarray) -> np.ndarray:
    """int8 samples (N, *input shape[1:]) -> int8 outputs (N, *output shape[1:]) (a one-input, one-output model)."""
    return run_many(lib, gen, [samples])[0]


def run_many(lib: ctypes.CDLL, gen: GeneratedModel, samples: list[np.ndarray]) -> list[np.ndarray]:
    """One int8 array per input in the .tflite's order, each (N, *shape[1:]) -> one int8 array per output."""
    assert lib.ek_model_prepare() == 0
    plan = gen.plan
    arena = (ctypes.c_int8 * max(plan.arena.arena_bytes, 8)).in_dll(lib, "ek_arena")
    base = ctypes.addressof(arena)
    outs: list[list[np.ndarray]] = [[] for _ in plan.outputs]
    for xs in zip(*(np.ascontiguousarray(s, dtype=np.int8) for s in samples)):
        for x, spec in zip(xs, plan.inputs):
            assert x.nbytes == spec["bytes"]
            ctypes.memmove(base + spec["offset"], x.ctypes.data, spec["bytes"])
        assert lib.ek_model_eval() == 0
        for o, spec in zip(outs, plan.outputs):
            o.append(np.frombuffer(ctypes.string_at(base + spec["offset"], spec["bytes"]), np.int8).copy())
    # (N, *shape[1:]) for an output of batch 1, else (N, *shape) (e.g. a MEAN over a view's first dim)
    return [np.stack(o).reshape((len(samples[0]), *(spec["shape"][1:] if spec["shape"][:1] == [1] else spec["shape"])))
            for o, spec in zip(outs, plan.outputs)]
