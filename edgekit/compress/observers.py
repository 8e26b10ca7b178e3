"""A faster HistogramObserver range search, with the same scale and zero point as torchao's.

Static INT8 calibrates activations with torchao's `HistogramObserver` (XNNPACK's and LiteRT's quantizers both ask
for it). At convert time each observer picks its clipping range with `_non_linear_param_search`: a loop that narrows
[alpha, beta] by 1e-5 of the histogram's mass per step (up to 100,000 steps), scanning the cumulative histogram one
tensor element at a time, and computing the quantization error of every range it moves to (about 25 small tensor
ops each) until that error grows. On near-zero activations (a randomly initialised `transformers` MobileViT's fall
to 1e-21..1e-33 after its first blocks) the float32 error underflows to 0 or NaN for every range, so the error never
grows: the loop walks all ~1,000 narrowings, in subnormal arithmetic, ~1 s per observer. A tiny MobileViT (197
observers, 169 of them near zero) spent 200 s of a 310 s INT8 compile there (issue 26), its FP32 compile ~35 s.

`FastHistogramObserver`:
- skips the search where no range inside the observed one can change the result (scale = eps, the zero point that
  of an empty range: see `_range_cannot_matter`): the same qparams as torchao's, without the search;
- elsewhere takes the same steps in the same order with the same float arithmetic (the running sums of 1e-5; the
  thresholds rounded to float32, as torch compares a float32 element with a Python float), but finds each step's
  bins by binary search, takes the runs of steps that move neither end in one vectorized pass, and computes the
  errors of many ranges in one batch of torch's float32 ops, element for element those of
  `_compute_quantization_error`: the same range as torchao's.
Checked against torchao on every observer of the tiny MobileViT (197, the same qparams: 221 s there, 0.1 s here) and
in tests/compress/test_observers.py.

- runs each calibration update (`forward`) and the range search on one intra-op thread. An update that widens the
range re-bins the old histogram through 262,144-element tensors (torchao's `_upscale_histogram`: repeat_interleave,
linspace, bucketize, bincount), each big enough for PyTorch to open an OpenMP parallel region; on a busy 2-core
host one region costs ~45 ms of waiting for the second thread, one thread does the whole update in ~2 ms. The
values are computed element by element (the histogram's counts are whole numbers), so the qparams are the same.
The unrolled GRU of the zoo's kws_gru has ~1,300 histogram observers: one phone INT8 compile (64 calibration
samples, then 8 more for the per-layer numerics) made 46,000 updates and 3,310 re-binnings (issue 26: 5.3x FP32).
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torchao.quantization.pt2e.observer import HistogramObserver

STEP = 1e-5        # torchao's granularity of the search (a fraction of the histogram's mass)
_SKIP_CHUNK = 4096  # steps looked ahead at once when skipping steps that move nothing
_FIRST_BATCH, _MAX_BATCH = 16, 512  # ranges whose errors are computed together (the search stops at an unknown one)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch's intra-op threads set to 1 inside, restored after."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class FastHistogramObserver(HistogramObserver):
    """torchao's HistogramObserver with a faster range search and calibration update: the same scale and zero
    point."""

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        with one_thread():
            return super().forward(x_orig)

    def calculate_qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        with one_thread():
            return super().calculate_qparams()

    def _non_linear_param_search(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.histogram.size()[0] == self.bins, "bins mismatch"
        if self._range_cannot_matter():
            return self.min_val, self.max_val
        start_bin, end_bin = search_bins(self.histogram, self._quantization_errors)
        bin_width = (self.max_val - self.min_val) / self.bins
        return self.min_val + bin_width * start_bin, self.min_val + bin_width * (end_bin + 1)

    def _range_cannot_matter(self) -> bool:
        """Whether every range inside the observed one gives the same scale and zero point: the whole range is so
        narrow that the scale is `eps` (and the zero point that of an empty range) even at twice its width (room
        for the search's rounding). Near-zero activations (a randomly initialised MobileViT's fall to 1e-25 after a
        few blocks) are such ranges; on them torchao's error is 0 or NaN (the float32 bin width underflows), so its
        search never stops early and walks all ~1,000 narrowings in subnormal arithmetic (~1 s) to no effect.
        The search only feeds `calculate_qparams`, so skipping it there returns the same qparams."""
        scale, zero_point = self._calculate_qparams(2 * self.min_val, 2 * self.max_val)
        empty_scale, empty_zero_point = self._calculate_qparams(torch.zeros_like(self.min_val),
                                                                torch.zeros_like(self.max_val))
        return torch.equal(scale, empty_scale) and torch.equal(zero_point, empty_zero_point)

    def _quantization_errors(self, ranges: Sequence[tuple[int, int]]) -> list[float]:
        """`_compute_quantization_error(start, end)` for each range: the same float32 ops, one row per range."""
        bin_width = (self.max_val.item() - self.min_val.item()) / self.bins
        dst = [bin_width * (end - start + 1) / self.dst_nbins for start, end in ranges]  # Python floats, as there

        def column(values: list[float]) -> torch.Tensor:  # torch rounds a Python float operand to float32
            return torch.tensor(values, dtype=torch.float32, device=self.histogram.device).unsqueeze(1)

        dst_bin_width, half = column(dst), column([d / 2 for d in dst])
        starts = torch.tensor([s for s, _ in ranges], device=self.histogram.device).unsqueeze(1)
        src_bin = torch.arange(self.bins, device=self.histogram.device)
        src_bin_begin = (src_bin - starts) * bin_width
        src_bin_end = src_bin_begin + bin_width
        dst_bin_of_begin = torch.clamp(torch.div(src_bin_begin, dst_bin_width, rounding_mode="floor"),
                                       0, self.dst_nbins - 1)
        dst_bin_of_begin_center = (dst_bin_of_begin + 0.5) * dst_bin_width
        dst_bin_of_end = torch.clamp(torch.div(src_bin_end, dst_bin_width, rounding_mode="floor"),
                                     0, self.dst_nbins - 1)
        density = self.histogram / bin_width
        norm = torch.zeros(len(ranges), self.bins, device=self.histogram.device)
        norm += self._get_norm(src_bin_begin - dst_bin_of_begin_center, half, density)
        norm += (dst_bin_of_end - dst_bin_of_begin - 1) * self._get_norm(-half, half, density)
        dst_bin_of_end_center = dst_bin_of_end * dst_bin_width + half
        norm += self._get_norm(-half, src_bin_end - dst_bin_of_end_center, density)
        # Row by row: a row is a contiguous 1-D tensor like torchao's, so its sum adds in the same order.
        return [0.0 if d == 0.0 else row.sum().item() for d, row in zip(dst, norm)]


def search_bins(histogram: torch.Tensor,
                errors: Callable[[Sequence[tuple[int, int]]], list[float]]) -> tuple[int, int]:
    """(start_bin, end_bin) that torchao's `_non_linear_param_search` picks for `histogram`; `errors(ranges)` is
    the observer's quantization error of each (start_bin, end_bin)."""
    start_bin, end_bin = 0, histogram.numel() - 1
    norm_min = float("inf")
    moves = _moves(histogram)
    size = _FIRST_BATCH
    while batch := list(itertools.islice(moves, size)):
        for (start, end), norm in zip(batch, errors(batch)):
            if norm > norm_min:  # torchao stops at the first range whose error grows
                return start_bin, end_bin
            norm_min = norm
            start_bin, end_bin = start, end
        size = min(2 * size, _MAX_BATCH)
    return start_bin, end_bin


