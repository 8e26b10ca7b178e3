"""The DSP kernels read weights in a packed order written by the host (kernels.py, used by lower.py) and produced on
the device by the C pack functions: compiled for this host, the C and Python orders must be identical."""
import ctypes
import shutil

import numpy as np
import pytest

from edgekit.export.mcu import kernels
from edgekit.export.mcu.kernels import pack_conv_dsp, pack_depthwise_dsp, pack_fc_dsp
from tests.export.mcu import host_run

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")

Dims = host_run.ctypes_struct(kernels.DIMS)
ConvParams = host_run.ctypes_struct(kernels.CONV_PARAMS)
FcParams = host_run.ctypes_struct(kernels.FC_PARAMS)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return host_run.build_kernels(tmp_path_factory.mktemp("k"))


def _buf(a):
    return a.ctypes.data_as(ctypes.c_void_p)


@pytest.mark.parametrize("out_c,kh,in_c", [(32, 3, 16), (7, 1, 8), (5, 3, 3), (1, 2, 4)])
def test_conv_pack_matches_c(lib, out_c, kh, in_c):
    w = np.random.default_rng(0).integers(-128, 128, (out_c, kh, kh, in_c), dtype=np.int8)
    p = ConvParams(input=Dims(1, 5, 5, in_c), filter=Dims(out_c, kh, kh, in_c))
    kp = (kh * kh * in_c + 3) // 4 * 4  # columns padded with zeros to whole groups of 4
    dst = np.zeros(out_c * kp, np.int8)
    getattr(lib, kernels.select("ek_conv2d_s8", True).c_pack)(ctypes.byref(p), _buf(w), _buf(dst))
    assert np.array_equal(dst, pack_conv_dsp(w, in_c))
    zeros = out_c * kp - w.size
    assert sorted(dst.tolist()) == sorted(w.ravel().tolist() + [0] * zeros)  # a permutation plus zero padding


@pytest.mark.parametrize("out_f,in_f", [(10, 128), (256, 1024), (7, 13), (3, 2), (4, 5)])
def test_fc_pack_matches_c(lib, out_f, in_f):
    w = np.random.default_rng(1).integers(-128, 128, (out_f, in_f), dtype=np.int8)
    p = FcParams(batches=1, in_features=in_f, out_features=out_f)
    dst = np.zeros(w.size, np.int8)
    getattr(lib, kernels.select("ek_fully_connected_s8", True).c_pack)(ctypes.byref(p), _buf(w), _buf(dst))
    assert np.array_equal(dst, pack_fc_dsp(w))


@pytest.mark.parametrize("c,kh,offset,with_bias", [(64, 3, 128, True), (8, 3, -5, False), (4, 1, 0, True),
                                                   (16, 2, 127, True)])
def test_depthwise_pack_matches_c(lib, c, kh, offset, with_bias):
    rng = np.random.default_rng(2)
    w = rng.integers(-128, 128, (1, kh, kh, c), dtype=np.int8)
    bias = rng.integers(-2**31, 2**31, c, dtype=np.int64).astype(np.int32) if with_bias else None
    p = ConvParams(input=Dims(1, 5, 5, c), filter=Dims(1, kh, kh, c), depth_multiplier=1, input_offset=offset)
    dst = np.zeros(2 * w.size, np.int8)
    dst_bias = np.zeros(c, np.int32)
    getattr(lib, kernels.select("ek_depthwise_conv2d_s8", True).c_pack)(
        ctypes.byref(p), _buf(w), _buf(bias) if bias is not None else None, _buf(dst), _buf(dst_bias))
    packed, folded = pack_depthwise_dsp(w, bias, offset)
    assert np.array_equal(dst, packed)
    assert np.array_equal(dst_bias, folded)
