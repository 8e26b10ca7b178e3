import pytest
import torch
from torch import nn

from edgekit.compress import CompressionContext, compress
from edgekit.compress.int4 import (Int4Linear, Int4WeightOnlyConfig, dequantize_model, int4_summary, pack_int4,
                                   rtn_codes, save_int4, unpack_int4)
from edgekit.errors import InputError


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(256, 512), nn.GELU(), nn.Linear(512, 64), nn.GELU(), nn.Linear(64, 10)).eval()


def test_pack_round_trips_and_halves_the_bytes():
    codes = torch.randint(0, 16, (7, 64), dtype=torch.uint8)
    packed = pack_int4(codes)
    assert packed.shape == (7, 32) and packed.dtype == torch.uint8
    assert torch.equal(unpack_int4(packed), codes)
    assert int(packed[0, 0]) == int(codes[0, 0]) | (int(codes[0, 1]) << 4)  # low nibble = even column


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("group", [32, 64, 128])
def test_rtn_error_is_at_most_half_a_step(group, symmetric):
    torch.manual_seed(1)
    w = torch.randn(16, 256)
    codes, scales, zeros = rtn_codes(w, group, symmetric)
    assert codes.max() <= 15 and scales.shape == (16, 256 // group)
    lin = Int4Linear.from_codes(codes, scales, zeros, group, None)
    err = (lin.weight_float() - w).abs().reshape(16, -1, group)
    step = scales.float().unsqueeze(-1)
    assert torch.all(err <= step / 2 + 1e-3 * step)
    assert len(torch.unique(codes)) > 8  # uses the range, not a couple of levels


def test_int4_model_runs_and_its_file_is_about_a_quarter_of_fp32(tmp_path):
    model = _mlp()
    x = torch.randn(8, 256)
    q = compress(model, Int4WeightOnlyConfig(group_size=32), CompressionContext((x[:1],)))
    assert sum(isinstance(m, Int4Linear) for m in q.modules()) == 3  # 256, 512, 64 inputs; all multiples of 32
    assert all(type(m) is not Int4Linear for m in model.modules()), "the float model was modified"
    cos = nn.functional.cosine_similarity(model(x).flatten(), q(x).flatten(), dim=0)
    assert 0.98 < cos < 1.0
    fp32_bytes, int4_bytes = save_int4(model, tmp_path / "a"), save_int4(q, tmp_path / "b")
    # 4-bit codes + an fp16 scale and a byte of zero point per 32 weights: 0.14 of fp32, plus biases/headers.
    assert int4_bytes < 0.2 * fp32_bytes
    s = int4_summary(q)
    assert s["packed_bytes"] == (256 * 512 + 512 * 64 + 64 * 10) // 2 and s["replaced_fp32_bytes"] == 8 * s["packed_bytes"]


def test_layers_the_group_does_not_divide_stay_float():
    q = compress(_mlp(), Int4WeightOnlyConfig(group_size=128), CompressionContext((torch.randn(1, 256),)))
    kinds = [type(m).__name__ for m in q if isinstance(m, (nn.Linear, Int4Linear))]
    assert kinds == ["Int4Linear", "Int4Linear", "Linear"]  # the last one has 64 inputs


def test_skip_patterns_and_dequantize_on_load():
    model = _mlp()
    q = compress(model, Int4WeightOnlyConfig(group_size=32, skip=(r"^4$",)), CompressionContext((torch.randn(1, 256),)))
    assert type(q[4]) is nn.Linear
    x = torch.randn(4, 256)
    before = q(x)
    plain = dequantize_model(q)
    assert not any(isinstance(m, Int4Linear) for m in plain.modules())
    torch.testing.assert_close(plain(x), before)


def test_unsupported_group_size_is_an_input_error():
    with pytest.raises(InputError, match="int4-rtn: group_size must be one of 32, 64, 128, got 48"):
        Int4WeightOnlyConfig(group_size=48)


@pytest.mark.parametrize("kwargs, message", [
    ({"group_size": 32.0}, "int4-rtn: group_size must be one of 32, 64, 128, got 32.0"),
    ({"symmetric": "yes"}, "int4-rtn: symmetric must be true or false"),
    ({"skip": "lm_head"}, "int4-rtn: skip must be a list of module names"),
    ({"skip": ("(",)}, "int4-rtn: skip entry '\\(' is not a regular expression"),
])
def test_bad_fields_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(InputError, match=message):
        Int4WeightOnlyConfig(**kwargs)


def test_int4_pte_runs_on_xnnpack_4bit_kernels_on_the_emulated_phone(tmp_path):
    import edgekit
    from edgekit.errors import UnsupportedError
    model = _mlp()
    x = torch.randn(1, 256)
    fp32 = edgekit.compile_model(model, (x,), "emu-phone", tmp_path / "fp32")
    int4 = edgekit.compile_model(model, (x,), "emu-phone", tmp_path / "int4",
                                 recipe=[Int4WeightOnlyConfig(group_size=32, symmetric=True)])
    assert int4.size_bytes < 0.25 * fp32.size_bytes
    # Every Linear is inside the XNNPACK delegate (qd8-qb4w): no dequantize or linear left to the portable kernels.
    left = int4.manifest["export"]["delegation"]["not_delegated_ops"]
    assert not [op for op in left if "quant" in op or "linear" in op or "mm" in op], left
    report = edgekit.benchmark(int4, "emu-phone", runs=3, warmup=1)
    assert report["fidelity"]["vs_host"]["cosine"] > 0.9999  # the host reference computes what XNNPACK does
    assert 0.98 < report["fidelity"]["vs_float"]["cosine"] < 1.0
    # XNNPACK ignores zero points: an asymmetric INT4 step is refused before any work.
    with pytest.raises(UnsupportedError, match="symmetric"):
        edgekit.compile_model(model, (x,), "emu-phone", tmp_path / "asym", recipe=[Int4WeightOnlyConfig(group_size=32)])