def _moves(histogram: torch.Tensor) -> Iterator[tuple[int, int]]:
    """The ranges torchao's search moves to, in order, while each one's error is no larger than the last's (the
    steps do not depend on the errors: those only decide where the search stops)."""
    bins = histogram.numel()
    total = torch.sum(histogram).item()
    csum = torch.cumsum(histogram, dim=0).numpy()  # non-decreasing: a binary search finds what the scan finds
    f32 = csum.dtype.type  # torch compares a float32 element with a Python float after rounding it to float32
    alpha, beta = 0.0, 1.0
    start_bin, end_bin = 0, bins - 1
    while alpha < beta:
        next_alpha = alpha + STEP
        next_beta = beta - STEP
        l, r = start_bin, end_bin
        if end_bin > start_bin:
            # torchao: while l < end_bin and csum[l] < next_alpha * total: l += 1
            l = min(max(int(np.searchsorted(csum, f32(next_alpha * total), side="left")), start_bin), end_bin)
            # torchao: while r > start_bin and csum[r] > next_beta * total: r -= 1
            r = max(min(int(np.searchsorted(csum, f32(next_beta * total), side="right")) - 1, end_bin), start_bin)
        if (l - start_bin) > (end_bin - r):
            alpha = next_alpha
            start_bin = l
        elif r != end_bin:
            beta = next_beta
            end_bin = r
        else:
            # Neither end moved: alpha is unchanged, so the next steps leave l at start_bin too and only beta moves
            # until the end bin's cumulative mass passes the threshold. Take all those steps at once.
            beta = _skip_still_steps(alpha, next_beta, csum[end_bin], total, end_bin > start_bin)
            continue
        yield start_bin, end_bin


def _skip_still_steps(alpha: float, beta: float, end_mass: np.floating, total: float, can_move: bool) -> float:
    """The beta at the first step (from `beta` on) that moves the end bin or ends the loop, stepping as torchao
    does (beta - 1e-5, repeatedly: np.subtract.accumulate subtracts in order, as the loop does)."""
    steps = np.full(_SKIP_CHUNK + 1, STEP)
    while True:
        steps[0] = beta
        betas = np.subtract.accumulate(steps)  # betas[k]: beta before step k; betas[k + 1]: its next_beta
        stops = alpha >= betas[:-1]  # the loop ends
        if can_move:
            stops |= end_mass > (betas[1:] * total).astype(end_mass.dtype)
        if stops.any():
            return float(betas[int(np.argmax(stops))])
        beta = float(betas[-1])


def use_fast_histograms(prepared: torch.nn.Module) -> torch.nn.Module:
    """Give every torchao HistogramObserver of a prepare_pt2e graph the fast range search (the same ranges)."""
    for module in prepared.modules():
        if type(module) is HistogramObserver:
            module.__class__ = FastHistogramObserver
    return prepared
