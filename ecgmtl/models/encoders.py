"""Shared ECG encoders, found by name in ENCODERS. Each maps (batch, leads, samples) to a feature map
(batch, channels, samples / reduction) and exposes `out_channels` and `reduction`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import Registry

ENCODERS: Registry[type[nn.Module]] = Registry("encoder")
NORMS = ("batch", "group")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """batch: BatchNorm1d (statistics of the batch; under DDP on CUDA made SyncBatchNorm); group: GroupNorm in
    up to 8 groups, which depends on each window alone, so that the batch's size and split do not matter."""
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    raise ValueError(f"unknown norm {kind!r}; choose one of: {', '.join(NORMS)}")


class ResBlock1d(nn.Module):
    """Two 'same' convolutions with batch norm and a skip connection; stride > 1 downsamples."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, norm: str = "batch") -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False)
        self.bn1 = norm_layer(norm, c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False)
        self.bn2 = norm_layer(norm, c_out)
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), norm_layer(norm, c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.skip(x))


@ENCODERS.register("resnet1d")
class ResNet1d(nn.Module):
    """A stem convolution, then one residual block per stage, each stage after the first halving the length.

    widths: channels per stage; the output has widths[-1] channels and length samples / 2**(len(widths)-1).
    """

    def __init__(self, in_leads: int = 1, widths: tuple[int, ...] = (16, 32, 64), kernel: int = 7,
                 norm: str = "batch") -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(in_leads, widths[0], kernel, padding=kernel // 2, bias=False),
            norm_layer(norm, widths[0]),
            nn.ReLU(),
        )
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(ResBlock1d(c, w, kernel, stride=1 if i == 0 else 2, norm=norm))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = widths[-1]
        self.reduction = 2 ** (len(widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))
