"""The firmware's requantization (firmware/include/ek_fixedpoint.h, compiled for this host) against TFLite's
definitions written out in Python integers, on edge cases and random values."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from edgekit.export.mcu.build import FIRMWARE_DIR

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1

WRAPPER = """#include "ek_fixedpoint.h"
int32_t srdhm(int32_t a, int32_t b) { return ek_sat_rounding_doubling_high_mul(a, b); }
int32_t rdbp(int32_t x, int32_t e) { return ek_rounding_divide_by_pot(x, e); }
int32_t requant(int32_t x, int32_t m, int32_t s) { return ek_requantize(x, m, s); }
"""


def _wrap32(v: int) -> int:
    return (v + 2 ** 31) % 2 ** 32 - 2 ** 31


def tflite_srdhm(a: int, b: int) -> int:  # gemmlowp SaturatingRoundingDoublingHighMul, as written there
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    q = abs(v) // (1 << 31)
    return q if v >= 0 else -q  # C++ division truncates toward zero


def tflite_rdbp(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def tflite_requant(x: int, m: int, s: int) -> int:
    left, right = max(s, 0), max(-s, 0)
    return tflite_rdbp(tflite_srdhm(_wrap32(x * (1 << left)), m), right)


@pytest.fixture(scope="module")
def fp(tmp_path_factory):
    d = tmp_path_factory.mktemp("fp")
    (d / "w.c").write_text(WRAPPER)
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", f"-I{FIRMWARE_DIR / 'include'}", str(d / "w.c"), "-o",
                    str(d / "libfp.so")], check=True)
    lib = ctypes.CDLL(str(d / "libfp.so"))
    for f in (lib.srdhm, lib.rdbp, lib.requant):
        f.restype = ctypes.c_int32
        f.argtypes = [ctypes.c_int32] * (2 if f is not lib.requant else 3)
    return lib


def test_srdhm_and_rdbp(fp):
    edges = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -1, 0, 1, 3, 1 << 30, INT32_MAX]
    rng = np.random.default_rng(0)
    values = edges + [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 300, endpoint=True)]
    for a in values[:60]:
        for b in values:
            assert fp.srdhm(a, b) == tflite_srdhm(a, b), (a, b)
    for x in values:
        for e in (0, 1, 2, 7, 16, 30, 31):
            assert fp.rdbp(x, e) == tflite_rdbp(x, e), (x, e)


def test_requantize(fp):
    rng = np.random.default_rng(1)
    for _ in range(3000):
        x = int(rng.integers(-2 ** 24, 2 ** 24))
        m = int(rng.integers(1 << 30, 1 << 31))
        s = int(rng.integers(-31, 4))
        assert fp.requant(x, m, s) == tflite_requant(x, m, s), (x, m, s)
    # exact ties: x * m = 2^30 * odd for both signs
    for x in (1, -1, 3, -3):
        assert fp.requant(x, 1 << 30, 0) == tflite_requant(x, 1 << 30, 0)
