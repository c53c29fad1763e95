"""Task heads on top of a shared encoder's feature map (batch, channels, length)."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.models.encoders import norm_layer


class ClassificationHead(nn.Module):
    """Pooled features (average and max over time) joined with the RR features -> class logits.

    feats: (batch, channels, length); rr: (batch, n_rr) already standardised. Returns (batch, n_classes).
    """

    def __init__(self, channels: int, n_rr: int, n_classes: int, hidden: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.rr = nn.Sequential(nn.Linear(n_rr, 16), nn.ReLU()) if n_rr else None
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels + (16 if n_rr else 0), hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, feats: torch.Tensor, rr: torch.Tensor | None) -> torch.Tensor:
        flat = feats.flatten(2)  # (batch, channels, positions): also takes the exported graph's 2-D maps
        z = [flat.mean(dim=-1), flat.amax(dim=-1)]
        if self.rr is not None and rr is not None:
            z.append(self.rr(rr))
        return self.mlp(torch.cat(z, dim=1))


class ReconstructionHead(nn.Module):
    """Upsamples the feature map back to the input: (batch, channels, samples / reduction) ->
    (batch, out_leads, samples). Each stage doubles the length with a transposed convolution."""

    def __init__(self, channels: int, reduction: int, out_leads: int = 1, kernel: int = 7, norm: str = "batch") -> None:
        super().__init__()
        layers, c = [], channels
        r = reduction
        while r > 1:
            layers += [nn.ConvTranspose1d(c, c // 2, 4, stride=2, padding=1), norm_layer(norm, c // 2), nn.ReLU()]
            c, r = c // 2, r // 2
        layers.append(nn.Conv1d(c, out_leads, kernel, padding=kernel // 2))
        self.net = nn.Sequential(*layers)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats)
