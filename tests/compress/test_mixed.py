"""Mixed precision: layers kept in float, asked for (keep_float) or searched for (min_cosine)."""
import json

import numpy as np
import pytest
import torch

from edgekit.compress import Int8StaticConfig
from edgekit.compress.mixed import check_module_names, file_missed, judge_file, summary_line, with_parents
from edgekit.errors import InputError
from tests.cli.helpers import assert_one_line_error
from tests.helpers import ROOT, run_cli
from tests.models.users import outlier_mlp

OUTLIER = f"{ROOT}/tests/models/users.py:outlier_mlp"


def test_a_module_whose_layers_are_all_kept_is_kept_whole():
    layers = ["features.5.conv", "gru.cell.ih", "features.1.conv", "gru.cell.hh", "features.2.conv", "head"]
    kept = ["features.5.conv", "gru.cell.ih", "gru.cell.hh", "head"]
    # features.5 holds one ranked layer; the GRU's cell both of its own; features also holds 1 and 2, not kept
    assert with_parents(kept, layers) == ["features.5", "gru", "head"]
    assert with_parents(layers, layers) == ["features", "gru", "head"]
    assert with_parents([], layers) == []


def test_settings_are_checked_before_any_work():
    with pytest.raises(InputError, match="keep_float must be a list of module paths"):
        Int8StaticConfig(keep_float="fc1")
    with pytest.raises(InputError, match="min_cosine"):
        Int8StaticConfig(min_cosine=0)
    with pytest.raises(InputError, match="keep_float names fc9, not a module of the model"):
        check_module_names(outlier_mlp()[0], ["fc9"])
    with pytest.raises(InputError, match="keep_float names op:div, not an op kind it can keep float") as refused:
        check_module_names(outlier_mlp()[0], ["op:add", "op:div"])
    assert refused.value.hint == "op kinds: op:add, op:sub, op:mul, op:cat"
    check_module_names(outlier_mlp()[0], ["op:add", "fc1"])


@pytest.mark.runtime
@pytest.mark.parametrize("target", ["emu-phone", "emu-rpi4-x86"])
def test_min_cosine_keeps_a_vision_transformers_adds_float(tmp_path, target):
    """The residual stream of a timm-style ViT (its adds, the position embedding's in the model's own forward) is
    what INT8 hurts: the search keeps every add float ("op:add") and each Linear int8, and the compiled file, run
    with the target's runtime on this host, reaches min_cosine (XNNPACK runs the adds as float islands)."""
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).standard_normal((64, 16, 48)).astype(np.float32))
    (tmp_path / "mixed.toml").write_text('[[step]]\nmethod = "int8"\nmin_cosine = 0.99\n')
    result = run_cli("compile", f"{ROOT}/tests/models/users.py:tiny_vit", "-t", target, "--recipe",
                     tmp_path / "mixed.toml", "--calibration", tmp_path / "cal.npz", "-o", tmp_path / "a")
    assert result.returncode == 0, result.stderr[-2000:]
    mixed = json.loads((tmp_path / "a" / "manifest.json").read_text())["mixed_precision"]
    assert mixed["cosine_all_int8"] < 0.99 and mixed["kept_float"] == ["op:add"], mixed
    assert mixed["reached"] and mixed["file_cosine"] >= 0.99, mixed
    assert mixed["cost"] == [{"module": "op:add", "type": "every aten.add", "macs": None, "weight_bytes": 0,
                              "weight_bytes_if_int8": 0}]


@pytest.fixture(scope="module")
def outlier_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    np.savez(d / "cal.npz", x=np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32))
    (d / "mixed.toml").write_text('[[step]]\nmethod = "int8"\nmin_cosine = 0.99\n')
    return d


