"""The kernels' C interface (firmware/include/ek_kernels.h, the files under firmware/kernels/) and its Python
description (edgekit/export/mcu/kernels.py) agree: parameter structs field by field, every kernel's prepare /
scratch_bytes / eval declaration, one kernel per file in its variant's folder, and (compiled for this host) the
scratch formulas the host plans with against the C *_scratch_bytes functions."""
import ctypes
import re
import shutil

import numpy as np
import pytest

from edgekit.export.mcu import kernels
from edgekit.export.mcu.build import FIRMWARE_DIR, kernel_sources
from edgekit.export.mcu.codegen import plan_model
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb

DECLARATION = re.compile(r"^(ek_status|int32_t|void)\s+(ek_\w+)\s*\(([^)]*)\)\s*;", re.MULTILINE)
DEFINITION = re.compile(r"^(ek_status|int32_t|void)\s+(ek_\w+)\s*\(([^)]*)\)\s*\{", re.MULTILINE)


def _code(path) -> str:
    """C text without comments."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", path.read_text(), flags=re.DOTALL)


def _structs(text: str) -> dict[str, list[tuple[str, str]]]:
    """typedef struct { ... } name; -> [(field, type)] with the types written as kernels.py writes them."""
    found = {}
    for body, name in re.findall(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.DOTALL):
        fields = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            base, rest = re.match(r"((?:const\s+)?\w+)\s+(.*)", decl, flags=re.DOTALL).groups()
            for d in (d.strip() for d in rest.split(",")):
                m = re.fullmatch(r"(\*?)\s*(\w+)\s*(?:\[(\d+)\])?", d)
                star, field, size = m.groups()
                fields.append((field, f"{base} *" if star else f"{base}[{size}]" if size else base))
        found[name] = fields
    return found


def _functions(pattern: re.Pattern, text: str) -> dict[str, str]:
    """name -> the declaration with its whitespace normalised: 'ek_status ek_x_eval(const ... *p, ...)'."""
    return {name: f"{ret} {name}({' '.join(args.split())})" for ret, name, args in pattern.findall(text)}


HEADER = _code(FIRMWARE_DIR / "include" / "ek_kernels.h")


def test_header_structs_are_the_described_ones():
    declared = _structs(HEADER)
    assert set(declared) == set(kernels.STRUCTS)
    for name, struct in kernels.STRUCTS.items():
        assert declared[name] == list(struct.fields), name


def test_header_declares_every_kernel_function_as_described():
    declared = _functions(DECLARATION, HEADER)
    described = {}
    for k in kernels.KERNELS:
        for decl in k.prototypes().values():
            described[decl.split("(")[0].split()[-1]] = decl
    packs = {k.c_pack for k in kernels.KERNELS if k.c_pack}
    assert set(declared) == set(described) | packs  # no kernel function the host does not know
    for name, decl in described.items():
        assert declared[name] == decl
    assert re.search(rf"#define\s+EK_CONCAT_MAX_INPUTS\s+{kernels.CONCAT_MAX_INPUTS}\b", HEADER)


def test_one_kernel_per_file_in_its_variant_folder():
    sources = {str(p.relative_to(FIRMWARE_DIR)) for p in (FIRMWARE_DIR / "kernels").rglob("*.c")}
    assert sources == {k.source for k in kernels.KERNELS}
    for k in kernels.KERNELS:
        defined = set(_functions(DEFINITION, _code(FIRMWARE_DIR / k.source)))
        assert defined == {k.prepare, k.scratch_bytes, k.eval} | ({k.c_pack} if k.c_pack else set()), k.source
    # the build: the reference folder always, the DSP folder for a core with the DSP extension
    relative = lambda paths: {str(p.relative_to(FIRMWARE_DIR)) for p in paths}  # noqa: E731
    assert relative(kernel_sources(False)) == {k.source for k in kernels.KERNELS if k.variant == "reference"}
    assert relative(kernel_sources(True)) == sources


def test_every_op_kernel_has_a_variant_for_both_builds():
    for name, ref in kernels.REFERENCE.items():
        assert kernels.select(name, False) is ref
        dsp = kernels.select(name, True)
        assert dsp.params == ref.params and dsp.prototypes()["eval"].replace(dsp.name, ref.name) == \
            ref.prototypes()["eval"]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_scratch_formulas_equal_the_c_functions(tmp_path):
    lib = host_run.build_kernels(tmp_path / "k")

    def c_scratch(kernel: kernels.Kernel, params: dict) -> int:
        fn = getattr(lib, kernel.scratch_bytes)
        fn.restype = ctypes.c_int32
        return fn(ctypes.byref(host_run.ctypes_params(kernel.params, params)))

    checked = set()
    for build in (tb.ops_model, tb.pad_model, tb.elementwise_model):
        model = build(tmp_path / f"{build.__name__}.tflite")
        for dsp in (False, True):
            for call in plan_model(model, dsp).calls:
                assert c_scratch(call.kernel, call.params) == call.scratch_bytes, call.kernel.name
                checked.add(call.kernel.name)
    assert {"ek_conv2d_s8_dsp", "ek_fully_connected_s8_dsp", "ek_mean_s8"} <= checked
    rng = np.random.default_rng(0)
    conv, fc = kernels.select("ek_conv2d_s8", True), kernels.select("ek_fully_connected_s8", True)
    for _ in range(200):  # shapes the models above do not have: grouped, any depth, any feature count
        in_c, kh, kw = (int(v) for v in rng.integers(1, 9, 3))
        depth = in_c if rng.integers(0, 3) else max(1, in_c // 2)
        p = {f: 0 for f in kernels.CONV_PARAMS.names} | {"input": (1, 8, 8, in_c), "filter": (4, kh, kw, depth),
                                                           "output": (1, 8, 8, 4)}
        assert c_scratch(conv, p) == conv.scratch(p)
        p = {f: 0 for f in kernels.FC_PARAMS.names} | {"in_features": int(rng.integers(1, 300))}
        assert c_scratch(fc, p) == fc.scratch(p)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_average_pool_prepare_refuses_a_window_in_the_padding(tmp_path):
    """All validation is in prepare: a window with no input element (TFLite fails on it at run time) is refused
    there, so eval has nothing to check."""
    lib = host_run.build_kernels(tmp_path / "k", dsp=False)
    avg, pool = kernels.REFERENCE["ek_avg_pool2d_s8"], kernels.POOL_PARAMS

    def prepare(in_h, out_h, filter_h, stride_h, pad_h):
        p = {f: 0 for f in pool.names} | {"input": (1, in_h, 4, 2), "output": (1, out_h, 4, 2), "filter_h": filter_h,
                                          "filter_w": 1, "stride_h": stride_h, "stride_w": 1, "pad_h": pad_h,
                                          "act_min": -128, "act_max": 127}
        return getattr(lib, avg.prepare)(ctypes.byref(host_run.ctypes_params(pool, p)), ctypes.c_size_t(0))

    assert prepare(5, 5, 3, 1, 1) == 0          # SAME 3x3: every window reaches the input
    assert prepare(5, 3, 3, 2, 1) == 0
    assert prepare(5, 7, 1, 1, 1) == 6          # EK_E_BAD_PARAMS: the first window is all padding
    assert prepare(5, 4, 2, 2, 1) == 6          # the last one starts past the input
    assert prepare(0, 1, 3, 1, 1) == 6          # no input rows at all
