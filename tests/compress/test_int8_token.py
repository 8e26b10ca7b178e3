import torch
from torch import nn

from edgekit.compress import CompressionContext, compress
from edgekit.compress.int8_token import Int8DynamicTokenConfig


def test_per_token_int8_keeps_outputs_close_when_one_token_is_an_outlier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)).eval()
    x = torch.randn(2, 16, 64)
    x[0, 3] *= 50  # one outlier token: a per-tensor scale would crush every other token
    q = compress(model, Int8DynamicTokenConfig(), CompressionContext((x,)))
    assert type(q[0].weight).__name__ == "IntxUnpackedToInt8Tensor" and type(model[0].weight) is nn.Parameter
    ref, out = model(x), q(x)
    assert not torch.equal(ref, out)
    cos = nn.functional.cosine_similarity(ref[1], out[1], dim=-1)  # the ordinary tokens of the other sequence
    assert cos.min() > 0.995