@pytest.mark.runtime
def test_min_cosine_keeps_the_fewest_layers_float_on_the_pi(outlier_files):
    d = outlier_files
    result = run_cli("compile", OUTLIER, "-t", "emu-rpi4-x86", "--recipe", d / "mixed.toml",
                     "--calibration", d / "cal.npz", "-o", d / "pi")
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((d / "pi" / "manifest.json").read_text())
    mixed = manifest["mixed_precision"]
    # fc1's outlier ruins its output's scale and fc2's input's: both are needed, head is not
    assert mixed["cosine_all_int8"] < 0.9 and mixed["reached"] and sorted(mixed["kept_float"]) == ["fc1", "fc2"]
    assert [c["module"] for c in mixed["cost"]] == mixed["kept_float"]
    assert {c["module"]: c["macs"] for c in mixed["cost"]} == {"fc1": 16 * 64, "fc2": 64 * 32}
    assert mixed["tried"][0] == {"float_layers": 0, "cosine": mixed["cosine_all_int8"]}
    assert next(t["cosine"] for t in mixed["tried"] if t["float_layers"] == 1) < 0.99  # one alone falls short
    assert manifest["numerics"]["cosine_vs_fp32"] >= 0.99  # the .tflite itself, on the host's LiteRT
    assert manifest["model"]["compute_dtype"] == "mixed" and manifest["recipe"][0]["min_cosine"] == 0.99
    assert "warnings" not in manifest

    # The same model as a .pt2: the same layers kept, their MACs read from the graph's module stacks.
    model, example = outlier_mlp()
    torch.export.save(torch.export.export(model, example), d / "outlier.pt2")
    result = run_cli("compile", d / "outlier.pt2", "-t", "emu-rpi4-x86", "--recipe", d / "mixed.toml",
                     "--calibration", d / "cal.npz", "-o", d / "pi-pt2")
    assert result.returncode == 0, result.stderr[-2000:]
    from_pt2 = json.loads((d / "pi-pt2" / "manifest.json").read_text())["mixed_precision"]
    assert from_pt2["kept_float"] == mixed["kept_float"] and from_pt2["cost"] == mixed["cost"]


@pytest.mark.runtime
def test_the_mcu_refuses_float_layers_naming_them(outlier_files):
    d = outlier_files
    result = run_cli("compile", OUTLIER, "-t", "emu-cortex-m4", "--recipe", d / "mixed.toml",
                     "--calibration", d / "cal.npz", "-o", d / "mcu")
    assert_one_line_error(result, 1, "in float32; target 'emu-cortex-m4' runs int8 only")
    assert "keeps fc2, fc1 in" in result.stderr or "keeps fc1, fc2 in" in result.stderr, result.stderr
    (d / "keep.toml").write_text('[[step]]\nmethod = "int8"\nkeep_float = ["head"]\n')
    result = run_cli("compile", OUTLIER, "-t", "emu-cortex-m4", "--recipe", d / "keep.toml",
                     "--calibration", d / "cal.npz", "-o", d / "mcu")
    assert_one_line_error(result, 1, "keep_float keeps head in float32")
    assert not (d / "mcu").exists()


@pytest.mark.runtime
def test_keep_float_on_the_phone_leaves_those_layers_to_xnnpack_in_float(tmp_path):
    from edgekit.compiler import compile_model
    from edgekit.modelio import Dataset
    model, example = outlier_mlp()
    x = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    art = compile_model(model, example, "emu-phone", tmp_path / "a",
                        recipe=[Int8StaticConfig(keep_float=("fc1", "fc2"))], calibration=Dataset(x))
    float_layers = {f["layer"].split(" ")[0] for f in art.manifest["model"]["int8_share"]["float_layers"]}
    assert float_layers == {"fc1", "fc2"} and art.manifest["numerics"]["cosine_vs_fp32"] > 0.999


def test_the_file_must_reach_min_cosine_too():
    search = {"min_cosine": 0.99, "cosine": 0.999, "cosine_all_int8": 0.999, "kept_float": [], "reached": True,
              "rounds": 1}
    float_out = [np.linspace(-1, 1, 24, dtype=np.float32)]
    kept = judge_file(search, [float_out[0] + 0.01], float_out, "ExecuTorch (XNNPACK)")
    assert kept["reached"] and kept["file_cosine"] > 0.99 and not file_missed(kept)
    missed = judge_file(search, [float_out[0][::-1].copy()], float_out, "ExecuTorch (XNNPACK)")
    assert not missed["reached"] and missed["graph_reached"] and file_missed(missed)
    assert "the compiled file reaches -1.000 (ExecuTorch (XNNPACK) on this host)" in summary_line(missed)
    unjudged = judge_file(search, None, float_out, None)  # no host runtime for the file: the graph's verdict
    assert unjudged["reached"] and unjudged["file_cosine"] is None and not file_missed(unjudged)
    short = judge_file({**search, "reached": False, "cosine": 0.9}, [float_out[0]], float_out, "LiteRT")
    assert not short["reached"] and not file_missed(short)  # the graph missed already: said as before


