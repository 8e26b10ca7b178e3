import json
import re

import pytest
import torch

from edgekit.compress import Int8StaticConfig, MagnitudePruneConfig, StructuredPruneConfig
from edgekit.errors import InputError
from edgekit.recipe import load_recipe, parse_recipe
from tests.helpers import run_cli

RECIPE = """
[[step]]
method = "prune-structured"
ratio = 0.5
importance = "l2"
keep = ["classifier"]

[[step]]
method = "prune-magnitude"
sparsity = 0.5
finetune_epochs = 1

[[step]]
method = "int8"
calibration_samples = 32
"""


def test_recipe_maps_steps_onto_registered_configs(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    configs = load_recipe(path)
    assert configs == [StructuredPruneConfig(ratio=0.5, importance="l2", keep=("classifier",)),
                       MagnitudePruneConfig(sparsity=0.5, finetune_epochs=1),
                       Int8StaticConfig(calibration_samples=32)]


@pytest.mark.parametrize("step, message", [
    ({"method": "prune-magic"}, r"r.toml: step 2: unknown method 'prune-magic' \(known methods: .*prune-nm"),
    ({"method": "prune-nm", "ratio": 0.5}, r"step 2 \(prune-nm\): unknown key 'ratio' \(keys of prune-nm: .*m, n"),
    ({"method": "prune-magnitude", "sparsity": "half"}, r"step 2 \(prune-magnitude\): sparsity must be a number"),
    ({"method": "prune-structured", "steps": 2.5}, r"steps must be an int, got float"),
    ({"method": "prune-structured", "keep": "fc"}, r"keep must be an array"),
    ({"method": "prune-structured", "trainer": "x"}, r"unknown key 'trainer'"),
    ({"method": "prune-structured", "ratio": 1.2},
     r"step 2 \(prune-structured\): .*ratio must be a number in \(0, 1\)"),
    ({"method": "prune-magnitude", "scope": "row"},
     r"step 2 \(prune-magnitude\): .*scope must be one of 'global', 'layer', got 'row'"),
    ({"method": "distill", "output_loss": 3}, r"step 2 \(distill\): output_loss must be one of 'kd', 'mse', 'cosine'"),
    ({"sparsity": 0.5}, r"step 2: missing method"),
])
def test_bad_steps_name_the_file_step_and_problem(step, message):
    with pytest.raises(InputError) as info:
        parse_recipe({"step": [{"method": "int8"}, step]}, "r.toml")
    assert re.search(message, info.value.one_line()), info.value.one_line()


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_recipe(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[[step]\nmethod=")
    with pytest.raises(InputError, match="bad.toml: not valid TOML"):
        load_recipe(tmp_path / "bad.toml")
    (tmp_path / "empty.toml").write_text("title = 'x'\n")
    with pytest.raises(InputError, match="unknown top-level key"):
        load_recipe(tmp_path / "empty.toml")


FACTORY = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    return model.eval(), (torch.zeros(1, 1, 8, 8),)
"""


@pytest.fixture(scope="module")
def cli_inputs(tmp_path_factory, digits_npz):
    d = tmp_path_factory.mktemp("recipe")
    (d / "small.py").write_text(FACTORY)
    (d / "r.toml").write_text('[[step]]\nmethod = "prune-structured"\nratio = 0.5\nfinetune_epochs = 1\n'
                              '[[step]]\nmethod = "prune-magnitude"\nsparsity = 0.6\n')
    return d, digits_npz


def test_compress_command_writes_a_model_and_a_step_report(cli_inputs):
    d, (train, test) = cli_inputs
    out = d / "small-pruned.pt2"
    result = run_cli("compress", f"{d / 'small.py'}:build", "--recipe", d / "r.toml", "-o", out,
                     "--calibration", train, "--eval", test)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    first, second = report["steps"]
    assert first["method"] == "prune-structured" and second["method"] == "prune-magnitude"
    assert first["after"]["macs"] < 0.6 * first["before"]["macs"]
    assert first["after"]["params"] < first["before"]["params"]
    assert second["after"]["zero_share"] > 0.5 and second["after"]["sparse_bytes"] < second["before"]["sparse_bytes"]
    assert first["quality_metric"] == "top1_accuracy" and "eval data" in first["quality_on"]
    assert first["after"] == second["before"]
    program = torch.export.load(out)  # a real, reloadable program with the pruned shapes
    x = torch.zeros(1, 1, 8, 8)
    assert program.module()(x).shape == (1, 10)
    weights = [v for k, v in program.state_dict.items() if k.endswith("weight")]
    assert weights[0].shape[0] == 4


def test_compile_with_a_recipe_records_it_and_stores_sparse(cli_inputs):
    d, (train, _) = cli_inputs
    recipe = d / "nm.toml"
    recipe.write_text('[[step]]\nmethod = "prune-nm"\n')
    out = d / "art"
    result = run_cli("compile", f"{d / 'small.py'}:build", "-t", "emu-phone", "--recipe", recipe, "-o", out,
                     "--calibration", train, "--json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recipe"][0]["method"] == "prune-nm" and manifest["steps"][0]["after"]["zero_share"] > 0.4
    encoded = manifest["encoded"]["model.pte"]
    assert "model.pte" not in manifest["files"] and encoded["file"] in manifest["files"]
    assert encoded["stored_bytes"] < 0.8 * encoded["bytes"]


def test_recipe_errors_are_one_line_with_exit_1(cli_inputs, tmp_path):
    d, _ = cli_inputs
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nmethod = "prune-structured"\nratoi = 0.5\n')
    for args in (("compress", f"{d / 'small.py'}:build", "--recipe", bad, "-o", tmp_path / "o.pt2"),
                 ("compile", f"{d / 'small.py'}:build", "-t", "emu-phone", "--recipe", bad, "-o", tmp_path / "o")):
        result = run_cli(*args)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "bad.toml: step 1 (prune-structured): unknown key 'ratoi'" in lines[0]
    assert not (tmp_path / "o.pt2").exists() and not (tmp_path / "o").exists()
    result = run_cli("compile", f"{d / 'small.py'}:build", "-t", "emu-phone", "--recipe", bad, "-q", "int8",
                     "-o", tmp_path / "o")
    assert result.returncode == 1 and "--recipe and --quantize" in result.stderr


@pytest.mark.parametrize("line,text", [("calibration_samples = -5", "calibration_samples must be a whole number >= 1"),
                                       ("calibration_samples = 0", "calibration_samples must be a whole number >= 1")])
def test_int8_settings_out_of_range_are_refused(tmp_path, line, text):
    from edgekit.recipe import load_recipe
    (tmp_path / "r.toml").write_text(f'[[step]]\nmethod = "int8"\n{line}\n')
    with pytest.raises(InputError, match=text):
        load_recipe(tmp_path / "r.toml")


def test_int8_config_checks_its_fields_from_python():
    from edgekit.compress import Int8StaticConfig
    with pytest.raises(InputError, match="per_channel must be true or false"):
        Int8StaticConfig(per_channel="yes")
