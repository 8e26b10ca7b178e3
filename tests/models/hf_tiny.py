"""`transformers` models as they come (no wrapper): they return ModelOutput objects, not tensors. Tiny configs
keep the tests fast; the output structure is the same as the full-size models'."""
import torch
from torch import nn


def resnet_classifier():
    """ResNetForImageClassification -> ImageClassifierOutputWithNoAttention(logits)."""
    from transformers import ResNetConfig, ResNetForImageClassification
    torch.manual_seed(0)
    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                          layer_type="basic", num_labels=5)
    return ResNetForImageClassification(config).eval(), (torch.randn(1, 3, 32, 32),)


def mobilevit_classifier(image_size: int = 64):
    """MobileViTForImageClassification -> ImageClassifierOutputWithNoAttention(logits): convolutions and the
    unfold / attention / fold blocks of MobileViT, small (FP32 compiles in ~40 s on 2 cores). Randomly initialised
    like the full-size one, its activations fall to ~1e-25 after a few blocks (issue 26's slow INT8 compile)."""
    from transformers import MobileViTConfig, MobileViTForImageClassification
    torch.manual_seed(0)
    config = MobileViTConfig(num_channels=3, image_size=image_size, hidden_sizes=[16, 24, 32],
                             neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 64], num_attention_heads=2,
                             expand_ratio=2.0, num_labels=5)
    return MobileViTForImageClassification(config).eval(), (torch.randn(1, 3, image_size, image_size),)


def bert_encoder():
    """BertModel -> BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state, pooler_output)."""
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16)
    ids = torch.randint(0, 100, (1, 8))
    return BertModel(config).eval(), (ids, torch.ones(1, 8, dtype=torch.int64))


class BoxesAndScores(nn.Module):
    """A plain PyTorch detector head that returns a dict holding a tensor and a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes = nn.Linear(16, 4)
        self.scores = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> dict:
        scores = self.scores(x)
        return {"boxes": self.boxes(x), "scores": (scores, scores.softmax(-1)), "unused": None}


def boxes_and_scores():
    torch.manual_seed(0)
    return BoxesAndScores().eval(), (torch.randn(1, 16),)


class CountsToo(nn.Module):
    """Returns an int beside its tensor: not something a model file can output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> tuple:
        return self.fc(x), 4


def counts_too():
    return CountsToo().eval(), (torch.randn(1, 16),)
