"""A bias shared by several quantized calls gets one copy per call, so XNNPACK quantizes each for its own input."""
import numpy as np
import pytest
import torch
from torch import nn

from edgekit.compress.xnnpack_bias import unshare_biases


class LinearTwice(nn.Module):
    """One Linear called twice (as an unrolled recurrent cell is), on inputs whose ranges differ about tenfold,
    with a large bias: a bias quantized for the first call's input scale is ten times off at the second."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(16, 16)
        with torch.no_grad():
            self.fc.weight.mul_(8.0)
            self.fc.bias.fill_(20.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


def calibration(n: int = 64) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32)


def _quantized_graph(model: nn.Module, x: torch.Tensor, keep_float: tuple[str, ...] = ()) -> torch.fx.GraphModule:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    for name in keep_float:
        quantizer.module_name_config[name] = None
    prepared = prepare_pt2e(torch.export.export(model, (x[:1],)).module(), quantizer)
    for row in x:
        prepared(row[None])
    return convert_pt2e(prepared, fold_quantize=True)


def _bias_readers(graph: torch.fx.GraphModule) -> list[str]:
    return [str(n.args[2].target) for n in graph.graph.nodes if n.target == torch.ops.aten.linear.default]


def test_each_quantized_call_reads_its_own_bias_and_computes_the_same():
    x = torch.from_numpy(calibration())
    graph = _quantized_graph(LinearTwice().eval(), x)
    assert len(set(_bias_readers(graph))) == 1
    before = graph(x[:1])
    assert unshare_biases(graph) == 1
    assert len(set(_bias_readers(graph))) == 2
    assert torch.equal(graph(x[:1]), before)
    assert unshare_biases(graph) == 0  # nothing shared any more


def test_float_calls_keep_their_shared_bias():
    x = torch.from_numpy(calibration())
    graph = _quantized_graph(LinearTwice().eval(), x, keep_float=("fc",))
    assert unshare_biases(graph) == 0 and len(set(_bias_readers(graph))) == 1


@pytest.mark.runtime
def test_the_pte_computes_what_its_quantized_graph_does(tmp_path):
    # Without the copies, XNNPACK ran the second call with a bias ten times off: cosine 0.72 against the graph.
    from edgekit.compiler import compile_model
    from edgekit.compress import Int8StaticConfig
    from edgekit.export.pte_host import host_runner
    from edgekit.measure.stats import agreement
    from edgekit.modelio import Dataset
    x = calibration()
    art = compile_model(LinearTwice().eval(), (torch.from_numpy(x[:1]),), "emu-phone", tmp_path / "a",
                        recipe=[Int8StaticConfig()], calibration=Dataset(x))
    graph_out = np.load(tmp_path / "a" / "reference.npz")["output_0"]  # PyTorch running the quantized graph
    file_out = host_runner(tmp_path / "a" / art.manifest["model_file"], 1)([x[:len(graph_out)]])[0]
    assert agreement(file_out, graph_out)["cosine"] > 0.9999
