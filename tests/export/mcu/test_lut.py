"""The tables of the int8 functions of one value (edgekit/export/mcu/lut.py) equal TFLite Micro's own results for all 256
inputs, over random quantizations: one single-op model per case, run by TFLite Micro's interpreter."""
import numpy as np
import pytest

from edgekit.errors import UnsupportedError
from edgekit.export.mcu import lut, tflm
from tests.export.mcu.tflite_builder import Builder, S

ALL = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def _tflm(tmp_path, kind, in_q, out_q):
    b = Builder()
    x = b.tensor([1, 256], scale=in_q[0], zero_point=in_q[1])
    y = b.tensor([1, 256], scale=out_q[0], zero_point=out_q[1])
    b.op(getattr(S.BuiltinOperator, kind), [x], [y])
    return tflm.run_int8(b.save(tmp_path / f"{kind}.tflite", [x], [y]), ALL).ravel()


def _random_q(rng):
    return float(np.float32(10 ** rng.uniform(-3, 0.4))), int(rng.integers(-128, 128))


@pytest.mark.parametrize("seed", range(4))
def test_tables_equal_tflite_micro(tmp_path, seed):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        (si, zi), (so, zo) = _random_q(rng), _random_q(rng)
        assert np.array_equal(lut.logistic_table(si, zi), _tflm(tmp_path, "LOGISTIC", (si, zi), (1 / 256, -128)))
        assert np.array_equal(lut.tanh_table(si, zi), _tflm(tmp_path, "TANH", (si, zi), (1 / 128, 0)))
        assert np.array_equal(lut.requantize_table(si, zi, so, zo), _tflm(tmp_path, "QUANTIZE", (si, zi), (so, zo)))
        if so >= si / 128:  # else TFLite rejects the output multiplier (exponent > 0), as lut does
            assert np.array_equal(lut.hard_swish_table(si, zi, so, zo),
                                  _tflm(tmp_path, "HARD_SWISH", (si, zi), (so, zo)))


def test_hard_swish_left_shift_branch_and_rejected_scale(tmp_path):
    # input scale 0.5: the relu-ish multiplier exponent is > 0 (the saturating left-shift path)
    assert lut.hard_swish_params(0.5, 0.05)[3] > 0
    assert np.array_equal(lut.hard_swish_table(0.5, 3, 0.05, -7), _tflm(tmp_path, "HARD_SWISH", (0.5, 3), (0.05, -7)))
    with pytest.raises(UnsupportedError, match="HARD_SWISH"):
        lut.hard_swish_table(1.0, 0, 1e-4, 0)


def test_fixed_point_helpers_by_hand():
    assert lut.srdhm(1 << 30, 1 << 30) == 1 << 29
    assert lut.srdhm(-(1 << 31), -(1 << 31)) == (1 << 31) - 1
    assert lut.rdbp(5, 1) == 3 and lut.rdbp(-5, 1) == -3 and lut.rdbp(-6, 2) == -2
    assert lut.logistic_fixed(0, 4) == 1 << 30
    assert abs(lut.logistic_fixed(1 << 27, 4) / 2 ** 31 - 1 / (1 + np.exp(-1))) < 1e-6
    assert abs(lut.tanh_fixed(-(1 << 26), 4) / 2 ** 31 - np.tanh(-0.5)) < 1e-6
