import numpy as np
import pytest
import torch
from torch import nn

from edgekit.compress import CompressionContext, compress
from edgekit.compress.gptq import GptqInt4Config, _HessianHook, gptq_quantize
from edgekit.compress.int4 import Int4Linear, Int4WeightOnlyConfig, rtn_codes
from edgekit.errors import InputError


def _correlated_inputs(n, d, seed=0):
    """Samples (seeded by `seed`) of one fixed correlated distribution per width."""
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(d)) * 0.3 + torch.eye(d)
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) @ mix


def test_hessian_hook_is_two_x_xt_over_n():
    x = torch.randn(3, 40, 16)
    hook = _HessianHook(16)
    hook(None, (x[:1],), None)
    hook(None, (x[1:],), None)
    flat = x.reshape(-1, 16)
    torch.testing.assert_close(hook.H, 2 * flat.T @ flat / len(flat), rtol=1e-4, atol=1e-4)


def test_gptq_beats_rtn_on_a_layers_output_error():
    torch.manual_seed(0)
    w = torch.randn(32, 128)
    x = _correlated_inputs(1024, 128)
    hook = _HessianHook(128)
    hook(None, (x,), None)
    held_out = _correlated_inputs(512, 128, seed=1)
    for group in (32, 128):
        rtn = Int4Linear.from_codes(*rtn_codes(w, group, False), group, None)
        gptq = Int4Linear.from_codes(*gptq_quantize(w, hook.H, group), group, None)
        err = lambda m: ((held_out @ w.T - m(held_out)) ** 2).mean().item()  # noqa: E731
        assert err(gptq) < 0.7 * err(rtn), group


def test_gptq_on_an_identity_hessian_is_round_to_nearest():
    # With uncorrelated inputs there is nothing to compensate: the codes must be RTN's (sanity of the update).
    w = torch.randn(8, 64)
    codes, scales, zeros = gptq_quantize(w, torch.eye(64), 32, damp=0.0, block_size=32)
    r_codes, r_scales, r_zeros = rtn_codes(w, 32, False)
    assert torch.equal(scales, r_scales) and torch.equal(zeros, r_zeros)
    assert (codes != r_codes).float().mean() < 0.02  # ties may round apart


def test_gptq_config_on_a_model_with_calibration():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64)).eval()
    cal = _correlated_inputs(256, 64).numpy().astype(np.float32)
    ctx = CompressionContext((torch.from_numpy(cal[:1]),), calibration=cal)
    q_gptq = compress(model, GptqInt4Config(group_size=32, calibration_samples=256), ctx)
    q_rtn = compress(model, Int4WeightOnlyConfig(group_size=32), ctx)
    assert sum(isinstance(m, Int4Linear) for m in q_gptq.modules()) == 2
    x = _correlated_inputs(256, 64, seed=2)
    with torch.no_grad():
        ref = model(x)
        assert ((q_gptq(x) - ref) ** 2).mean() < ((q_rtn(x) - ref) ** 2).mean()


@pytest.mark.parametrize("kwargs, message", [
    ({"group_size": 48}, "int4-gptq: group_size must be one of 32, 64, 128, got 48"),
    ({"symmetric": 1}, "int4-gptq: symmetric must be true or false, got 1"),
    ({"damp": -0.1}, "int4-gptq: damp must be a number >= 0"),
    ({"calibration_samples": True}, "int4-gptq: calibration_samples must be a whole number >= 1, got True"),
])
def test_bad_fields_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(InputError, match=message):
        GptqInt4Config(**kwargs)