@pytest.mark.runtime
def test_a_pte_that_misses_min_cosine_is_said_so(tmp_path, monkeypatch):
    # XNNPACK's shared-bias bug put back (edgekit/compress/xnnpack_bias.py): the graph reaches min_cosine with
    # nothing kept float, the .pte ExecuTorch runs does not, and the manifest must say which.
    import edgekit.export.executorch_pte as pte
    from edgekit.compiler import compile_model
    from edgekit.modelio import Dataset
    from tests.compress.test_xnnpack_bias import LinearTwice, calibration
    monkeypatch.setattr(pte, "unshare_biases", lambda graph: 0)
    x = calibration()
    art = compile_model(LinearTwice().eval(), (torch.from_numpy(x[:1]),), "emu-phone", tmp_path / "a",
                        recipe=[Int8StaticConfig(min_cosine=0.999)], calibration=Dataset(x))
    mixed = art.manifest["mixed_precision"]
    assert mixed["graph_reached"] and mixed["cosine"] >= 0.999 and mixed["file_cosine"] < 0.99
    assert not mixed["reached"] and mixed["file_runtime"] == "ExecuTorch (XNNPACK)"
    assert any("but the compiled file reaches" in w for w in art.manifest["warnings"])


class _SmallLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 24, batch_first=True)
        self.fc = torch.nn.Linear(24, 3)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


def test_the_search_runs_on_the_model_the_quantizer_saw(tmp_path):
    """The LiteRT backend rewrites nn.LSTM into cell loops before quantizing: the per-layer comparison must run on
    that model, or it sees the LSTM as one unquantized op and can only keep the head float (lstm_kws on the Pi:
    'fc' kept, then nothing left to try, 0.987 -> 0.987). A parent kept after its child is listed alone."""
    from edgekit.compiler import compile_model
    from edgekit.modelio import Dataset
    torch.manual_seed(0)
    model = _SmallLSTM().eval()
    x = np.random.default_rng(0).standard_normal((64, 12, 4)).astype(np.float32)
    art = compile_model(model, (torch.from_numpy(x[:1]),), "emu-rpi4-x86", tmp_path / "a", calibration=Dataset(x),
                        recipe=[Int8StaticConfig(calibration_samples=64, min_cosine=0.99999)])
    kept = art.manifest["mixed_precision"]["kept_float"]
    assert any(k == "lstm" or k.startswith("lstm.") for k in kept), kept
    assert not any(k.startswith(p + ".") for k in kept for p in kept), kept


class _Noisy(torch.nn.Module):
    """The float model's output plus a fixed noise pattern scaled by `noise`: a stand-in for a quantized graph."""

    def __init__(self, model, noise):
        super().__init__()
        self.model, self.noise = model, noise

    def forward(self, x):
        out = self.model(x)
        return out + self.noise * torch.linspace(-1, 1, out.numel()).reshape(out.shape).flip(-1)


def test_the_search_tries_the_predicted_count_then_doubles_and_halves(monkeypatch):
    """Twelve ranked layers, each kept float removes its share of the noise: the fewest reaching 0.99 is found in
    a few tries, not one per layer, and the record says what each count gave."""
    import dataclasses

    from edgekit.compress import sensitivity
    from edgekit.compress.mixed import reach_cosine
    layers = [f"block{i}.conv" for i in range(12)]
    share = dict(zip(layers, [0.15, 0.14, 0.13, 0.12, 0.1, 0.09, 0.08, 0.07, 0.05, 0.03, 0.02, 0.02]))
    monkeypatch.setattr(sensitivity, "rank_layers", lambda model, example, batches: list(share.items()))
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 16).eval()
    quantizations = []

    def quantize(config):
        quantizations.append(config.keep_float)
        left = 1 - sum(s for layer, s in share.items()
                       if any(layer == k or layer.startswith(k + ".") for k in config.keep_float))
        return _Noisy(model, 0.6 * left)

    batches = [(torch.ones(1, 4),)]
    config = dataclasses.replace(Int8StaticConfig(min_cosine=0.99))
    _, record = reach_cosine(model, config, quantize, lambda q: model, batches[0], batches,
                             lambda *a: None)
    cos = {t["float_layers"]: t["cosine"] for t in record["tried"]}
    k = len(record["kept_float"])
    assert record["reached"] and cos[k] >= 0.99 and cos[k - 1] < 0.99  # the fewest that reach it, on this ranking
    # each block's one ranked layer is kept with its block (with_parents)
    assert record["kept_float"] == [f"block{i}" for i in range(k)] and record["ranked_layers"] == 12
    assert record["float_layers"] == k and record["aim"] == pytest.approx(0.992)
    assert k >= 6 and len(quantizations) == record["rounds"] < k  # fewer tries than one layer per round
