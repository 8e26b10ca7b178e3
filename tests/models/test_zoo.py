"""The conformance zoo: every model builds deterministically, matches its published size, has live activations
on its own data, and is captured by torch.export; every data generator gives the right kind of input. The `hf_`
entries are `transformers` models as they come: their outputs are ModelOutput objects, read as edgekit reads them
(flattened, named after their keys)."""
from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.compress.outputs import all_outputs, named_outputs
from edgekit.models.zoo import FAMILIES, ZOO

NAMES = sorted(ZOO)
MLPERF_TINY = {"kws_dscnn", "vww_mobilenet_v1", "ic_resnet8", "ad_autoencoder"}
# Modules whose inputs are the pre-logit features (None: the output itself is the feature).
HEADS = {"kws_dscnn": ("fc",), "vww_mobilenet_v1": ("fc",), "ic_resnet8": ("fc",), "ad_autoencoder": ("fc",),
         "mobilenet_v2": ("classifier.1",), "mobilenet_v3_small": ("classifier.3",),
         "efficientnet_b0": ("classifier.1",), "resnet18": ("fc",), "deit_tiny": ("head",), "bert_mini": None,
         "tinygpt": ("head",), "kws_gru": ("fc",), "cls_box_cnn": ("classifier", "box"),
         "hf_resnet_classifier": ("classifier.1",), "hf_distilbert_encoder": None, "unet_small": ("head",),
         "sensor_cnn1d": ("fc",), "lstm_kws": ("fc",), "hf_mobilevit_classifier": ("classifier",)}
# Shapes of the batch-1 inputs and outputs, in order.
SHAPES = {"kws_dscnn": ([(1, 1, 49, 10)], [(1, 12)]), "vww_mobilenet_v1": ([(1, 3, 96, 96)], [(1, 2)]),
          "ic_resnet8": ([(1, 3, 32, 32)], [(1, 10)]), "ad_autoencoder": ([(1, 640)], [(1, 640)]),
          "mobilenet_v2": ([(1, 3, 224, 224)], [(1, 1000)]), "mobilenet_v3_small": ([(1, 3, 224, 224)], [(1, 1000)]),
          "efficientnet_b0": ([(1, 3, 224, 224)], [(1, 1000)]), "resnet18": ([(1, 3, 224, 224)], [(1, 1000)]),
          "deit_tiny": ([(1, 3, 224, 224)], [(1, 1000)]), "bert_mini": ([(1, 32), (1, 32)], [(1, 32, 256)]),
          "tinygpt": ([(1, 128)], [(1, 128, 256)]), "kws_gru": ([(1, 49, 10)], [(1, 12)]),
          "cls_box_cnn": ([(1, 3, 96, 96)], [(1, 10), (1, 4)]),
          "hf_resnet_classifier": ([(1, 3, 64, 64)], [(1, 200)]),
          "hf_distilbert_encoder": ([(1, 32), (1, 32)], [(1, 32, 256)]),
          "unet_small": ([(1, 1, 32, 32)], [(1, 2, 32, 32)]), "sensor_cnn1d": ([(1, 6, 128)], [(1, 6)]),
          "lstm_kws": ([(1, 49, 10)], [(1, 12)]), "hf_mobilevit_classifier": ([(1, 3, 64, 64)], [(1, 200)])}
# The sizes the brief quotes for the published models (what the exact counts are checked against as well), and
# the sizes the scaled-down entries' docstrings quote.
QUOTED = {"resnet18": 11.69e6, "mobilenet_v2": 3.50e6, "mobilenet_v3_small": 2.54e6, "efficientnet_b0": 5.29e6,
          "deit_tiny": 5.7e6, "kws_dscnn": 23.7e3, "ic_resnet8": 78e3, "vww_mobilenet_v1": 0.22e6,
          "ad_autoencoder": 0.27e6, "lstm_kws": 78.5e3, "hf_resnet_classifier": 0.34e6,
          "hf_distilbert_encoder": 9.5e6, "unet_small": 117e3, "sensor_cnn1d": 69e3, "hf_mobilevit_classifier": 1.02e6}
# transformers models as they come: the ModelOutput class they return.
MODEL_OUTPUT = {"hf_resnet_classifier": "ImageClassifierOutputWithNoAttention",
                "hf_mobilevit_classifier": "ImageClassifierOutputWithNoAttention",
                "hf_distilbert_encoder": "BaseModelOutput"}


@lru_cache(maxsize=None)
def built(name: str):
    return ZOO[name].factory()


def _as_tuple(out) -> tuple[torch.Tensor, ...]:
    """The model's output tensors as edgekit flattens them (a tensor, a tuple, a ModelOutput...)."""
    return all_outputs(out)


