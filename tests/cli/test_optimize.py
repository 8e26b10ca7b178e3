"""`edgekit optimize` through the real command, without a device: what it refuses before any work (an -o holding the
user's files, a storage that cannot work, limits that mean nothing, labels the model cannot have) and what its
report says about trials it did not measure, a tie, and a .pt2 that cannot be pruned. A tiny MLP stands in for a
model; stored trials stand in for a search (--trials 0 judges and reports them)."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from edgekit.errors import CheckFailed
from tests.cli.helpers import assert_one_line_error
from tests.helpers import ROOT, run_cli

TINY = '''
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval(), (torch.randn(1, 16),)
'''


def _write_tiny(folder):
    """The tiny model as file.py:factory, labelled data for it (3 classes) and a new output folder."""
    (folder / "tiny.py").write_text(TINY)
    rng = np.random.default_rng(0)
    for name in ("cal", "eval"):
        np.savez(folder / f"{name}.npz", x=rng.standard_normal((32, 16)).astype(np.float32), y=rng.integers(0, 3, 32))
    return {"model": f"{folder / 'tiny.py'}:build", "cal": folder / "cal.npz", "eval": folder / "eval.npz",
            "out": folder / "opt"}


@pytest.fixture
def tiny(tmp_path):
    return _write_tiny(tmp_path)


def _optimize(tiny, *args, model=None):
    return run_cli("optimize", model or tiny["model"], "-t", "emu-phone", "--eval", tiny["eval"], *args)


# ---- refused before any work -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mine", ["report.json", "best/model.pte"])
def test_a_folder_with_the_users_report_or_best_is_refused_before_any_work(tiny, mine):
    out = tiny["out"]
    (out / mine).parent.mkdir(parents=True)
    (out / mine).write_text("mine")
    result = _optimize(tiny, "-o", out)
    assert_one_line_error(result, 1, "is not empty and is not an edgekit optimize folder")
    assert "--force" in result.stderr
    assert (out / mine).read_text() == "mine" and [p.name for p in out.iterdir()] == [mine.split("/")[0]]


def test_an_unwritable_output_is_refused_before_any_work(tiny):
    assert_one_line_error(_optimize(tiny, "-o", "/proc/edgekit-optimize"), 1,
                          "cannot write the optimize folder under /proc")


def test_trials_0_without_a_stored_search_is_refused_before_any_work(tiny):
    result = _optimize(tiny, "--trials", "0", "-o", tiny["out"])
    assert_one_line_error(result, 1, "there is no study 'edgekit-optimize' in")
    assert "--trials N" in result.stderr and not tiny["out"].exists()


@pytest.mark.parametrize("url", ["garbage", "foo://bar", "postgresql://edgekit:secret@127.0.0.1:1/x",
                                 "sqlite:///no/such/folder/study.db", "sqlite://"])
def test_a_storage_that_cannot_work_is_refused_before_any_work(tiny, url):
    started = time.monotonic()
    result = _optimize(tiny, "--storage", url, "-o", tiny["out"])
    assert_one_line_error(result, 1, "--storage")
    assert "secret" not in result.stderr and not tiny["out"].exists()
    assert time.monotonic() - started < 10  # it took 10-47 s: the model was loaded and its baseline measured first


@pytest.mark.parametrize("option,value,text", [
    ("--max-latency", "nan", "--max-latency must be a finite number, got nan (leave --max-latency out for no limit)"),
    ("--max-latency", "-5ms", "--max-latency must not be negative, got -5"),
    ("--max-drop", "nan", "--max-drop must be a finite number"),
    ("--min-accuracy", "150", "--min-accuracy must be from 0 to 100, got 150"),
])
def test_limits_that_mean_nothing_are_refused_naming_the_option(tiny, option, value, text):
    result = _optimize(tiny, f"{option}={value}", "-o", tiny["out"])
    assert_one_line_error(result, 1, text)
    assert "_ms" not in result.stderr and "min_accuracy" not in result.stderr and "max_drop" not in result.stderr


def test_eval_labels_the_model_cannot_output_are_refused_before_the_search(tiny, tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((8, 16), np.float32), y=np.full(8, 7))
    result = run_cli("optimize", tiny["model"], "-t", "emu-phone", "--eval", tmp_path / "bad.npz", "-o", tiny["out"])
    assert_one_line_error(result, 1, "labels must be class indices in 0..2 (the first output has 3 values)")
    assert not (tiny["out"] / "candidates").exists()


# ---- what the report says ---------------------------------------------------------------------------------------

def _stored_study(path, trials):
    """A study as a search leaves it: each trial (state, params, values, user attributes)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    storage = f"sqlite:///{path}"
    study = optuna.create_study(study_name="edgekit-optimize", storage=storage, directions=["minimize"] * 3)
    space = {"quantization": CategoricalDistribution(["int8", "int8-dynamic", "int4-g32"]),
             "prune_ratio": CategoricalDistribution([0.0])}
    for quantization, state, values, attrs in trials:
        study.add_trial(optuna.trial.create_trial(
            params={"quantization": quantization, "prune_ratio": 0.0}, distributions=space, values=values,
            state=getattr(optuna.trial.TrialState, state), user_attrs={"recipe": quantization, **attrs}))
    return storage


