"""`edgekit compress -o OUT.pt2` never loses a user's file: not the input model, not an OUT.json it did not write;
an earlier compress's output is replaced, --force replaces anything; an unwritable place is refused before any
work. Through the real command, on a tiny MLP."""
import json

import pytest

from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli

TINY = '''
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval(), (torch.randn(1, 16),)
'''


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / "recipe.toml").write_text('[[step]]\nmethod = "prune-magnitude"\nsparsity = 0.5\n')
    return tmp_path / "recipe.toml"


def test_output_that_is_the_input_model_is_refused_before_any_work(tmp_path, recipe):
    model = tmp_path / "model.pt2"
    model.write_bytes(b"the user's model")  # never loaded: the check comes first
    result = run_cli("compress", model, "-r", recipe, "-o", tmp_path / "." / "model.pt2")
    assert_one_line_error(result, 1, "is the input model; refusing to replace it")
    assert "model-compressed.pt2" in result.stderr and model.read_bytes() == b"the user's model"


def test_a_users_json_where_the_report_goes_is_refused_before_any_work(tmp_path, recipe):
    (tmp_path / "tiny.py").write_text(TINY)
    (tmp_path / "out.json").write_text('{"mine": true}')
    result = run_cli("compress", f"{tmp_path / 'tiny.py'}:build", "-r", recipe, "-o", tmp_path / "out.pt2")
    assert_one_line_error(result, 1, "out.json exists and is not an edgekit compress output; refusing to replace it")
    assert (tmp_path / "out.json").read_text() == '{"mine": true}' and not (tmp_path / "out.pt2").exists()


def test_an_unwritable_output_is_refused_before_any_work(tmp_path, recipe):
    result = run_cli("compress", tmp_path / "missing.pt2", "-r", recipe, "-o", "/proc/edgekit-out.pt2")
    assert_one_line_error(result, 1, "cannot write the compressed model under /proc")


def test_force_replaces_a_users_files_and_an_earlier_output_is_replaced_without_it(tmp_path, recipe):
    (tmp_path / "tiny.py").write_text(TINY)
    (tmp_path / "out.json").write_text('{"mine": true}')
    args = ["compress", f"{tmp_path / 'tiny.py'}:build", "-r", recipe, "-o", tmp_path / "out.pt2"]
    forced = run_cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads((tmp_path / "out.json").read_text())["steps"][0]["method"] == "prune-magnitude"
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-2000:]  # its own earlier output: replaced without --force
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.pt2", "recipe.toml", "tiny.py"]
