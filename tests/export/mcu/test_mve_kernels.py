"""The MVE (Helium) kernel variant (firmware/kernels/mve/): chosen from a profile's features, its scratch
formulas against the C functions, its kernels bit-exact with the reference ones on random shapes under QEMU
(mps3-an547, Cortex-M55), and whole models on emu-cortex-m55 byte for byte equal to TFLite Micro."""
import ctypes
import shutil
import sys

import numpy as np
import pytest

from edgekit.export.mcu import kernels, tflm
from edgekit.export.mcu.build import FIRMWARE_DIR, build_config, kernel_sources
from edgekit.export.mcu.codegen import plan_model
from edgekit.profiles import load_profile
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb
from tests.export.mcu.device import run_on_device
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from kernel_tool import run_kernel_test  # noqa: E402

HAVE_QEMU = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


def test_variant_from_the_profile_features():
    assert build_config(load_profile("emu-cortex-m55")).variant == "mve"
    assert build_config(load_profile("emu-cortex-m4")).variant == "dsp"
    assert build_config(load_profile("emu-cortex-m7")).variant == "dsp"
    assert build_config(load_profile("emu-microbit")).variant == "reference"
    assert kernels.variant_for(["dsp", "mve", "fpu-sp"]) == "mve" and kernels.variant_for(["fpu-sp"]) == "reference"
    cfg = build_config(load_profile("emu-cortex-m55"))
    assert "-DEK_KERNELS_VARIANT=2" in cfg.cflags() and cfg.facts()["kernels"] == "mve" and cfg.dsp
    # the boolean form is what it was: the M4/M7 builds are unchanged
    assert [kernels.variant_id(v) for v in (False, True, "reference", "dsp", "mve")] == [0, 1, 0, 1, 2]
    assert build_config(load_profile("emu-cortex-m55"), dsp=True).variant == "dsp"
    assert build_config(load_profile("emu-cortex-m4"), dsp=False).cflags() == \
        build_config(load_profile("emu-cortex-m4"), dsp="reference").cflags()
    with pytest.raises(ValueError):
        kernels.variant_id("helium")


def test_mve_select_falls_back_to_dsp_then_reference():
    for name in ("ek_conv2d_s8", "ek_depthwise_conv2d_s8", "ek_fully_connected_s8"):
        k = kernels.select(name, "mve")
        assert k.variant == "mve" and k.name == f"{name}_mve" and k.c_pack == f"{name}_mve_pack"
    assert kernels.select("ek_transpose_conv_s8", "mve") is kernels.select("ek_transpose_conv_s8", True)
    assert kernels.select("ek_add_s8", "mve") is kernels.REFERENCE["ek_add_s8"]
    rel = {str(p.relative_to(FIRMWARE_DIR)) for p in kernel_sources("mve")}
    assert {"kernels/mve/ek_conv2d_s8_mve.c", "kernels/dsp/ek_conv2d_s8_dsp.c", "kernels/reference/ek_add_s8.c"} <= rel


@pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")
def test_mve_scratch_formulas_equal_the_c_functions(tmp_path):
    lib = host_run.build_kernels(tmp_path / "k", dsp="mve")  # host build: the MVE kernels run the reference

    def c_scratch(kernel, params) -> int:
        fn = getattr(lib, kernel.scratch_bytes)
        fn.restype = ctypes.c_int32
        return fn(ctypes.byref(host_run.ctypes_params(kernel.params, params)))

    checked = set()
    model = tb.ops_model(tmp_path / "ops.tflite")
    for call in plan_model(model, "mve").calls:
        assert c_scratch(call.kernel, call.params) == call.scratch_bytes, call.kernel.name
        checked.add(call.kernel.name)
    assert {"ek_conv2d_s8_mve", "ek_depthwise_conv2d_s8_mve", "ek_fully_connected_s8_mve"} <= checked
    rng = np.random.default_rng(0)
    conv, dw = kernels.select("ek_conv2d_s8", "mve"), kernels.select("ek_depthwise_conv2d_s8", "mve")
    for _ in range(300):
        in_c, kh, kw = (int(v) for v in rng.integers(1, 10, 3))
        depth = in_c if rng.integers(0, 3) else max(1, in_c // 2)
        out_c = int(rng.integers(1, 300))
        pads = {k: int(rng.integers(0, 2)) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")}
        p = {f: 0 for f in kernels.CONV_PARAMS.names} | pads | {
            "input": (1, 8, 8, in_c), "filter": (out_c, kh, kw, depth), "output": (1, 8, 8, out_c)}
        assert c_scratch(conv, p) == conv.scratch(p)
        mult = int(rng.integers(1, 3))
        p |= {"filter": (1, kh, kw, in_c * mult), "output": (1, 8, 8, in_c * mult), "depth_multiplier": mult}
        assert c_scratch(dw, p) == dw.scratch(p)


@pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")
def test_mve_packing_equals_the_c_pack_functions(tmp_path):
    """Conv and FC weights packed by rows (groups of 4, depth padded to 16), depthwise's as they are; the bias gains
    input_offset * the sum of each output's weights, int32 wrapped, as ek_<op>_mve_pack writes them (grouped conv
    and depth multiplier > 1: weights and bias as they are)."""
    lib = host_run.build_kernels(tmp_path / "k", dsp="mve")
    rng = np.random.default_rng(1)

    def c_pack(kernel, params, weights, bias):
        """(weights, bias) as the C pack function writes them (depthwise: its weights are the reference ones)."""
        st = host_run.ctypes_params(kernel.params, params)
        w = np.ascontiguousarray(weights, np.int8)
        st.weights = w.ctypes.data
        b = None if bias is None else np.ascontiguousarray(bias, np.int32)
        rows = len(weights) if kernel.params is kernels.FC_PARAMS else params["output"][3]
        dst = np.full(rows, 7, np.int32)
        ptr = (lambda a: None if a is None else a.ctypes.data_as(ctypes.c_void_p))
        if kernel.name == "ek_depthwise_conv2d_s8_mve":
            getattr(lib, kernel.c_pack)(ctypes.byref(st), ptr(b), ptr(dst))
            return w.ravel(), dst
        packed = np.full(4 * w.size + 4096, 99, np.int8)
        getattr(lib, kernel.c_pack)(ctypes.byref(st), ptr(w), ptr(b), ptr(packed), ptr(dst))
        return packed, dst

    for case in range(60):
        offset = int(rng.integers(-127, 129))
        bias = None if case % 5 == 0 else rng.integers(-2**31, 2**31, 64).astype(np.int64)
        in_c, out_c = int(rng.integers(1, 9)), int(rng.integers(1, 17))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        kind = case % 3
        if kind == 0:
            groups = 2 if case % 7 == 0 and in_c % 2 == 0 and out_c % 2 == 0 else 1
            w = rng.integers(-128, 128, (out_c, kh, kw, in_c // groups))
            kernel = kernels.select("ek_conv2d_s8", "mve")
            p = {f: 0 for f in kernels.CONV_PARAMS.names} | {"input": (1, 5, 5, in_c), "filter": w.shape,
                                                               "output": (1, 5, 5, out_c), "input_offset": offset}
        elif kind == 1:
            mult = 1 if case % 4 else 2
            w = rng.integers(-128, 128, (1, kh, kw, in_c * mult))
            out_c = in_c * mult
            kernel = kernels.select("ek_depthwise_conv2d_s8", "mve")
            p = {f: 0 for f in kernels.CONV_PARAMS.names} | {"input": (1, 5, 5, in_c), "filter": w.shape,
                                                               "output": (1, 5, 5, out_c), "input_offset": offset,
                                                               "depth_multiplier": mult}
        else:
            w = rng.integers(-128, 128, (out_c, in_c * 37))
            kernel = kernels.select("ek_fully_connected_s8", "mve")
            p = {f: 0 for f in kernels.FC_PARAMS.names} | {"batches": 1, "in_features": w.shape[1],
                                                             "out_features": out_c, "input_offset": offset}
        b = None if bias is None else bias[:out_c]
        packed, host_bias = kernel.pack(p, w, b)
        got_w, got_b = c_pack(kernel, p, w, b)
        assert np.array_equal(got_w[:len(packed)], packed) and (got_w[len(packed):] == 99).all(), (kind, p)
        if kind == 2 or (kind == 0 and kernels._conv_mve_applies(p)):
            rows, depth = w.shape[0], w[0].size  # rows in groups of 4, depth padded to 16
            assert len(packed) == -(-rows // 4) * 4 * (-(-depth // 16) * 16)
        if host_bias is None:  # not folded (a shape the kernel hands to the reference) and no bias
            assert (got_b == 7).all()
        else:
            assert np.array_equal(got_b, np.asarray(host_bias, np.int64)), (kind, p)


@pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")
def test_mve_plan_on_the_host_equals_tflite_micro(tmp_path):
    """model.c planned for the MVE kernels, built for the host (the kernels take their reference path there)."""
    from edgekit.export.mcu.codegen import generate
    model = tb.ops_model(tmp_path / "ops.tflite")
    gen = generate(model, dsp="mve")
    assert "EK_KERNELS_VARIANT != 2" in gen.source and "ek_conv2d_s8_mve_eval" in gen.source
    x = np.random.default_rng(0).integers(-128, 128, (8, 9, 9, 4)).astype(np.int8)
    got = host_run.run(host_run.build(gen, tmp_path / "m", "mve"), gen, x)
    assert np.array_equal(got, tflm.run_int8(model, x))


@pytest.mark.emulator
@pytest.mark.skipif(not HAVE_QEMU, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_mve_kernels_bit_exact_with_reference_under_qemu():
    # firmware/tests/ek_mve_kernel_test.c in the profile's own (MVE) build
    r = run_kernel_test("emu-cortex-m55", 300, 300.0, image="ek_mve_kernel_test.c", variant=None)
    bad = {k: v for k, v in r.items() if k.endswith("_mismatches") and v}
    assert not bad and r["exit_code"] == 0, bad
    assert {k for k in r if k.endswith("_mismatches")} == {"conv_mismatches", "pointwise_mismatches",
                                                            "fc_mismatches", "depthwise_mismatches"}
    ipm = {(b["name"], b["variant"]): b["instructions_per_mac"] for b in r["bench"]}
    for name in {n for n, _ in ipm}:  # Helium well under the reference; conv and FC well under the DSP kernels
        assert ipm[name, "mve"] < ipm[name, "reference"] / 5, (name, ipm)
        if not name.startswith("depthwise"):
            assert ipm[name, "mve"] < ipm[name, "dsp"] / 2, (name, ipm)


@pytest.mark.emulator
@pytest.mark.skipif(not HAVE_QEMU, reason="needs qemu-system-arm and arm-none-eabi-gcc")
@pytest.mark.parametrize("name", ["ops", "pad"])
def test_m55_mve_build_bit_exact_with_tflite_micro(tmp_path, name):
    build, shape = {"ops": (tb.ops_model, (1, 9, 9, 4)), "pad": (tb.pad_model, tb.PAD_INPUT)}[name]
    model = build(tmp_path / f"{name}.tflite")
    x = np.random.default_rng(2).integers(-128, 128, (16, *shape[1:])).astype(np.int8)
    expected = tflm.run_int8(model, x)
    pkg, got = run_on_device(tmp_path, model, "emu-cortex-m55", None, x)  # the profile's own variant
    assert pkg.firmware["build"]["kernels"] == "mve"
    assert np.array_equal(got, expected), f"{int((got != expected).any(axis=1).sum())} of {len(x)} samples differ"
