"""A 1-D U-Net as a shared encoder: contracting and expanding paths joined by skip connections, so that its
feature map is at the input's full resolution (reduction 1). Under the multi-task model the reconstruction
head is then one convolution to the output leads (a U-Net's last layer) and the classification head pools
the same map. For continuous-signal restoration (denoising), where a bottleneck autoencoder loses the detail
of the QRS complex."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.models.encoders import ENCODERS, norm_layer


class ConvBlock(nn.Module):
    """Two 'same' convolutions, each with its norm and a ReLU: (batch, c_in, n) -> (batch, c_out, n)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, norm: str) -> None:
        super().__init__()
        pad = kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=pad, bias=False),
            norm_layer(norm, c_out),
            nn.ReLU(inplace=True),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False),
            norm_layer(norm, c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@ENCODERS.register("unet1d")
class UNet1d(nn.Module):
    """(batch, leads, samples) -> (batch, widths[0], samples); samples divisible by 2 ** (len(widths) - 1)
    (the multi-task model pads to `pad_multiple`). Each level halves the length with a strided convolution
    and doubles it back with a transposed one; the skip joins the levels by concatenation."""

    def __init__(self, in_leads: int, widths: tuple[int, ...] = (16, 32, 64), kernel: int = 9, norm: str = "batch"):
        super().__init__()
        w = list(widths)
        self.stem = ConvBlock(in_leads, w[0], kernel, norm)
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(a, b, 4, stride=2, padding=1, bias=False),
                norm_layer(norm, b),
                nn.ReLU(inplace=True),
                ConvBlock(b, b, kernel, norm),
            )
            for a, b in zip(w[:-1], w[1:])
        )
        self.up = nn.ModuleList(nn.ConvTranspose1d(b, a, 4, stride=2, padding=1) for a, b in zip(w[:-1], w[1:]))
        self.merge = nn.ModuleList(ConvBlock(2 * a, a, kernel, norm) for a in w[:-1])
        self.out_channels = w[0]
        self.reduction = 1
        self.pad_multiple = 2 ** (len(w) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up, merge in zip(reversed(self.up), reversed(self.merge)):
            h = merge(torch.cat([up(h), skips.pop()], dim=1))
        return h
