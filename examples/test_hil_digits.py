"""A hardware-in-the-loop test to copy into your own project: a model compiled for the device under test,
measured there, and held to budgets. The same file runs against any target edgekit knows:

    pytest examples/test_hil_digits.py --edgekit-target emu-phone                  # emulated (x86 stand-in)
    pytest examples/test_hil_digits.py --edgekit-target emu-cortex-m4              # C firmware under QEMU
    pytest examples/test_hil_digits.py --edgekit-target rpi4 \
        --edgekit-host pi@raspberrypi.local --junitxml=hil.xml                     # a real Pi; figures in the XML

Without --edgekit-target every test here is skipped, so it can live in a suite that also runs on laptops.
Replace MODEL with your own `file.py:factory` (returning (model, example_inputs)) and the data with yours.
"""
from pathlib import Path

import pytest

from edgekit import Dataset, Int8StaticConfig
from edgekit.models.digits import load_digits_split

MODEL = f"{Path(__file__).with_name('digits_cnn.py')}:build"


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    return Dataset(split.x_train, split.y_train), Dataset(split.x_test, split.y_test)


@pytest.mark.edgekit(max_latency_ms=50, min_accuracy=90, min_cosine=0.999)
def test_fp32_meets_budgets(edgekit_device, edgekit_compile, edgekit_bench, digits):
    if "float32" not in edgekit_device.profile.software.dtypes:
        pytest.skip(f"{edgekit_device.name} runs int8 only")
    report = edgekit_bench(edgekit_compile(MODEL), eval_data=digits[1])
    assert report["accuracy"]["samples"] == len(digits[1].y)


@pytest.mark.edgekit(min_accuracy=90, min_cosine=0.99)
def test_int8_meets_budgets(edgekit_compile, edgekit_bench, digits):
    artifact = edgekit_compile(MODEL, recipe=[Int8StaticConfig()], calibration=digits[0])
    edgekit_bench(artifact, eval_data=digits[1])