def _inputs(name: str, arrays: dict) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(arrays[k]) for k in ZOO[name].input_names)


def _row_major(shape, itemsize: int) -> tuple[int, ...]:
    return tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) * itemsize for i in range(len(shape)))


def test_registry_is_complete_and_consistent():
    assert set(ZOO) == set(SHAPES) == set(HEADS)
    assert {e.family for e in ZOO.values()} == set(FAMILIES)
    assert {n for n, e in ZOO.items() if e.family == "mlperf-tiny"} == MLPERF_TINY
    for name, e in ZOO.items():
        assert e.name == name and e.family in FAMILIES and e.source
        assert isinstance(e.input_names, tuple) and isinstance(e.output_names, tuple) and e.output_names
        assert set(e.int_ranges) <= set(e.input_names)
        assert all(lo < hi for lo, hi in e.int_ranges.values())
        assert Path(e.cli_spec.rpartition(":")[0]).is_file() and e.cli_spec.endswith(":build")
        if name in MLPERF_TINY:
            assert e.mcu_sized
    assert not any(ZOO[n].mcu_sized for n in ("resnet18", "mobilenet_v2", "efficientnet_b0", "deit_tiny",
                                              "bert_mini", "tinygpt", "mobilenet_v3_small", "hf_distilbert_encoder",
                                              "hf_mobilevit_classifier"))
    assert all(ZOO[n].mcu_sized for n in ("hf_resnet_classifier", "unet_small", "sensor_cnn1d", "lstm_kws"))
    assert ZOO["bert_mini"].input_names == ZOO["hf_distilbert_encoder"].input_names == ("input_ids", "attention_mask")
    assert len(ZOO["cls_box_cnn"].output_names) == 2
    with pytest.raises(AttributeError):
        ZOO["kws_dscnn"].name = "x"  # frozen


@pytest.mark.parametrize("name", NAMES)
def test_data_generators_match_the_inputs(name):
    e = ZOO[name]
    model, example = built(name)
    assert [tuple(t.shape) for t in example] == SHAPES[name][0]
    # row-major strides, size-1 axes included (ExecuTorch rejects 0 strides; odd ones read as channels-last)
    assert all(t.stride() == _row_major(t.shape, 1) for t in example)
    calib, calib2, evald, other = e.calibration_data(3, 0), e.calibration_data(3, 0), e.data(3, 0), e.data(3, 1)
    for i, key in enumerate(e.input_names):
        for arrays in (calib, evald, other):
            assert set(arrays) == set(e.input_names)
            a = arrays[key]
            assert a.shape == (3, *example[i].shape[1:]) and a.dtype == example[i].numpy().dtype
            assert a.strides == _row_major(a.shape, a.itemsize)
            assert np.isfinite(a).all() if a.dtype.kind == "f" else True
            if key in e.int_ranges:
                lo, hi = e.int_ranges[key]
                assert a.min() >= lo and a.max() < hi
        assert np.array_equal(calib[key], calib2[key])  # seeded
    moving = [k for k in e.input_names if k != "attention_mask"]
    assert not np.array_equal(calib[moving[0]], evald[moving[0]])  # calibration and eval streams differ
    assert not np.array_equal(evald[moving[0]], other[moving[0]])  # seeds differ


