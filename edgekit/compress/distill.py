"""Knowledge distillation: the incoming model is the teacher; a student (given, or derived from the teacher) is
trained on the context's data to match it.

Losses:
- outputs: Hinton's logit distillation, alpha * T^2 * KL(p_teacher(T) || p_student(T)) + beta * CE(labels)
  (the T^2 keeps gradient magnitudes comparable across temperatures), or MSE / cosine for embedding models;
- hidden states: MSE between a student module's output, mapped by a learned linear projection when the widths
  differ, and a teacher module's output (FitNets / TinyBERT);
- attention maps: KL between the teacher's and the student's attention distributions (MiniLM / TinyBERT);
  head counts that differ are compared through the head-averaged map.
"""
from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .base import CompressionContext, register, str_enum
from .fields import check_float, check_int
from .outputs import first_output, output_item


class OutputLoss(str, enum.Enum):
    """The loss on the model outputs: logit distillation (classifiers) or MSE / cosine (embedding models)."""

    KD = "kd"
    MSE = "mse"
    COSINE = "cosine"


def _pairs(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """(student module, teacher module) name pairs as a tuple of tuples (a recipe gives lists)."""
    if isinstance(value, (tuple, list)) and all(
            isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(n, str) for n in p) for p in value):
        return tuple((s, t) for s, t in value)
    raise InputError(f"distill: {name} must be a list of (student module, teacher module) name pairs, "
                     f"got {value!r}", f'e.g. {name} = [["encoder.layer.1", "encoder.layer.3"]]')


@dataclass(frozen=True)
class DistillConfig:
    """Distil the incoming model into `student`: a module, a function teacher -> student, or None to derive one
    by narrowing every layer to `width` of its channels (see student.py for fewer layers / low-rank embeddings).

    `hidden_pairs` and `attention_pairs` are (student module name, teacher module name) pairs; an attention
    module's output is its attention map, or a tuple whose second item is (Hugging Face eager attention).
    """

    student: nn.Module | Callable[[nn.Module], nn.Module] | None = None
    width: float = 0.5
    output_loss: OutputLoss = OutputLoss.KD
    temperature: float = 4.0
    alpha: float = 0.9
    beta: float = 0.1
    hidden_pairs: tuple[tuple[str, str], ...] = ()
    attention_pairs: tuple[tuple[str, str], ...] = ()
    hidden_weight: float = 1.0
    attention_weight: float = 1.0
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    method: ClassVar[str] = "distill"

    def __post_init__(self) -> None:
        m = self.method
        if not (self.student is None or isinstance(self.student, nn.Module) or callable(self.student)):
            raise InputError(f"{m}: student must be a module, a function teacher -> student, or None; "
                             f"got {type(self.student).__name__}")
        check_float(m, "width", self.width, 0, 1, low_open=True, high_open=True)
        object.__setattr__(self, "output_loss", str_enum(OutputLoss, self.output_loss, f"{m}: output_loss"))
        check_float(m, "temperature", self.temperature, 0, low_open=True)
        for name in ("alpha", "beta", "hidden_weight", "attention_weight"):
            check_float(m, name, getattr(self, name), 0)
        object.__setattr__(self, "hidden_pairs", _pairs("hidden_pairs", self.hidden_pairs))
        object.__setattr__(self, "attention_pairs", _pairs("attention_pairs", self.attention_pairs))
        check_int(m, "epochs", self.epochs, 0)
        check_float(m, "lr", self.lr, 0, low_open=True)
        check_int(m, "batch_size", self.batch_size, 1)
        check_int(m, "seed", self.seed, None)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None = None,
            temperature: float = 4.0, alpha: float = 0.9, beta: float = 0.1) -> torch.Tensor:
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + beta * CE(student, labels), batch mean."""
    T = temperature
    kl = F.kl_div(F.log_softmax(student_logits / T, dim=-1), F.log_softmax(teacher_logits / T, dim=-1),
                  log_target=True, reduction="batchmean")
    loss = alpha * T * T * kl
    if labels is not None and beta:
        loss = loss + beta * F.cross_entropy(student_logits, labels)
    return loss


def embedding_loss(student_out: torch.Tensor, teacher_out: torch.Tensor, kind: OutputLoss | str) -> torch.Tensor:
    if kind == OutputLoss.MSE:
        return F.mse_loss(student_out, teacher_out)
    return (1 - F.cosine_similarity(student_out, teacher_out, dim=-1)).mean()


def attention_loss(student_att: torch.Tensor, teacher_att: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """KL(teacher || student) over the key axis of (batch, heads, query, key) attention probabilities."""
    if student_att.shape[1] != teacher_att.shape[1]:
        student_att, teacher_att = student_att.mean(1, keepdim=True), teacher_att.mean(1, keepdim=True)
    kl = teacher_att * (torch.log(teacher_att + eps) - torch.log(student_att + eps))
    return kl.sum(-1).mean()


class Projection(nn.Module):
    """Learned map from a student feature to the teacher's width: Linear on the last axis, or a 1x1 convolution
    for (N, C, H, W) feature maps. The identity when the widths already agree."""

    def __init__(self, student_shape: torch.Size, teacher_shape: torch.Size) -> None:
        super().__init__()
        conv = len(student_shape) == 4
        s, t = (student_shape[1], teacher_shape[1]) if conv else (student_shape[-1], teacher_shape[-1])
        if s == t:
            self.map: nn.Module = nn.Identity()
        else:
            self.map = nn.Conv2d(s, t, 1, bias=False) if conv else nn.Linear(s, t, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map(x)


@contextlib.contextmanager
def tap(model: nn.Module, names: list[str], pick: int) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named modules during forward passes; item `pick` of tuple outputs."""
    seen: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable:
        def fn(module: nn.Module, args: tuple, out: Any) -> None:
            seen[name] = output_item(out, pick)
        return fn

    try:
        handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in names]
    except AttributeError as exc:
        raise InputError(f"distillation pair names a module the model lacks: {exc}") from None
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


