"""The multi-task model: one shared encoder, a classification head and a reconstruction head."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .encoders import ENCODERS
from .heads import ClassificationHead, ReconstructionHead


@dataclass(frozen=True)
class ModelConfig:
    """Architecture arguments; saved in every checkpoint so that loading needs nothing else."""

    encoder: str = "resnet1d"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    kernel: int = 7
    head_hidden: int = 64
    dropout: float = 0.2
    use_rr: bool = True


class MultiTaskModel(nn.Module):
    """forward(x, rr) -> {"logits": (batch, n_classes), "reconstruction": (batch, leads, samples)}.

    x: (batch, leads, samples), the normalised beat window; rr: (batch, n_rr) standardised RR features.
    """

    def __init__(self, cfg: ModelConfig, in_leads: int, n_rr: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ENCODERS.get(cfg.encoder)(in_leads=in_leads, widths=tuple(cfg.widths), kernel=cfg.kernel)
        c, r = self.encoder.out_channels, self.encoder.reduction
        self.classifier = ClassificationHead(c, n_rr if cfg.use_rr else 0, n_classes, cfg.head_hidden, cfg.dropout)
        self.reconstructor = ReconstructionHead(c, r, in_leads, cfg.kernel)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def last_shared_layer(self) -> nn.Parameter:
        """The weight of the encoder's last convolution: where GradNorm measures task gradient norms."""
        convs = [m for m in self.encoder.modules() if isinstance(m, nn.Conv1d)]
        return convs[-1].weight

    def forward(self, x: torch.Tensor, rr: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        feats = self.encoder(x)
        return {"logits": self.classifier(feats, rr), "reconstruction": self.reconstructor(feats)}


def build_model(cfg: ModelConfig, in_leads: int, n_rr: int, n_classes: int) -> MultiTaskModel:
    return MultiTaskModel(cfg, in_leads, n_rr, n_classes)