def test_data_kinds_are_realistic():
    imgs = ZOO["resnet18"].data(8, 0)["x"]
    assert abs(float(imgs.mean())) < 0.35 and 0.6 < float(imgs.std()) < 1.4  # ImageNet-normalised
    # natural images: neighbouring pixels are strongly correlated (1/f spectrum), unlike white noise
    corr = np.corrcoef(imgs[:, :, :, :-1].ravel(), imgs[:, :, :, 1:].ravel())[0, 1]
    assert corr > 0.8
    unit = ZOO["vww_mobilenet_v1"].data(4, 0)["x"]
    assert unit.min() >= 0 and unit.max() <= 1 and np.allclose(unit * 255, np.round(unit * 255), atol=1e-3)
    pixels = ZOO["ic_resnet8"].data(4, 0)["x"]
    assert pixels.max() > 100 and np.array_equal(pixels, np.round(pixels))
    mfcc = ZOO["kws_dscnn"].data(16, 0)["x"][:, 0]  # (n, 49 frames, 10 coefficients)
    assert np.corrcoef(mfcc[:, :-1, 1].ravel(), mfcc[:, 1:, 1].ravel())[0, 1] > 0.5  # smooth in time
    spread = mfcc.std((0, 1))
    assert spread[0] > spread[1:].max() and spread[1:4].mean() > spread[6:].mean()  # decaying over coefficients
    assert np.array_equal(ZOO["kws_gru"].data(2, 3)["x"], ZOO["kws_dscnn"].data(2, 3)["x"][:, 0])
    ad = ZOO["ad_autoencoder"].data(8, 0)["x"]
    assert -80 < ad.mean() < 0 and 3 < ad.std() < 30  # dB
    tok = ZOO["bert_mini"].data(32, 0)
    ids, mask = tok["input_ids"], tok["attention_mask"]
    assert set(np.unique(mask)) == {0, 1} and (mask[:, 0] == 1).all()
    assert (np.diff(mask, axis=1) <= 0).all()  # ones, then padding at the end
    assert (mask.sum(1) < 32).mean() > 0.4 and (mask.sum(1) == 32).any()
    assert (ids[mask == 0] == 0).all() and (ids[:, 0] == 101).all()
    assert len(np.unique(ids[mask == 1])) > 100
    gpt = ZOO["tinygpt"].data(4, 0)["ids"]
    assert (gpt < 128).mean() > 0.95  # ASCII text
    assert np.array_equal(ZOO["lstm_kws"].data(2, 3)["x"], ZOO["kws_gru"].data(2, 3)["x"])  # the same MFCCs
    distil = ZOO["hf_distilbert_encoder"].data(4, 2)
    assert all(np.array_equal(distil[k], ZOO["bert_mini"].data(4, 2)[k]) for k in distil)  # the same token kind
    gray = ZOO["unet_small"].data(4, 0)["x"]
    assert gray.min() >= 0 and gray.max() <= 1 and np.allclose(gray * 255, np.round(gray * 255), atol=1e-3)
    assert np.corrcoef(gray[..., :-1].ravel(), gray[..., 1:].ravel())[0, 1] > 0.8
    hf = ZOO["hf_resnet_classifier"].data(8, 0)["x"]
    assert abs(float(hf.mean())) < 0.35 and 0.6 < float(hf.std()) < 1.4  # ImageNet-normalised, as its processor
    mvit = ZOO["hf_mobilevit_classifier"].data(8, 0)["x"]
    assert mvit.min() >= 0 and mvit.max() <= 1 and 0.1 < float(mvit.std())  # rescaled only, as MobileViT's processor


def test_imu_windows_look_like_a_waist_worn_phone():
    from edgekit.models.zoo._data import ACTIVITIES, imu_windows
    acts = np.repeat(np.arange(len(ACTIVITIES)), 8)
    x = imu_windows(np.random.default_rng(0), len(acts), activities=acts)  # (n, 6, 128): acc g, gyro rad/s
    assert x.shape == (48, 6, 128) and x.dtype == np.float32
    gravity = np.linalg.norm(x[:, :3].mean(2), axis=1)
    assert np.all(np.abs(gravity - 1.0) < 0.15)  # total acceleration: about 1 g on average
    moving = x[:, :3].std(2).max(1)
    assert moving[acts < 3].min() > 5 * moving[acts >= 3].max()  # gaits move, postures hold
    assert np.abs(x[acts < 3, 3:]).max() > 0.5 and np.abs(x[acts >= 3, 3:]).max() < 0.3  # turning rate, rad/s
    # a gait's vertical axis repeats at the step rate (1.3 to 2.3 Hz at 50 Hz: a peak between 0.5 and 1 s of lag)
    walk = x[acts == 0, 0] - x[acts == 0, 0].mean(1, keepdims=True)
    ac = np.array([np.correlate(w, w, "full")[127:] / (w @ w) for w in walk])
    assert (ac[:, 20:40].max(1) > 0.3).all()
    # postures differ by the direction of gravity: sitting / standing / laying are separable without motion
    dirs = x[:, :3].mean(2)
    assert dirs[acts == 5, 2].min() > dirs[acts == 4, 2].max()


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_published_size_and_live_activations(name):
    e = ZOO[name]
    model, example = built(name)
    assert not model.training
    n_params = sum(p.numel() for p in model.parameters())
    if e.published_params is not None:
        assert abs(n_params / e.published_params - 1) < 0.02, n_params
    if name in QUOTED:
        assert abs(n_params / QUOTED[name] - 1) < 0.05, n_params
    if e.mcu_sized:
        assert n_params < 512 * 1024  # INT8 weights fit 512 KB of flash

    captured: dict[str, torch.Tensor] = {}
    bn_out: list[tuple[str, torch.Tensor]] = []
    hooks = []
    for head in HEADS[name] or ():
        hooks.append(model.get_submodule(head).register_forward_pre_hook(
            lambda m, args, head=head: captured.setdefault(head, args[0].detach())))
    for mname, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            hooks.append(m.register_forward_hook(lambda m, a, out, mname=mname: bn_out.append((mname, out))))
    n = 3
    with torch.no_grad():
        outs = _as_tuple(model(*_inputs(name, e.data(n, 0))))
    for h in hooks:
        h.remove()

    assert len(outs) == len(e.output_names) == len(SHAPES[name][1])
    for out, shape in zip(outs, SHAPES[name][1]):
        assert tuple(out.shape) == (n, *shape[1:])
        assert torch.isfinite(out).all()
        std = float(out.float().std())
        assert std > 1e-3, std
        across = float(out.float().std(0).mean())  # variation between samples, not only within one
        assert across > 0.05 * std, (across, std)
    for head, feats in captured.items():
        assert float(feats.std()) > 1e-3, head
        assert float((feats[0] - feats[1]).abs().max()) > 1e-4, head
    # calibrated BatchNorm: every BN output is about unit scale on data it was not calibrated on
    for mname, out in bn_out:
        s = float(out.std())
        assert 0.1 < s < 10.0, (mname, s)


