import numpy as np
import pytest
import torch

from edgekit.compress import CompressionContext, Int8DynamicConfig, Int8StaticConfig, compress, describe
from edgekit.compress.observers import FastHistogramObserver
from edgekit.errors import InputError
from edgekit.models.digits import accuracy


def test_static_int8_keeps_accuracy(digits, digits_example, monkeypatch):
    model, split = digits
    ctx = CompressionContext(digits_example, calibration=split.x_train)
    searched = []  # activation ranges come from the fast search (issue 26: torchao's took minutes on a MobileViT)
    search = FastHistogramObserver._non_linear_param_search
    monkeypatch.setattr(FastHistogramObserver, "_non_linear_param_search", lambda o: searched.append(o) or search(o))
    q = compress(model, Int8StaticConfig(calibration_samples=128), ctx)
    assert searched, "static INT8 did not calibrate with FastHistogramObserver"
    names = {str(n.target) for n in q.graph.nodes}
    assert any("quantize_per_channel" in t for t in names), "weights are not per-channel quantized"
    assert accuracy(q, split.x_test, split.y_test, batch_size=1) >= accuracy(model, split.x_test, split.y_test) - 0.02


def test_dynamic_int8_on_linear_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).eval()
    x = torch.randn(1, 64)
    q = compress(model, Int8DynamicConfig(), CompressionContext((x,)))
    assert any("choose_qparams" in str(n.target) for n in q.graph.nodes), "no dynamic activation quantization"
    ref, out = model(x), q(x)
    cos = torch.nn.functional.cosine_similarity(ref, out).item()
    assert 0.99 < cos and not torch.equal(ref, out)


def test_calibration_of_wrong_shape_is_an_input_error(digits, digits_example):
    # checked once, where the data meets the model: before any method runs
    with pytest.raises(InputError, match=r"shape \(1, 7, 7\).*\(1, 8, 8\)"):
        CompressionContext(digits_example, calibration=np.zeros((10, 1, 7, 7), np.float32))


def test_static_int8_without_calibration_says_what_to_do(digits, digits_example):
    with pytest.raises(InputError, match="calibration"):
        compress(digits[0], Int8StaticConfig(), CompressionContext(digits_example))


def test_describe_records_method_and_fields():
    assert describe(Int8StaticConfig()) == {"method": "int8", "per_channel": True, "calibration_samples": 256,
                                            "route": "auto", "keep_float": [], "min_cosine": None}
