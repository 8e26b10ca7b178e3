"""Output agreement says when it cannot mean anything: a reference of zeros, denormals or one repeated value."""
import json

import numpy as np
import pytest

from edgekit.measure.stats import agreement, reference_defect
from tests.helpers import run_cli


def test_a_reference_that_cannot_judge_is_named():
    rng = np.random.default_rng(0)
    assert reference_defect(rng.standard_normal(40)) is None
    assert "all zero or denormal" in reference_defect(np.full(40, 1e-41, np.float32))
    assert "one value repeated" in reference_defect(np.full(40, 3.0))
    assert "NaN" in reference_defect(np.array([1.0, np.nan]))
    constant = agreement(np.full(40, 2.0), np.full(40, 3.0))
    assert constant["cosine"] == pytest.approx(1.0) and constant["comparable"] is False  # any constant "agrees"
    assert agreement(rng.standard_normal(8), rng.standard_normal(8))["comparable"] is True


@pytest.mark.runtime
def test_outputs_of_denormals_are_not_called_a_match(tmp_path):
    """A user's model whose outputs vanish (~1e-43): compile warns that INT8's cosine is meaningless, the bench
    report says so beside the cosine, and --min-cosine fails (exit 4) with the reason instead of passing."""
    data = tmp_path / "x.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32))
    proc = run_cli("compile", "tests/models/users.py:vanishing_outputs", "-t", "emu-phone", "-q", "int8",
                   "--calibration", data, "-o", tmp_path / "art", "--json")
    assert proc.returncode == 0, proc.stderr
    numerics = json.loads(proc.stdout)["numerics"]
    assert numerics["comparable"] is False and "denormal" in numerics["why"]
    assert "warning: INT8 cosine vs FP32 is meaningless" in proc.stderr
    proc = run_cli("bench", tmp_path / "art", "-t", "emu-phone", "--runs", "3", "--min-cosine", "0.99",
                   env={"COLUMNS": "200"})
    assert proc.returncode == 4, proc.stderr
    assert "meaningless: the reference outputs are all zero or denormal" in proc.stdout
    assert "cosine vs host cannot be judged" in proc.stderr
