"""The budget logic: what a report's figures are, which budgets they break and by how much, the Pareto front, the
choice and why the others lost. No device: reports and candidates are built here."""
import pytest

from edgekit.errors import InputError
from edgekit.optimize.budgets import Budgets, figures, parse_budget, violations
from edgekit.optimize.search import choose, closest, judge, pareto_front, why_not
from edgekit.profiles import load_profile


def _report(emulated=True, estimate_ms=2.0, p50=0.5, top1=0.95, mcu=True, size=20_000):
    return {"target": {"emulated": emulated, "stands_for": "stm32f746"},
            "latency_ms": {"p50": p50, "time_base": "emulated-virtual-time", "time_base_label": "QEMU virtual time"},
            "device_estimate": {"latency_ms": estimate_ms, "basis": "n instructions x CPI / clock"},
            "memory": {"arena_bytes": 3000, "ram_bytes": 12_000, "flash_bytes": size} if mcu else
            {"peak_rss_bytes": 40_000_000},
            "artifact": {"size_bytes": size}, "accuracy": {"top1": top1}, "energy": {"per_inference_mj": 0.5},
            "fidelity": {"vs_float": {"cosine": 0.999}}}


def test_figures_take_the_device_estimate_on_emulated_targets_and_say_so():
    f = figures(_report(), baseline_accuracy=96.0)
    assert f["latency_ms"] == 2.0 and f["latency_basis"].startswith("estimated on stm32f746")
    assert f["ram_bytes"] == 12_000 and f["flash_bytes"] == 20_000
    assert f["accuracy"] == pytest.approx(95.0) and f["accuracy_drop"] == pytest.approx(1.0)
    real = figures(_report(emulated=False, mcu=False), baseline_accuracy=None)
    assert real["latency_ms"] == 0.5 and real["latency_basis"] == "QEMU virtual time"
    assert real["ram_bytes"] == 40_000_000 and real["accuracy_drop"] is None


def test_violations_worst_first_and_unmeasured_figures_count():
    b = Budgets(max_latency_ms=1.0, max_flash_bytes=30_000, max_drop=0.4, min_cosine=0.9999)
    found = violations(b, figures(_report(), baseline_accuracy=96.0))
    assert [v.budget for v in found] == ["max_drop", "max_latency_ms", "min_cosine"]  # excess 1.5, 1.0, 0.0009
    assert str(found[1]) == "latency 2 ms > 1 ms"
    assert violations(Budgets(min_accuracy=50), {"accuracy": None})[0].excess == 1.0
    assert not violations(Budgets(max_latency_ms=5, max_drop=2), figures(_report(), baseline_accuracy=96.0))


def test_profile_memory_is_the_default_budget_and_bad_budgets_are_refused():
    b = Budgets.for_profile(load_profile("stm32f746"), max_latency_ms=10)
    assert b.max_ram_bytes == 320 * 1024 and b.max_flash_bytes == 1024 * 1024 and b.max_latency_ms == 10
    with pytest.raises(InputError):
        Budgets(max_latency_ms=-1)
    assert parse_budget("50ms", "time", "--max-latency") == 50 and parse_budget("0.2s", "time", "x") == 200
    assert parse_budget("512KB", "bytes", "x") == 512_000 and parse_budget("1.5mJ", "energy", "x") == 1.5
    with pytest.raises(InputError, match="--max-flash"):
        parse_budget("lots", "bytes", "--max-flash")


def _cand(number, drop, latency, size, status="measured", duplicate_of=None):
    return {"number": number, "recipe": f"r{number}", "status": status, "reason": None if status == "measured" else
            "compile: unsupported op", "duplicate_of": duplicate_of,
            "figures": {"accuracy_drop": drop, "latency_ms": latency, "size_bytes": size}}


def test_front_choice_closest_and_reasons():
    cands = judge([_cand(0, 0.2, 3.0, 24_000), _cand(1, 0.5, 2.0, 19_000), _cand(2, 0.6, 2.5, 20_000),
                   _cand(3, 3.0, 1.0, 10_000), _cand(4, None, None, None, status="failed")],
                  Budgets(max_latency_ms=2.6, max_drop=1.0))
    front = pareto_front(cands)
    assert front == [0, 1, 3]  # 2 is beaten by 1 on every objective
    chosen = choose(cands)
    assert chosen["number"] == 1  # within budget, and the fastest such
    assert why_not(cands[0], chosen, front) == "breaks latency 3 ms > 2.6 ms"
    assert why_not(cands[2], chosen, front).startswith("dominated")
    assert why_not(cands[3], chosen, front).startswith("breaks accuracy drop 3 points > 1 points")
    assert why_not(cands[4], chosen, front) == "compile: unsupported op"
    strict = judge([dict(c) for c in cands], Budgets(max_latency_ms=0.5))
    assert choose(strict) is None and closest(strict)["number"] == 3  # misses by the least



def test_the_baseline_accuracy_of_a_pt2_module_is_measured(tmp_path):
    """A .pt2's module refuses eval(); the uncompressed accuracy is still computed (it was an internal error)."""
    import numpy as np
    import torch

    from edgekit.modelio import Dataset
    from edgekit.optimize import make_problem
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3)).eval()
    x = torch.randn(20, 2, 4)
    program = torch.export.export(net, (x[:1],)).module()
    y = net(x).argmax(1).numpy()
    problem = make_problem(program, (x[:1],), load_profile("emu-phone"), tmp_path, Budgets(), None,
                           Dataset(x.numpy(), np.where(np.arange(20) < 15, y, (y + 1) % 3)), 3, None)
    assert problem.baseline_accuracy == pytest.approx(75.0)