def _measured(latency, size, drop):
    figures = {"latency_ms": latency, "latency_basis": "measured", "size_bytes": size, "flash_bytes": size,
               "ram_bytes": 1e6, "accuracy": 90 - drop, "accuracy_drop": drop}
    return "COMPLETE", [drop, latency, size], {
        "status": "measured", "figures": figures,
        "latency_ms": {"min": latency, "p50": latency, "p90": latency, "p99": latency, "max": latency,
                       "time_base_label": "wall-clock"}}


@pytest.fixture(scope="module")
def tie_report_on_a_pt2(tmp_path_factory):
    """--trials 0 on a .pt2 of the tiny model over two stored trials that tie on latency: trial 0 is smaller,
    trial 1 more accurate."""
    from edgekit.modelio import load_model
    tmp_path = tmp_path_factory.mktemp("pt2")
    tiny = _write_tiny(tmp_path)
    loaded = load_model(tiny["model"])
    torch.export.save(torch.export.export(loaded.module, loaded.example_inputs), tmp_path / "tiny.pt2")
    storage = _stored_study(tmp_path / "study.db", [("int8", *_measured(2.0, 1000, 0.5)),
                                                    ("int8-dynamic", *_measured(2.0, 1200, 0.2))])
    result = _optimize(tiny, "--calibration", tiny["cal"], "--trials", "0", "--storage", storage,
                       "-o", tiny["out"], "--json", model=tmp_path / "tiny.pt2")
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_a_tie_with_the_chosen_trial_is_not_called_slower(tie_report_on_a_pt2):
    summary = tie_report_on_a_pt2
    assert summary["chosen"]["number"] == 0 and summary["pareto_front"] == [0, 1]
    assert summary["candidates"][1]["why_not_chosen"] == \
        "within budget and on the front; as fast as trial 0 but larger"


def test_a_pt2_search_leaves_out_the_pruning_it_cannot_apply(tie_report_on_a_pt2):
    space = tie_report_on_a_pt2["search_space"]
    assert space["prune_ratios"] == [0.0]  # labelled calibration: a factory's search would prune
    assert space["left_out"].startswith("pruning: the model is an exported graph (a .pt2)")


def test_when_nothing_could_be_measured_the_error_says_why(tiny, tmp_path):
    discarded = {"status": "discarded", "reason": "before device time: flash 2 MiB > 1 MiB"}
    storage = _stored_study(tmp_path / "study.db", [
        ("int8", "PRUNED", None, discarded), ("int4-g32", "PRUNED", None, discarded),
        ("int8-dynamic", "FAIL", None, {"status": "interrupted", "reason": "interrupted (Ctrl-C) before it finished"}),
    ])
    result = _optimize(tiny, "--trials", "0", "--storage", storage, "-o", tiny["out"])
    assert_one_line_error(result, CheckFailed.exit_code,
                          "no candidate meets the budgets; none could be measured: before device time: flash 2 MiB > "
                          "1 MiB (trials 0, 1); interrupted (Ctrl-C) before it finished (trial 2)")


@pytest.mark.runtime
def test_a_trial_cut_short_by_ctrl_c_records_why(tiny):
    """Ctrl-C during a trial: the command exits 130 and the stored trial says it was interrupted (the report
    called it 'failed', with no reason)."""
    import optuna
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "optimize", tiny["model"], "-t", "emu-phone", "--eval",
                             str(tiny["eval"]), "--calibration", str(tiny["cal"]), "--trials", "1", "-o",
                             str(tiny["out"])], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    storage = f"sqlite:///{tiny['out'] / 'study.db'}"
    try:
        deadline = time.monotonic() + 120
        while not _running_trial(storage) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # into the trial's compile
        assert proc.poll() is None, f"optimize ended before the signal (exit {proc.returncode})"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    trial = optuna.load_study(study_name="edgekit-optimize", storage=storage).trials[0]
    assert trial.user_attrs["status"] == "interrupted"
    assert trial.user_attrs["reason"] == "interrupted (Ctrl-C) before it finished"


def _running_trial(storage: str) -> bool:
    """Read-only, straight from SQLite: optuna.load_study on a database the command is still creating creates its
    schema too, and the two writers collided (the command stopped with "UNIQUE constraint failed:
    alembic_version.version_num")."""
    import sqlite3
    path = storage.removeprefix("sqlite:///")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM trials WHERE state = 'RUNNING' LIMIT 1").fetchone() is not None
    except sqlite3.Error:  # no database or no trials table yet
        return False
