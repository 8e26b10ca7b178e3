"""A conformance zoo: real architectures, written from their published definitions, randomly but realistically
initialised (reference initialisers, BatchNorm statistics calibrated on representative inputs), seeded, with
batch-1 example inputs and generators of realistic data, for checking what the compilers and runtimes do to
whole networks.

    from edgekit.models.zoo import ZOO
    entry = ZOO["kws_dscnn"]
    model, example = entry.factory()            # eval mode, example inputs of batch 1 in input order
    data = entry.data(32, seed=0)               # {"x": (32, 1, 49, 10) float32}
    calib = entry.calibration_data(32, seed=0)  # disjoint from data

Each model is one module with a `build()` usable from the CLI as `edgekit/models/zoo/<name>.py:build`, and
`calibration_data(n, seed)` / `eval_data(n, seed)` returning {input name: array} ("x" for single-input models;
`np.savez(path, **entry.data(n, seed))` writes the CLI's data file for those). Its docstring cites the definition
it follows and says where it departs from it (the MLPerf Tiny models return logits: no final softmax).

Data kinds (see _data.py): images are dead-leaves scenes over 1/f noise, 8-bit quantised, then ImageNet-normalised
(224x224 models, the 64x64 hf_resnet_classifier), in [0, 1] (VWW, cls_box_cnn, the MobileViT), raw [0, 255] pixels (ResNet-8, as
the reference trains) or their 8-bit luma in [0, 1] (the U-Net); audio is MFCCs of a synthetic log-mel word
(MLPerf Tiny KWS front end, c0 from -124 to about +20); the autoencoder gets five concatenated 128-bin log-mel
frames in dB; BERT and DistilBERT get [CLS] Zipf word pieces [SEP] then padding (mask 0); TinyGPT gets byte
windows of the Python documentation (training split for calibration, held-out for eval); the sensor CNN gets
2.56 s windows of a waist-worn phone's accelerometer (g) and gyroscope (rad/s) at 50 Hz, one UCI-HAR activity per
window.

The `hf_` entries are `transformers` models used as they come (built from a config, no wrapper): they return
`ModelOutput` objects, whose tensors edgekit names after their keys.

| name                  | family       | inputs                                  | outputs                          |
|-----------------------|--------------|-----------------------------------------|----------------------------------|
| kws_dscnn             | mlperf-tiny  | x (1, 1, 49, 10) MFCC                   | logits (1, 12)                   |
| vww_mobilenet_v1      | mlperf-tiny  | x (1, 3, 96, 96) RGB in [0, 1]          | logits (1, 2)                    |
| ic_resnet8            | mlperf-tiny  | x (1, 3, 32, 32) RGB in [0, 255]        | logits (1, 10)                   |
| ad_autoencoder        | mlperf-tiny  | x (1, 640) log-mel dB                   | reconstruction (1, 640)          |
| mobilenet_v2          | vision       | x (1, 3, 224, 224) ImageNet-normalised  | logits (1, 1000)                 |
| mobilenet_v3_small    | vision       | x (1, 3, 224, 224) ImageNet-normalised  | logits (1, 1000)                 |
| efficientnet_b0       | vision       | x (1, 3, 224, 224) ImageNet-normalised  | logits (1, 1000)                 |
| resnet18              | vision       | x (1, 3, 224, 224) ImageNet-normalised  | logits (1, 1000)                 |
| deit_tiny             | vision       | x (1, 3, 224, 224) ImageNet-normalised  | logits (1, 1000)                 |
| bert_mini             | nlp          | input_ids, attention_mask (1, 32) int64 | last_hidden_state (1, 32, 256)   |
| tinygpt               | nlp          | ids (1, 128) int64 bytes                | logits (1, 128, 256)             |
| kws_gru               | audio        | x (1, 49, 10) MFCC                      | logits (1, 12)                   |
| cls_box_cnn           | multi-output | x (1, 3, 96, 96) RGB in [0, 1]          | class_logits (1, 10), box (1, 4) |
| hf_resnet_classifier  | vision       | x (1, 3, 64, 64) ImageNet-normalised    | logits (1, 200)                  |
| hf_distilbert_encoder | nlp          | input_ids, attention_mask (1, 32) int64 | last_hidden_state (1, 32, 256)   |
| unet_small            | vision       | x (1, 1, 32, 32) grayscale in [0, 1]    | logits (1, 2, 32, 32) per pixel  |
| sensor_cnn1d          | sensor       | x (1, 6, 128) acc (g) + gyro (rad/s)    | logits (1, 6)                    |
| lstm_kws              | audio        | x (1, 49, 10) MFCC                      | logits (1, 12)                   |
| hf_mobilevit_classifier | vision     | x (1, 3, 64, 64) RGB in [0, 1]          | logits (1, 200)                  |
"""
from __future__ import annotations

from types import ModuleType

from edgekit.models.zoo import (ad_autoencoder, bert_mini, cls_box_cnn, deit_tiny, efficientnet_b0,
                                hf_distilbert_encoder, hf_mobilevit_classifier, hf_resnet_classifier, ic_resnet8,
                                kws_dscnn, kws_gru, lstm_kws, mobilenet_v2, mobilenet_v3_small, resnet18,
                                sensor_cnn1d, tinygpt, unet_small, vww_mobilenet_v1)
from edgekit.models.zoo._common import ZooEntry

FAMILIES = ("mlperf-tiny", "vision", "nlp", "audio", "sensor", "multi-output")
MODULES: tuple[ModuleType, ...] = (kws_dscnn, vww_mobilenet_v1, ic_resnet8, ad_autoencoder, mobilenet_v2,
                                   mobilenet_v3_small, efficientnet_b0, resnet18, deit_tiny, bert_mini, tinygpt,
                                   kws_gru, cls_box_cnn, hf_resnet_classifier, hf_distilbert_encoder, unet_small,
                                   sensor_cnn1d, lstm_kws, hf_mobilevit_classifier)


def _entry(mod: ModuleType) -> ZooEntry:
    return ZooEntry(name=mod.NAME, family=mod.FAMILY, factory=mod.build, input_names=mod.INPUT_NAMES,
                    output_names=mod.OUTPUT_NAMES, data=mod.eval_data, calibration_data=mod.calibration_data,
                    mcu_sized=mod.MCU_SIZED, source=mod.SOURCE, int_ranges=dict(getattr(mod, "INT_RANGES", {})),
                    published_params=mod.PUBLISHED_PARAMS, deviations=mod.DEVIATIONS)


ZOO: dict[str, ZooEntry] = {m.NAME: _entry(m) for m in MODULES}

__all__ = ["FAMILIES", "ZOO", "ZooEntry"]
