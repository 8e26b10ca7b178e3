"""Models that return any output structure (tuples, dicts, `transformers` ModelOutput, nested mixes) compile with
their outputs flattened and named after their keys, from `file.py:factory` and from a `.pt2` alike."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from edgekit.compress.outputs import first_output, named_outputs, output_item
from edgekit.errors import InputError
from tests.cli.helpers import assert_one_line_error
from tests.helpers import finish_cli, run_cli, start_cli
from tests.models import hf_tiny

TINY = "tests/models/hf_tiny.py"


def _output_names(art) -> list[str]:
    return [o["name"] for o in json.loads((art / "manifest.json").read_text())["outputs"]]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A ResNet classifier from its factory (phone, .pte) and a BERT encoder from a .pt2 saved as a user would (Pi,
    .tflite): {name: artifact folder}. The ResNet compiles while the .pt2 is saved."""
    tmp = tmp_path_factory.mktemp("outputs")
    resnet = start_cli("compile", f"{TINY}:resnet_classifier", "-t", "emu-phone", "-o", tmp / "resnet")
    model, example = hf_tiny.bert_encoder()
    torch.export.save(torch.export.export(model, example), tmp / "bert.pt2")
    bert = start_cli("compile", tmp / "bert.pt2", "-t", "emu-rpi4-x86", "-o", tmp / "bert")
    for result in (finish_cli(resnet), finish_cli(bert)):
        assert result.returncode == 0, result.stderr[-2000:]
    return {"resnet": tmp / "resnet", "bert": tmp / "bert"}


@pytest.mark.runtime
def test_a_transformers_classifier_from_its_factory_names_its_logits(compiled):
    assert _output_names(compiled["resnet"]) == ["logits"]


@pytest.mark.runtime
def test_a_transformers_encoder_from_a_pt2_names_its_fields_in_order(compiled):
    """The .pt2 keeps BaseModelOutputWithPooling... as its output structure (loaded without the user importing
    transformers); the .tflite returns its fields in the manifest's order, as the model computes them."""
    assert _output_names(compiled["bert"]) == ["last_hidden_state", "pooler_output"]
    model, _ = hf_tiny.bert_encoder()
    with np.load(compiled["bert"] / "reference.npz") as ref:
        with torch.no_grad():
            expected = model(torch.from_numpy(ref["input_0"]), torch.from_numpy(ref["input_1"]))
        for k, name in enumerate(["last_hidden_state", "pooler_output"]):
            np.testing.assert_allclose(ref[f"output_{k}"], expected[name].numpy(), atol=1e-4)


@pytest.mark.emulator
def test_a_transformers_encoder_runs_on_the_pi_with_each_output_checked(compiled):
    """The BERT .tflite loads in the Pi's runtime (tflite-runtime 2.14 could not: GATHER_ND version 5) and every
    output agrees with the host's on the device. Its profile names the encoder's own modules: the .pt2's outputs
    are flattened without hiding each node's module (a wrapper re-export had made every row glue)."""
    result = run_cli("bench", compiled["bert"], "-t", "emu-rpi4-x86", "--runs", "5", "--profile", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["runtime"]["name"] == "ai-edge-litert"
    outputs = report["fidelity"]["outputs"]
    assert [o["name"] for o in outputs] == ["last_hidden_state", "pooler_output"]
    assert all(o["vs_host"]["cosine"] > 0.9999 for o in outputs)
    modules = json.loads((compiled["bert"] / "manifest.json").read_text())["model"]["modules"]
    rows = report["ops"]["rows"]
    named = [r for r in rows if r["module"] in modules and r["module"]]
    assert {r["module_type"] for r in named} >= {"Linear", "LayerNorm", "Embedding"}, rows
    assert len(named) > 0.8 * len(rows), [r["module"] for r in rows if r not in named]
    assert any(r["module"].startswith("encoder.layer.1.") for r in named)


def test_nested_dict_outputs_are_named_by_their_key_paths():
    """Named as the compile names them (the flattening and the model file's output order are the ones above)."""
    model, example = hf_tiny.boxes_and_scores()
    assert [n for n, _ in named_outputs(model(*example))] == ["boxes", "scores.0", "scores.1"]  # None left out


def test_a_non_tensor_output_is_refused_in_one_line(tmp_path):
    result = run_cli("compile", f"{TINY}:counts_too", "-t", "emu-phone", "-o", tmp_path / "art")
    assert_one_line_error(result, 1, "the model's output 'output_1' is not a tensor but int 4")


@dataclasses.dataclass
class Detections:
    """An output type of a package the CLI cannot import (registered here only)."""
    scores: torch.Tensor


torch.utils._pytree.register_dataclass(Detections, serialized_type_name="nowhere_pkg.outputs.Detections")


def test_a_pt2_whose_output_type_is_not_installed_names_the_package(tmp_path):
    """A .pt2 keeps its output structure by type name; a type the CLI cannot import is named, with its package."""
    torch.export.save(torch.export.export(_Detector(), (torch.randn(1, 4),)), tmp_path / "det.pt2")
    result = run_cli("compile", tmp_path / "det.pt2", "-t", "emu-phone", "-o", tmp_path / "art")
    assert_one_line_error(result, 1, "its inputs or outputs are nowhere_pkg.outputs.Detections, from a package "
                                     "that is not installed here (install nowhere_pkg)")


class _Detector(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> Detections:
        return Detections(self.fc(x))


def test_names_follow_the_key_paths():
    a, b, c = torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)
    assert [n for n, _ in named_outputs(a)] == ["output_0"]
    assert [n for n, _ in named_outputs((a, [b, c]))] == ["output_0", "output_1.0", "output_1.1"]
    assert [n for n, _ in named_outputs({"logits": a, "hidden_states": (b, c), "attentions": None})] == \
        ["logits", "hidden_states.0", "hidden_states.1"]
    # Keys whose joined names collide keep positional names, unique.
    assert [n for n, _ in named_outputs({"a.0": a, "a": (b,)})] == ["output_0", "output_1"]
    assert [n for n, _ in named_outputs(Detections(a))] == ["scores"]  # dataclass fields by name
    with pytest.raises(InputError, match="returns no tensors"):
        named_outputs({"nothing": None})


def test_methods_read_the_first_field_of_any_structure():
    a, b = torch.zeros(1), torch.ones(2)
    assert first_output({"logits": a, "pooler_output": b}) is a and first_output(((a, b), b)) is a
    assert output_item({"hidden": a, "weights": b}, 1) is b and output_item((a, b), 1) is b
