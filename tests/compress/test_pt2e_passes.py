"""Graph passes and fixes around PT2E's prepare, on models users bring."""
from edgekit.compiler import compile_model
from edgekit.compress import Int8StaticConfig
from edgekit.modelio import Dataset
from edgekit.models.zoo import ZOO


def test_a_unet_quantizes_on_the_pt2e_route(tmp_path):
    """A U-Net's decoder concatenation shares its scale with an encoder ReLU met later in the graph: torchao's
    prepare failed on it ("'relu_3' not in"), and the INT8 .tflite fell back to ai-edge-quantizer, where mixed
    precision cannot keep a module float (shared_specs_after_their_roots)."""
    entry = ZOO["unet_small"]
    model, example = entry.factory()
    calibration = Dataset(entry.calibration_data(16, 0)["x"])
    art = compile_model(model, example, "emu-rpi4-x86", tmp_path / "unet", calibration=calibration,
                        recipe=[Int8StaticConfig(calibration_samples=16, route="litert-torch-pt2e")])
    assert art.manifest["export"]["route"] == "litert-torch-pt2e"
    assert art.manifest["export"]["operators"]["CONCATENATION"] == 2
    assert art.manifest["numerics"]["cosine_vs_fp32"] >= 0.99


def test_prepare_meets_every_sharing_group_at_its_own_spec():
    """Which member of a sharing group torchao meets first follows node hashes, which change per capture: before
    the fix, 1 capture in 8 of the U-Net passed prepare. Four in a row must pass."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from edgekit.compress.pt2e_passes import shared_specs_after_their_roots
    from edgekit.compress.quantize import capture
    from edgekit.export.litert_int8 import LITERT_INT8
    shared_specs_after_their_roots()
    model, example = ZOO["unet_small"].factory()
    for _ in range(4):
        graph, _ = capture(model.eval(), example)
        prepare_pt2e(graph, LITERT_INT8.quantizer(True))
