"""Models as users bring them, for the CLI's `file.py:factory` path: architectures the zoo does not have."""
import torch
from torch import nn


class LstmKeywords(nn.Module):
    """A keyword spotter: an LSTM over MFCC frames, then a classifier on the last step."""

    def __init__(self, features: int = 10, hidden: int = 32, classes: int = 12) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def lstm_keywords():
    torch.manual_seed(0)
    return LstmKeywords().eval(), (torch.randn(1, 12, 10),)


class VanishingOutputs(nn.Module):
    """A user's bug: the outputs are scaled to denormals (~1e-41), so every comparison against them is empty."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * 1e-43


def vanishing_outputs():
    torch.manual_seed(0)
    return VanishingOutputs().eval(), (torch.randn(1, 16),)


class SensorMlp(nn.Module):
    """A small classifier over a window of accelerometer features."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(48, 64), nn.ReLU(), nn.Linear(64, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def sensor_mlp():
    torch.manual_seed(0)
    return SensorMlp().eval(), (torch.randn(1, 48),)


class SensorCnn1d(nn.Module):
    """Human-activity recognition on a window of 3-axis accelerometer samples: Conv1d/BN/ReLU blocks, a global
    average over time, a linear classifier."""

    def __init__(self, channels: int = 3, classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(channels, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(),
            nn.Conv1d(16, 24, 5, stride=2, padding=2), nn.BatchNorm1d(24), nn.ReLU(),
            nn.Conv1d(24, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU())
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=-1))


def sensor_cnn1d():
    torch.manual_seed(0)
    model = SensorCnn1d()
    _randomize_batchnorm(model)
    return model.eval(), (torch.randn(1, 3, 64),)


class TinyUnet(nn.Module):
    """A small U-Net for segmentation: two down blocks (Conv2d + MaxPool), a ConvTranspose2d up on each level with
    a skip concatenation, a 1x1 head."""

    def __init__(self, channels: int = 1, classes: int = 2) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU())
        self.down1, self.down2, self.mid = block(channels, 8), block(8, 16), block(16, 32)
        self.pool = nn.MaxPool2d(2)
        self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, stride=2), block(32, 16)
        self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 2, stride=2), block(16, 8)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(self.pool(d1))
        m = self.mid(self.pool(d2))
        u2 = self.dec2(torch.cat([self.up2(m), d2], dim=1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], dim=1))
        return self.head(u1)


def tiny_unet():
    torch.manual_seed(0)
    return TinyUnet().eval(), (torch.rand(1, 1, 16, 16),)


class TinyEmbedding(nn.Module):
    """A bag-of-tokens text classifier: an embedding table, the mean over the tokens, a linear layer."""

    def __init__(self, vocab: int = 64, dim: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.fc = nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(ids).mean(dim=1))


def tiny_embedding():
    torch.manual_seed(0)
    return TinyEmbedding().eval(), (torch.randint(0, 64, (1, 12)),)


def _randomize_batchnorm(model: nn.Module) -> None:
    """Trained-looking BatchNorm statistics (fresh ones are the identity), so the folded convolutions differ."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


class OutlierMlp(nn.Module):
    """An MLP whose first layer has one always-on unit thousands of times larger than the rest (as after a poorly
    regularised fine-tune): per-tensor INT8 of that layer's output keeps the outlier and rounds the others away."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(16, 64), nn.Linear(64, 32), nn.Linear(32, 10)
        with torch.no_grad():
            self.fc1.weight[0] = 0
            self.fc1.bias[0] = 3000.0
            self.fc2.weight[:, 0] = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def outlier_mlp():
    torch.manual_seed(0)
    return OutlierMlp().eval(), (torch.randn(1, 16),)


class ShiftedIds(nn.Module):
    """Token ids offset by integer arithmetic before the lookup, as `transformers` builds its mask indices
    (`arange(n) + offset`)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.fc = nn.Embedding(64, 8), nn.Linear(8, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(ids * 2 + 1).mean(1))


def shifted_ids():
    torch.manual_seed(0)
    return ShiftedIds().eval(), (torch.randint(0, 31, (1, 6)),)


class TinyVit(nn.Module):
    """A small vision transformer as timm writes one: patch embedding, a class token concatenated and a position
    embedding added in the model's own forward (outside any module), pre-norm blocks with residual adds, the head
    on the class token; timm's initialisation (class token ~1e-6, position embedding std 0.02)."""

    def __init__(self, dim: int = 32, depth: int = 2, patches: int = 16, patch_dim: int = 48) -> None:
        super().__init__()
        self.embed = nn.Linear(patch_dim, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
        self.pos_embed = nn.Parameter(torch.nn.init.trunc_normal_(torch.empty(1, patches + 1, dim), std=0.02))
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": nn.LayerNorm(dim), "fc1": nn.Linear(dim, 2 * dim),
                                                   "act": nn.GELU(), "fc2": nn.Linear(2 * dim, dim)})
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        h = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), h], dim=1) + self.pos_embed
        for block in self.blocks:
            h = h + block["fc2"](block["act"](block["fc1"](block["norm"](h))))
        return self.head(self.norm(h)[:, 0])


def tiny_vit():
    torch.manual_seed(0)
    return TinyVit().eval(), (torch.randn(1, 16, 48),)
