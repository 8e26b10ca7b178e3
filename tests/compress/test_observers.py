"""The fast HistogramObserver range search (issue 26: a tiny MobileViT's INT8 compile spent 180 s in torchao's):
the same ranges as torchao's, in a fraction of the time, and used wherever edgekit calibrates with PT2E."""
import time

import numpy as np
import pytest
import torch
from torchao.quantization.pt2e.observer import HistogramObserver

from edgekit.compress.observers import FastHistogramObserver, use_fast_histograms


def _observed(*batches: torch.Tensor) -> tuple[HistogramObserver, FastHistogramObserver]:
    # what XNNPACK's and LiteRT's quantizers ask for: int8 per-tensor affine, eps 2^-12
    kwargs = dict(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine, eps=2 ** -12)
    slow = HistogramObserver(**kwargs)
    for batch in batches:
        slow(batch)
    fast = FastHistogramObserver(**kwargs)
    fast.load_state_dict(slow.state_dict())
    return slow, fast


def _sparse() -> torch.Tensor:
    """A few distinct values (a mask, a clamp, an attention score row): most histogram bins are empty, so almost
    every step of torchao's search moves nothing. torchao takes ~0.2 s on this one, every step a tensor index."""
    return torch.tensor([0.0, 1.0, 1.0, 5.0])


HISTOGRAMS = {
    "normal": lambda g: [torch.randn(4, 16, 16, 16, generator=g) for _ in range(2)],
    "relu": lambda g: [torch.relu(torch.randn(4, 16, 16, 16, generator=g))],
    "silu": lambda g: [torch.nn.functional.silu(4 * torch.randn(2, 16, 16, 16, generator=g))],
    "softmax": lambda g: [torch.softmax(3 * torch.randn(2, 4, 32, 32, generator=g), -1)],
    "outliers": lambda g: [torch.cat([torch.randn(5000, generator=g), torch.tensor([200.0, -50.0])])],
    "two batches, growing range": lambda g: [torch.randn(2000, generator=g), 10 * torch.randn(2000, generator=g)],
    "constant": lambda g: [torch.full((64,), 3.0)],
    "sparse": lambda g: [_sparse()],
}


@pytest.mark.parametrize("kind", HISTOGRAMS)
def test_same_range_as_torchao(kind):
    slow, fast = _observed(*HISTOGRAMS[kind](torch.Generator().manual_seed(0)))
    expected, got = slow._non_linear_param_search(), fast._non_linear_param_search()
    assert all(torch.equal(e, g) for e, g in zip(expected, got)), (expected, got)
    assert all(torch.equal(e, g) for e, g in zip(slow.calculate_qparams(), fast.calculate_qparams()))


def test_batched_errors_equal_torchaos_one_by_one():
    slow, fast = _observed(torch.randn(3000, generator=torch.Generator().manual_seed(1)) ** 3)
    rng = np.random.default_rng(0)
    ranges = [(int(a), int(b)) for a, b in (sorted(rng.integers(0, slow.bins, 2)) for _ in range(40))]
    ranges += [(0, slow.bins - 1), (7, 7), (100, 101)]
    assert fast._quantization_errors(ranges) == [slow._compute_quantization_error(a, b) for a, b in ranges]


def test_search_skips_the_steps_that_move_nothing():
    # torchao's loop takes tens of thousands of steps here (~0.2 s); the cost must not grow with their number.
    _, fast = _observed(_sparse())
    t0 = time.perf_counter()
    for _ in range(5):
        fast._non_linear_param_search()
    assert (time.perf_counter() - t0) / 5 < 0.05


def test_near_zero_activations_get_torchaos_qparams_without_the_search():
    # A randomly initialised MobileViT's activations fall to ~1e-25 after a few blocks (issue 26). There torchao's
    # quantization error is 0 or NaN for every range, so its search walks all ~1,000 narrowings (in subnormal
    # arithmetic, ~1 s per activation); every one of them gives scale = eps, as the whole range does.
    slow, fast = _observed(1e-25 * torch.randn(40, generator=torch.Generator().manual_seed(2)))
    assert fast._range_cannot_matter()
    expected = slow.calculate_qparams()
    assert expected[0].item() == 2 ** -12
    t0 = time.perf_counter()
    got = fast.calculate_qparams()
    assert time.perf_counter() - t0 < 0.05
    assert all(torch.equal(e, g) for e, g in zip(expected, got))


@pytest.mark.parametrize("make, cannot_matter", [
    (lambda g: 0.01 * torch.rand(2000, generator=g), True),    # >= 0 and under ~128 eps wide: scale eps, zp -128
    (lambda g: 1e-3 * torch.randn(2000, generator=g), False),  # a negative end of a few eps moves the zero point
    (lambda g: 0.5 * torch.rand(2000, generator=g), False),    # wider than ~128 eps: the range sets the scale
    (lambda g: torch.randn(2000, generator=g), False),
])
def test_the_search_is_skipped_only_where_the_range_cannot_matter(make, cannot_matter):
    slow, fast = _observed(make(torch.Generator().manual_seed(3)))
    assert fast._range_cannot_matter() == cannot_matter
    assert all(torch.equal(e, g) for e, g in zip(slow.calculate_qparams(), fast.calculate_qparams()))


def test_use_fast_histograms_replaces_only_torchaos_histogram_observer():
    class Other(HistogramObserver):
        pass
    holder = torch.nn.ModuleDict({"a": HistogramObserver(), "b": Other(), "c": torch.nn.Identity()})
    use_fast_histograms(holder)
    assert [type(m) for m in holder.values()] == [FastHistogramObserver, Other, torch.nn.Identity]


def test_calibration_updates_run_on_one_thread_with_the_same_histogram():
    """A range that grows at every update re-bins the histogram each time (torchao's _upscale_histogram, 262,144-
    element tensors); on one intra-op thread the histogram, range and qparams are torchao's to the bit, and the
    caller's thread count is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        batches = [torch.randn(1, 154, generator=g) * (1 + 0.05 * i) + 0.01 * i for i in range(40)]
        kwargs = dict(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine, eps=2 ** -12)
        ref, fast = HistogramObserver(**kwargs), FastHistogramObserver(**kwargs)
        for batch in batches:
            ref(batch)
            fast(batch)
        assert torch.get_num_threads() == 2
        assert torch.equal(ref.histogram, fast.histogram)
        assert torch.equal(ref.min_val, fast.min_val) and torch.equal(ref.max_val, fast.max_val)
        assert [t.tolist() for t in ref.calculate_qparams()] == [t.tolist() for t in fast.calculate_qparams()]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
