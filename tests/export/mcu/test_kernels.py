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
    # the build: the reference folder always, the DSP folder for a core with the DSP extension, the MVE one too
    # for a core with MVE
    relative = lambda paths: {str(p.relative_to(FIRMWARE_DIR)) for p in paths}  # noqa: E731
    assert relative(kernel_sources(False)) == {k.source for k in kernels.KERNELS if k.variant == "reference"}
    assert relative(kernel_sources(True)) == {k.source for k in kernels.KERNELS if k.variant != "mve"}
    assert relative(kernel_sources("mve")) == sources


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
        out_c = int(rng.integers(1, 10)) if rng.integers(0, 2) else int(rng.integers(1, 300))  # odd ones too
        p = {f: 0 for f in kernels.CONV_PARAMS.names} | {"input": (1, 8, 8, in_c), "filter": (out_c, kh, kw, depth),
                                                           "output": (1, 8, 8, out_c)}
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


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_depthwise_3x3_path_scratch_pack_and_eval_match(tmp_path):
    """The DSP depthwise kernel's 3x3 path (planes swept along the longer output axis, transposed when the output
    has more rows than columns; bands of rows when the planes outgrow the scratch budget): the host's scratch
    formula and packing equal the C ones, and the DSP eval (its plain-C lanes, compiled for this host) equals the
    reference kernel byte for byte. The Cortex-M4 build's assembly is checked against the reference on the device
    by firmware/tests/ek_kernel_test.c."""
    lib = host_run.build_kernels(tmp_path / "k")
    dw, ref = kernels.select("ek_depthwise_conv2d_s8", True), kernels.REFERENCE["ek_depthwise_conv2d_s8"]
    rng = np.random.default_rng(7)
    shapes = [(25, 5, 64, 1, 1, 1, 1), (5, 25, 8, 1, 1, 1, 1), (48, 48, 8, 1, 1, 1, 1), (24, 24, 16, 2, 2, 0, 1),
              (7, 6, 12, 2, 1, 1, 1), (6, 9, 4, 1, 2, 1, 1), (3, 3, 256, 1, 1, 1, 1), (9, 4, 4, 3, 2, 2, 0),
              (4, 11, 8, 2, 3, 1, 2), (1, 1, 4, 1, 1, 1, 1), (12, 12, 32, 2, 2, 3, 2)]
    for in_h, in_w, c, sh, sw, pad_t, pad_l in shapes:
        pad_b, pad_r = int(rng.integers(0, 3)), int(rng.integers(0, 3))
        out_h, out_w = (in_h + pad_t + pad_b - 3) // sh + 1, (in_w + pad_l + pad_r - 3) // sw + 1
        if out_h <= 0 or out_w <= 0:
            continue
        w = rng.integers(-128, 128, (1, 3, 3, c), dtype=np.int8)
        bias = rng.integers(-40000, 40000, c).astype(np.int32)
        mult = rng.integers(1 << 30, 1 << 31, c).astype(np.int32)
        shift = np.where(rng.integers(0, 8, c) == 0, rng.integers(0, 2, c), rng.integers(-12, -4, c)).astype(np.int32)
        x = rng.integers(-128, 128, (1, in_h, in_w, c), dtype=np.int8)
        zp_in, zp_out = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        lo = int(rng.choice([-128, zp_out]))
        params = {f: 0 for f in kernels.CONV_PARAMS.names} | {
            "input": (1, in_h, in_w, c), "filter": (1, 3, 3, c), "output": (1, out_h, out_w, c), "stride_h": sh,
            "stride_w": sw, "dilation_h": 1, "dilation_w": 1, "pad_top": pad_t, "pad_bottom": pad_b,
            "pad_left": pad_l, "pad_right": pad_r, "depth_multiplier": 1, "input_offset": zp_in,
            "output_offset": zp_out, "act_min": lo, "act_max": 127}
        scratch = dw.scratch(params)
        fn = getattr(lib, dw.scratch_bytes)
        fn.restype = ctypes.c_int32
        assert fn(ctypes.byref(host_run.ctypes_params(dw.params, params))) == scratch > 0
        packed, folded = dw.pack(params, w, bias)
        packed, folded = np.ascontiguousarray(packed, np.int8), np.ascontiguousarray(folded, np.int32)
        c_packed, c_folded = np.zeros(packed.size, np.int8), np.zeros(c, np.int32)
        c_params = host_run.ctypes_params(dw.params, params)
        getattr(lib, dw.c_pack)(ctypes.byref(c_params), w.ctypes.data_as(ctypes.c_void_p),
                                bias.ctypes.data_as(ctypes.c_void_p), c_packed.ctypes.data_as(ctypes.c_void_p),
                                c_folded.ctypes.data_as(ctypes.c_void_p))
        assert np.array_equal(c_packed, packed) and np.array_equal(c_folded, folded)
        outs = []
        for kernel, weights, b in ((ref, w, bias), (dw, packed, folded)):
            arrays = {"weights": np.ascontiguousarray(weights, np.int8), "bias": b, "multiplier": mult,
                      "shift": shift}
            cp = host_run.ctypes_params(kernel.params, params)
            for name, a in arrays.items():
                setattr(cp, name, a.ctypes.data)  # the pointer fields are void pointers
            buf = (ctypes.c_uint64 * (scratch // 8 + 1))()
            assert getattr(lib, kernel.prepare)(ctypes.byref(cp), ctypes.c_size_t(scratch)) == 0
            out = np.zeros((1, out_h, out_w, c), np.int8)
            assert getattr(lib, kernel.eval)(ctypes.byref(cp), x.ctypes.data_as(ctypes.c_void_p),
                                             out.ctypes.data_as(ctypes.c_void_p), buf) == 0
            outs.append(out)
        assert np.array_equal(outs[0], outs[1]), (in_h, in_w, c, sh, sw)


def test_conv_fast_requantization_identity():
    """ek_conv2d_s8_dsp's fast path (ek_conv_mm2x2) requantizes with t = SMMLAR(acc, 2m - 2^32, acc), i.e.
    acc + floor(((2m - 2^32) acc + 2^31) / 2^32), then ((t + (t >> 31)) >> ~shift) + 1 + 2 zp, saturated half:
    TFLite's MultiplyByQuantizedMultiplier (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT) plus the zero
    point and the int8 clamp, for m in [2^30, 2^31), shift < 0 and |acc| < 2^30 (what fast_table admits)."""
    rng = np.random.default_rng(3)

    def reference(acc: int, m: int, shift: int, zp: int) -> int:
        ab = acc * m
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        v = ab + nudge
        x = (abs(v) >> 31) * (1 if v >= 0 else -1)             # C's truncating int64 division by 2^31
        e = -shift
        mask = (1 << e) - 1
        r = (x >> e) + ((x & mask) > ((mask >> 1) + (1 if x < 0 else 0)))
        return max(-128, min(127, r + zp))

    def fast(acc: int, m: int, shift: int, zp: int) -> int:
        m2 = 2 * m - (1 << 32)                                 # the table's word, an int32
        t = acc + ((m2 * acc + (1 << 31)) >> 32)               # SMMLAR
        u = t + (-1 if t < 0 else 0)                           # ADD t, t, t, ASR #31
        v = (u >> ~shift) + 1 + 2 * zp                         # ASR by ~shift, ADD 1 + 2 zp
        return max(-128, min(127, v >> 1))                     # SSAT #8, v, ASR #1

    for _ in range(20000):
        m = int(rng.integers(1 << 30, 1 << 31))
        shift = int(rng.integers(-31, 0))
        zp = int(rng.integers(-128, 128))
        acc = int(rng.integers(-(1 << 30) + 1, 1 << 30)) if rng.integers(0, 2) else int(rng.integers(-5000, 5000))
        if rng.integers(0, 4) == 0:  # ties of the rounding divide
            acc = ((acc >> 8) << 8) | (1 << 7)
        assert fast(acc, m, shift, zp) == reference(acc, m, shift, zp), (acc, m, shift, zp)
