"""The report's `ops` section from a runtime's per-operator events: module paths read from the converter's tensor
names, rows by cost with their share, MACs and cost per MAC, the compile-time SQNR joined by module, and the
terminal and HTML views. The device routes that produce the events are tested per target (test_profile_*.py)."""
from types import SimpleNamespace

from rich.console import Console

from edgekit.measure.op_profile import GLUE, known_path, module_of_tensor_name, ops_section
from edgekit.report_view import ops_table

ROOT = "pkg.Net"
CONV = f"{ROOT}/torch.nn.modules.container.Sequential_features/pkg.ConvNormAct_0/torch.nn.modules.conv.Conv2d_0"
RELU = f"{ROOT}/torch.nn.modules.container.Sequential_features/pkg.ConvNormAct_0/torch.nn.modules.activation.ReLU6_2"
HEAD = f"{ROOT}/torch.nn.modules.linear.Linear_classifier"
MODULES = {"features.0.0": {"type": "Conv2d", "macs": 1000, "source": "net.py:12"},
           "features.0.2": {"type": "ReLU6", "macs": 0, "source": "net.py:12"},
           "classifier": {"type": "Linear", "macs": 100, "source": "net.py:20"}}


def test_a_fused_op_is_the_module_that_does_the_macs():
    assert module_of_tensor_name(f"{RELU};;{CONV};", MODULES) == "features.0.0"
    assert module_of_tensor_name(f"{CONV};;{RELU};", MODULES) == "features.0.0"
    assert module_of_tensor_name(f"{RELU};;{CONV};") == "features.0.0"  # without MACs: the last named
    assert module_of_tensor_name(f"{HEAD};2") == "classifier"
    assert module_of_tensor_name("torch.export._trace.<locals>.Wrapper;2") is None  # the converter's own


def test_a_path_missing_an_uncalled_container_is_the_models_path():
    """litert-torch names modules by their last attribute: a BERT's "encoder.0" is its "encoder.layer.0"."""
    bert = {"encoder.layer.0.attention.self.value": {}, "encoder.layer.1.output.dense": {}, "pooler.dense": {}}
    assert known_path("encoder.0.attention.self.value", bert) == "encoder.layer.0.attention.self.value"
    assert known_path("encoder.1.output", bert) == "encoder.layer.1.output"
    assert known_path("model.pooler.dense", bert) == "pooler.dense"  # under the outputs wrapper
    assert known_path("encoder.7.output", bert) == "encoder.7.output"  # none such: left as the exporter named it
    two = {"a.left.0.conv": {}, "a.right.0.conv": {}}
    assert known_path("a.0.conv", two) == "a.0.conv"  # ambiguous: not guessed


def test_rows_by_cost_with_share_macs_and_error():
    art = SimpleNamespace(manifest={"model": {"modules": MODULES},
                                    "numerics": {"sqnr_by_module": {"features.0.0": 31.5}}})
    events = [{"name": "CONV_2D", "index": 1, "kernel": "XNNPACK", "value": 600.0, "module": "features.0.0"},
              {"name": "ADD", "index": 2, "kernel": "builtin", "value": 50.0, "module": "features.0.0"},
              {"name": "FULLY_CONNECTED", "index": 3, "kernel": "XNNPACK", "value": 300.0, "module": "classifier"},
              {"name": "TRANSPOSE", "index": 0, "kernel": "builtin", "value": 40.0, "module": None}]
    ops = ops_section(art, {"unit": "instructions", "whole": 1010.0, "whole_unprofiled": 1000.0,
                                  "rows_of": "whole_unprofiled"}, events)
    assert [r["op"] for r in ops["rows"]] == ["CONV_2D", "FULLY_CONNECTED", "ADD", "TRANSPOSE"]
    conv, fc, add, glue = ops["rows"]
    assert conv["share"] == 0.6 and conv["per_mac"] == 0.6 and conv["sqnr_db"] == 31.5
    assert conv["module_type"] == "Conv2d" and conv["source"] == "net.py:12"
    assert fc["per_mac"] == 3.0 and "sqnr_db" not in fc
    assert add["macs"] is None  # the conv's MACs are counted once, with its costliest row
    assert glue["module"] == GLUE
    assert ops["coverage"] == 0.99 and round(ops["overhead"], 4) == 0.01

    report = {"target": {"name": "emu-rpi4"}, "ops": ops}
    console = Console(width=200, record=True)
    console.print(ops_table(report))
    text = console.export_text()
    assert "features.0.0 (Conv2d)" in text and "60.0%" in text and "4 ops add up to 99.0%" in text
    narrow = Console(width=60, record=True)  # no cell cut: one record per op instead
    narrow.print(ops_table(report))
    assert "1. CONV_2D" in narrow.export_text()
