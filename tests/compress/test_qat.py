import numpy as np
import pytest
import torch

import edgekit
from edgekit.compress import CompressionContext, compress
from edgekit.compress.qat import QatInt8Config
from edgekit.errors import InputError
from edgekit.models.digits import accuracy


def test_qat_converts_to_the_int8_graph_and_keeps_accuracy(digits, digits_example):
    model, split = digits
    ctx = CompressionContext(digits_example, calibration=split.x_train[:384], labels=split.y_train[:384])
    q = compress(model, QatInt8Config(epochs=1, batch_size=64), ctx)
    targets = {str(n.target) for n in q.graph.nodes}
    assert any("dequantize_per_channel" in t for t in targets), "weights are not per-channel int8"
    assert not any("fake_quant" in t.lower() for t in targets), "fake-quant nodes left after convert"
    assert accuracy(q, split.x_test, split.y_test, batch_size=1) >= accuracy(model, split.x_test, split.y_test) - 0.03


def test_qat_artifact_is_a_pte_that_runs_on_the_emulated_phone(digits, digits_example, tmp_path):
    model, split = digits
    train = edgekit.Dataset(split.x_train[:256], split.y_train[:256])
    art = edgekit.compile_model(model, digits_example, "emu-phone", tmp_path / "qat",
                                recipe=[QatInt8Config(epochs=1, batch_size=64)], calibration=train)
    assert art.format == "pte" and art.manifest["recipe"][0]["method"] == "int8-qat"
    assert art.manifest["export"]["delegation"]["delegated_nodes"] > 0
    report = edgekit.benchmark(art, "emu-phone", runs=5, warmup=1,
                               eval_data=edgekit.Dataset(split.x_test[:64], split.y_test[:64]))
    assert report["fidelity"]["vs_host"]["cosine"] > 0.999
    assert report["accuracy"]["top1"] > 0.8
    # An int8 program is smaller than the float one of the same model.
    fp32 = edgekit.compile_model(model, digits_example, "emu-phone", tmp_path / "fp32")
    assert art.size_bytes < 0.8 * fp32.size_bytes


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": True}, "int8-qat: epochs must be a whole number >= 0, got True"),
    ({"lr": "1e-4"}, "int8-qat: lr must be a number > 0, got '1e-4'"),
    ({"per_channel": "false"}, "int8-qat: per_channel must be true or false"),
])
def test_bad_fields_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(InputError, match=message):
        QatInt8Config(**kwargs)