class Distiller(nn.Module):
    """Holds the student and the training-only projections; `loss(x, labels)` is one distillation objective."""

    def __init__(self, teacher: nn.Module, student: nn.Module, config: DistillConfig) -> None:
        super().__init__()
        self.teacher, self.student, self.config = [teacher.eval()], student, config  # list: teacher not a child
        self.projections = nn.ModuleList()

    def _features(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list, list]:
        c = self.config
        side = 0 if model is self.student else 1
        with tap(model, [p[side] for p in c.hidden_pairs], 0) as hid, \
                tap(model, [p[side] for p in c.attention_pairs], 1) as att:
            out = first_output(model(x))
        return out, [hid[p[side]] for p in c.hidden_pairs], [att[p[side]] for p in c.attention_pairs]

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        with torch.no_grad():
            t_out, t_hid, t_att = self._features(self.teacher[0], x)
        s_out, s_hid, s_att = self._features(self.student, x)
        if not self.projections and s_hid:
            self.projections.extend(Projection(s.shape, t.shape) for s, t in zip(s_hid, t_hid))
        if c.output_loss == OutputLoss.KD:
            total = kd_loss(s_out, t_out, labels, c.temperature, c.alpha, c.beta)
        else:
            total = c.alpha * embedding_loss(s_out, t_out, c.output_loss)
        if s_hid:
            total = total + c.hidden_weight * sum(F.mse_loss(p(s), t) for p, s, t in
                                                  zip(self.projections, s_hid, t_hid)) / len(s_hid)
        if s_att:
            total = total + c.attention_weight * sum(attention_loss(s, t) for s, t in zip(s_att, t_att)) / len(s_att)
        return total


def make_student(teacher: nn.Module, config: DistillConfig, example_inputs: tuple[torch.Tensor, ...]) -> nn.Module:
    if isinstance(config.student, nn.Module):
        return config.student
    if callable(config.student):
        return config.student(teacher)
    from .student import narrow
    return narrow(teacher, example_inputs, config.width)


def distill(teacher: nn.Module, config: DistillConfig, x: torch.Tensor, labels: torch.Tensor | None = None,
            progress: Callable[[str, int, int], None] = lambda *_: None,
            example_inputs: tuple[torch.Tensor, ...] | None = None) -> nn.Module:
    """Train a student on inputs `x` (and `labels`); returns the student in eval mode."""
    student = make_student(teacher, config, example_inputs if example_inputs is not None else (x[:1],))
    distiller = Distiller(teacher, student, config)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    distiller.loss(x[:2])  # creates the projections, so the optimiser sees their parameters
    opt = torch.optim.AdamW([p for p in distiller.parameters() if p.requires_grad], lr=config.lr)
    steps = -(-len(x) // config.batch_size)
    total = max(2, config.epochs * steps)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=total, pct_start=max(0.1, 2 / total))
    student.train()
    for epoch in range(config.epochs):
        perm = torch.randperm(len(x), generator=gen)
        for s in range(steps):
            idx = perm[s * config.batch_size:(s + 1) * config.batch_size]
            loss = distiller.loss(x[idx], None if labels is None else labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            progress("distilling", epoch * steps + s + 1, config.epochs * steps)
    return student.eval()


@register(DistillConfig)
def _distill(model: nn.Module, config: DistillConfig, ctx: CompressionContext) -> nn.Module:
    x = torch.from_numpy(np.ascontiguousarray(ctx.single_input("distillation"))).to(ctx.example_inputs[0].dtype)
    y = None if ctx.labels is None else torch.from_numpy(np.asarray(ctx.labels)).long()
    return distill(model, config, x, y, ctx.progress, ctx.example_inputs)
