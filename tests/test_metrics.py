"""MACs counted on the host: recurrent layers per step, attention's matmuls, and what cannot be counted named."""
import torch
from torch import nn

from edgekit.metrics import count_mac_report, count_macs


def _lstm_macs(steps: int, inputs: int, hidden: int, gates: int = 4) -> int:
    return steps * gates * hidden * (inputs + hidden)


def test_recurrent_layers_count_every_step():
    x = torch.randn(1, 49, 40)
    assert count_macs(nn.LSTM(40, 64, batch_first=True).eval(), (x,)) == _lstm_macs(49, 40, 64)
    assert count_macs(nn.GRU(40, 64, batch_first=True).eval(), (x,)) == _lstm_macs(49, 40, 64, gates=3)
    two_layers = nn.LSTM(40, 64, num_layers=2, bidirectional=True, batch_first=True).eval()
    assert count_macs(two_layers, (x,)) == 2 * (_lstm_macs(49, 40, 64) + _lstm_macs(49, 128, 64))


def test_attention_counts_its_matmuls_not_only_the_projections():
    seq, embed = 10, 64
    projections, matmuls = 4 * seq * embed * embed, 2 * seq * seq * embed
    layer = nn.TransformerEncoderLayer(embed, 4, 128, batch_first=True).eval()  # the fused inference kernel
    assert count_macs(layer, (torch.randn(1, seq, embed),)) == projections + matmuls + 2 * seq * embed * 128

    class Sdpa(nn.Module):
        def forward(self, q):
            return nn.functional.scaled_dot_product_attention(q, q, q)
    assert count_macs(Sdpa(), (torch.randn(1, 4, seq, 16),)) == 2 * 4 * seq * seq * 16


def test_an_op_that_cannot_be_counted_is_named_not_taken_as_zero():
    class Spectrum(nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x).abs()
    report = count_mac_report(Spectrum(), (torch.randn(1, 256),))
    assert report.macs == 0 and not report.complete
    assert any("fft" in op for op in report.not_counted)
    assert count_mac_report(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Hardswish()),
                            (torch.randn(1, 3, 8, 8),)).complete