@pytest.mark.parametrize("name", ["kws_dscnn", "cls_box_cnn", "kws_gru", "bert_mini", "hf_resnet_classifier",
                                  "lstm_kws"])
def test_factories_are_deterministic_and_leave_the_global_seed_alone(name):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    m1, ex1 = ZOO[name].factory()
    after = torch.rand(3)
    assert torch.equal(before, after)
    m2, ex2 = ZOO[name].factory()
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    assert all(torch.equal(a, b) for a, b in zip(ex1, ex2))


def test_zoo_file_loads_on_its_own_as_the_cli_does():
    """The CLI imports `file.py` under another module name and calls `build()`."""
    path = Path(ZOO["ic_resnet8"].cli_spec.rpartition(":")[0])
    spec = importlib.util.spec_from_file_location("_zoo_standalone_ic_resnet8", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        model, example = mod.build()
    finally:
        del sys.modules[spec.name]
    assert isinstance(model, nn.Module) and example[0].shape == (1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(*example), built("ic_resnet8")[0](*example))


@pytest.mark.parametrize("name", sorted(MODEL_OUTPUT))
def test_transformers_entries_return_model_outputs_named_after_their_keys(name):
    model, example = built(name)
    with torch.no_grad():
        out = model(*example)
    assert type(out).__name__ == MODEL_OUTPUT[name] and not isinstance(out, torch.Tensor)  # as it comes, unwrapped
    assert tuple(n for n, _ in named_outputs(out)) == ZOO[name].output_names


@pytest.mark.parametrize("name", ["bert_mini", "hf_distilbert_encoder"])
def test_bert_padding_does_not_leak_into_real_tokens(name):
    model, (ids, mask) = built(name)
    assert (mask == 0).any()
    other = ids.clone()
    other[mask == 0] = 2000
    with torch.no_grad():
        a, b = _as_tuple(model(ids, mask))[0], _as_tuple(model(other, mask))[0]
    real = mask[0].bool()
    assert torch.allclose(a[0, real], b[0, real], atol=1e-5)


# The 224x224 vision models take most of this file's time to export (no `slow` marker is registered here); they
# are exported when EDGEKIT_ZOO_EXPORT_ALL=1.
BIG = {"resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "deit_tiny"}


@pytest.mark.parametrize("name", NAMES)
def test_torch_export_captures(name):
    if name in BIG and os.environ.get("EDGEKIT_ZOO_EXPORT_ALL") != "1":
        pytest.skip("224x224 model: set EDGEKIT_ZOO_EXPORT_ALL=1 to export it too")
    model, example = built(name)
    ep = torch.export.export(model, example)
    with torch.no_grad():
        want = _as_tuple(model(*example))
        got = _as_tuple(ep.module()(*example))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_tinygpt_entry_is_tinygpt_with_the_attention_written_out():
    from edgekit.models.tinygpt import TinyGPT
    from edgekit.models.zoo import tinygpt
    from edgekit.models.zoo._common import seeded
    model, _ = built("tinygpt")
    reference = seeded(0, lambda: TinyGPT(tinygpt.CONFIG)).eval()
    assert model.state_dict().keys() == reference.state_dict().keys()
    ids = torch.from_numpy(ZOO["tinygpt"].data(2, 0)["ids"])
    with torch.no_grad():
        torch.testing.assert_close(model(ids), reference(ids), rtol=1e-4, atol=1e-5)
