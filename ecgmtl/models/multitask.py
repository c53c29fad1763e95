"""The multi-task model: encoder(s), a classification head and a reconstruction head.

Sharing (`model.sharing`):
- hard: one encoder shared by both heads;
- soft: one encoder per task, pulled together by an L2 penalty on their differences (`model.soft_coef`);
- none: one encoder per task and no penalty, so each task trains alone (the single-task baselines).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ecgmtl.models.encoders import ENCODERS
from ecgmtl.models.heads import ClassificationHead, ReconstructionHead

SHARING = ("hard", "soft", "none")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture arguments; saved in every checkpoint so that loading needs nothing else."""

    encoder: str = "resnet1d"  # resnet1d, xresnet1d, transformer or hybrid (CNN then Transformer blocks)
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    kernel: int = 7
    head_hidden: int = 64
    dropout: float = 0.2
    use_rr: bool = True
    rr_columns: list[int] = field(default_factory=list)  # the RR features the classifier sees (empty: all)
    sharing: str = "hard"  # hard, soft or none (see the module docstring)
    soft_coef: float = 1e-2  # soft sharing: coefficient of sum ||theta_cls - theta_rec||^2 over encoder parameters
    norm: str = "batch"  # batch or group (batch-independent; see encoders.norm_layer)
    residual: bool = False  # the reconstruction is the input minus the head's output: the head estimates the noise


class MultiTaskModel(nn.Module):
    """forward(x, rr) -> {"logits": (batch, n_classes), "reconstruction": (batch, leads, samples)}.

    x: (batch, leads, samples), the normalised beat window; rr: (batch, n_rr) standardised RR features.
    """

    def __init__(self, cfg: ModelConfig, in_leads: int, n_rr: int, n_classes: int) -> None:
        super().__init__()
        if cfg.sharing not in SHARING:
            raise ValueError(f"unknown sharing {cfg.sharing!r}; choose one of: {', '.join(SHARING)}")
        self.cfg = cfg

        def encoder() -> nn.Module:
            return ENCODERS.get(cfg.encoder)(
                in_leads=in_leads, widths=tuple(cfg.widths), kernel=cfg.kernel, norm=cfg.norm
            )

        if cfg.sharing == "hard":
            self.encoder = encoder()
            first = self.encoder
        else:  # the same initial weights for both, so soft sharing starts from agreement
            first = encoder()
            second = encoder()
            second.load_state_dict(first.state_dict())
            self.encoders = nn.ModuleDict({"classification": first, "reconstruction": second})
        c, r = first.out_channels, first.reduction
        self.reduction = r
        self.pad_multiple = getattr(first, "pad_multiple", r)  # a U-Net keeps the length but needs a multiple
        if cfg.rr_columns and not all(0 <= i < n_rr for i in cfg.rr_columns):
            raise ValueError(f"rr_columns {list(cfg.rr_columns)} out of range for {n_rr} RR features")
        self.rr_index = list(cfg.rr_columns)
        n_used = len(self.rr_index) or n_rr
        self.classifier = ClassificationHead(c, n_used if cfg.use_rr else 0, n_classes, cfg.head_hidden, cfg.dropout)
        self.reconstructor = ReconstructionHead(c, r, in_leads, cfg.kernel, cfg.norm)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters both tasks' gradients reach: the encoder under hard sharing, none otherwise."""
        return list(self.encoder.parameters()) if self.cfg.sharing == "hard" else []

    def last_shared_layer(self) -> nn.Parameter | None:
        """The weight of the shared encoder's last convolution: where GradNorm measures task gradient norms."""
        if self.cfg.sharing != "hard":
            return None
        convs = [m for m in self.encoder.modules() if isinstance(m, nn.Conv1d)]
        return convs[-1].weight

    def sharing_penalty(self) -> torch.Tensor | None:
        """Soft sharing: soft_coef * sum of squared differences between the two encoders' parameters."""
        if self.cfg.sharing != "soft":
            return None
        a, b = self.encoders["classification"].parameters(), self.encoders["reconstruction"].parameters()
        return self.cfg.soft_coef * sum((p - q).pow(2).sum() for p, q in zip(a, b))

    @torch.no_grad()
    def encoder_distance(self) -> float | None:
        """Relative L2 distance between the task encoders (0 = identical), logged under soft/none sharing."""
        if self.cfg.sharing == "hard":
            return None
        a = torch.cat([p.reshape(-1) for p in self.encoders["classification"].parameters()])
        b = torch.cat([p.reshape(-1) for p in self.encoders["reconstruction"].parameters()])
        return float((a - b).norm() / (0.5 * (a.norm() + b.norm())).clamp_min(1e-12))

    def forward(self, x: torch.Tensor, rr: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        length = x.shape[-1]
        pad = -length % self.pad_multiple  # a window that the encoder's reduction does not divide: zero-padded
        if pad:
            x = torch.nn.functional.pad(x, (0, pad))
        if rr is not None and self.rr_index:
            rr = rr[:, self.rr_index]
        if self.cfg.sharing == "hard":
            feats = self.encoder(x)
            out = {"logits": self.classifier(feats, rr), "reconstruction": self.reconstructor(feats)}
        else:
            out = {
                "logits": self.classifier(self.encoders["classification"](x), rr),
                "reconstruction": self.reconstructor(self.encoders["reconstruction"](x)),
            }
        if self.cfg.residual:
            out["reconstruction"] = x - out["reconstruction"]  # the head estimates the noise
        if pad:
            out["reconstruction"] = out["reconstruction"][..., :length]
        return out


def build_model(cfg: ModelConfig, in_leads: int, n_rr: int, n_classes: int) -> MultiTaskModel:
    return MultiTaskModel(cfg, in_leads, n_rr, n_classes)
