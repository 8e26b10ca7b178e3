"""nn.LSTM / nn.GRU rewritten as explicit cell loops for full-integer INT8 on LiteRT targets: equal to the modules
in float, refused in one line where not supported, and every op of the loop quantized by litert-torch's quantizer
(with edgekit's annotations), sigmoid and tanh at TFLite's fixed output quantization."""
import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from edgekit.compress.base import CompressionContext
from edgekit.compress.quantize import Int8StaticConfig
from edgekit.compress.rnn_cells import GRULoop, LSTMLoop, rewrite_recurrent
from edgekit.errors import UnsupportedError

MODULES = {
    "lstm-batch-first": lambda: nn.LSTM(5, 7, batch_first=True),
    "lstm-time-first": lambda: nn.LSTM(5, 7),
    "lstm-proj": lambda: nn.LSTM(5, 7, proj_size=3, batch_first=True),
    "lstm-no-bias": lambda: nn.LSTM(5, 7, bias=False),
    "gru-batch-first": lambda: nn.GRU(5, 7, batch_first=True),
    "gru-time-first": lambda: nn.GRU(5, 7),
    "gru-no-bias": lambda: nn.GRU(5, 7, bias=False, batch_first=True),
}


def _state(m: nn.Module, batch: tuple[int, ...]) -> object:
    if isinstance(m, nn.LSTM):
        return torch.randn(1, *batch, m.proj_size or m.hidden_size), torch.randn(1, *batch, m.hidden_size)
    return torch.randn(1, *batch, m.hidden_size)


@pytest.mark.parametrize("name", list(MODULES))
def test_loop_equals_the_module_in_float(name):
    torch.manual_seed(0)
    m = MODULES[name]().eval()
    loop = rewrite_recurrent(m)
    assert isinstance(loop, LSTMLoop if isinstance(m, nn.LSTM) else GRULoop)
    # 11 steps: the outputs are concatenated in groups (TFLite Micro's CONCATENATION takes up to 10 inputs)
    x = torch.randn(2, 11, 5) if m.batch_first else torch.randn(11, 2, 5)
    for args in [(x,), (x, _state(m, (2,))), (torch.randn(11, 5),), (torch.randn(11, 5), _state(m, ()))]:
        want, got = tree_leaves(m(*args)), tree_leaves(loop(*args))
        assert [t.shape for t in got] == [t.shape for t in want]
        for a, b in zip(want, got):
            torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)


def test_rewrite_replaces_submodules_in_a_copy():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.Sequential(nn.Linear(4, 5))
            self.lstm = nn.LSTM(5, 6, batch_first=True)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            out, _ = self.lstm(self.rnn(x))
            return self.fc(out[:, -1])

    torch.manual_seed(0)
    net = Net().eval()
    rewritten = rewrite_recurrent(net)
    assert isinstance(net.lstm, nn.LSTM) and isinstance(rewritten.lstm, LSTMLoop)
    x = torch.randn(3, 4, 4)
    torch.testing.assert_close(rewritten(x), net(x), atol=1e-6, rtol=1e-5)
    plain = nn.Sequential(nn.Linear(2, 2))
    assert rewrite_recurrent(plain) is plain


@pytest.mark.parametrize("module, what", [(nn.LSTM(4, 4, num_layers=2), "2 layer"),
                                          (nn.GRU(4, 4, bidirectional=True), "bidirectional")])
def test_stacked_or_bidirectional_layers_are_refused_in_one_line(module, what):
    with pytest.raises(UnsupportedError) as err:
        rewrite_recurrent(nn.Sequential(module))
    assert what in str(err.value) and "'0'" in str(err.value) and "\n" not in str(err.value)
    kept = nn.Sequential(module)
    assert rewrite_recurrent(kept, keep=["0"]) is kept  # kept float (keep_float): left as it is


class _Tiny(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(rnn.hidden_size, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@pytest.mark.parametrize("rnn", [nn.LSTM, nn.GRU])
def test_litert_int8_quantizes_every_op_of_the_loop(rnn):
    """After PT2E with litert-torch's quantizer (an LSTM's route when asked for, or under mixed precision): no
    float op between the input's quantize and the output's dequantize (each compute node reads dequantized int8 and
    is requantized), LOGISTIC at 1/256 zp -128, TANH at 1/128 zp 0, as TFLite requires."""
    from edgekit.export.litert_int8 import LITERT_INT8
    torch.manual_seed(0)
    model = _Tiny(rnn(3, 4, batch_first=True)).eval()
    example = (torch.randn(1, 3, 3),)
    ctx = CompressionContext(example_inputs=example)
    graph = LITERT_INT8.quantize(model, Int8StaticConfig(calibration_samples=4, route="litert-torch-pt2e"),
                                 [(torch.randn(1, 3, 3),) for _ in range(4)], ctx)
    aten, qd = torch.ops.aten, torch.ops.quantized_decomposed
    quant = {qd.quantize_per_tensor.default}
    dequant = {qd.dequantize_per_tensor.default, qd.dequantize_per_channel.default}
    compute = {aten.linear.default, aten.sigmoid.default, aten.tanh.default, aten.mul.Tensor, aten.add.Tensor,
               aten.sub.Tensor, aten.cat.default}
    seen = set()
    for node in graph.graph.nodes:
        if node.op != "call_function":
            continue
        assert "lstm" not in str(node.target) and "gru" not in str(node.target), node.target
        if node.target not in compute:
            continue
        seen.add(node.target)
        operands = [a for a in tree_leaves(list(node.args)) if isinstance(a, torch.fx.Node)
                    and not (node.target == aten.linear.default and a.op == "get_attr")]  # float bias: converter's
        assert all(a.target in dequant for a in operands), (node, [a.target for a in operands])
        assert node.users and all(u.target in quant for u in node.users), (node, list(node.users))
        if node.target in (aten.sigmoid.default, aten.tanh.default):
            q = next(iter(node.users))
            want = (1 / 256, -128) if node.target == aten.sigmoid.default else (1 / 128, 0)
            assert (q.args[1], q.args[2]) == want
    assert {aten.linear.default, aten.sigmoid.default, aten.tanh.default, aten.mul.Tensor} <= seen


def test_auto_route_quantizes_an_lstm_with_ai_edge_quantizer_and_a_gru_with_pt2e():
    """litert-torch converts an LSTM's unrolled PT2E graph slowly (export/litert_int8.py LSTM_REASON); mixed precision
    needs the PT2E graph, so keep_float / min_cosine keep it there."""
    from edgekit.export.litert_int8 import LITERT_INT8, ConverterQuantizes
    torch.manual_seed(0)
    batches = [(torch.randn(1, 3, 3),) for _ in range(4)]
    ctx = CompressionContext(example_inputs=batches[0])
    lstm = LITERT_INT8.quantize(_Tiny(nn.LSTM(3, 4, batch_first=True)).eval(), Int8StaticConfig(calibration_samples=4),
                                batches, ctx)
    assert isinstance(lstm, ConverterQuantizes) and "nn.LSTM 'rnn'" in lstm.reason
    gru = LITERT_INT8.quantize(_Tiny(nn.GRU(3, 4, batch_first=True)).eval(), Int8StaticConfig(calibration_samples=4),
                               batches, ctx)
    assert isinstance(gru, torch.fx.GraphModule)
    mixed = LITERT_INT8.quantize(_Tiny(nn.LSTM(3, 4, batch_first=True)).eval(),
                                 Int8StaticConfig(calibration_samples=4, keep_float=["fc"]), batches, ctx)
    assert isinstance(mixed, torch.fx.GraphModule)
