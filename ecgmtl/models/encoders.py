"""Shared ECG encoders, found by name in ENCODERS. Each maps (batch, leads, samples) to a feature map
(batch, channels, samples / reduction) and exposes `out_channels` and `reduction`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ecgmtl.registry import Registry

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

    def __init__(
        self, in_leads: int = 1, widths: tuple[int, ...] = (16, 32, 64), kernel: int = 7, norm: str = "batch"
    ) -> None:
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


class XResBlock1d(nn.Module):
    """xresnet's block (He et al. 2019, "bag of tricks"): two convolutions, the second norm's scale starting at
    zero (the block starts as the identity), and a shortcut that average-pools before its 1x1 convolution."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, norm: str = "batch") -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            norm_layer(norm, c_out),
            nn.ReLU(),
            nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2, bias=False),
            norm_layer(norm, c_out),
        )
        nn.init.zeros_(self.body[-1].weight)
        pool = nn.AvgPool1d(stride, ceil_mode=True) if stride > 1 else nn.Identity()
        conv = (
            nn.Identity()
            if c_in == c_out
            else nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=False), norm_layer(norm, c_out))
        )
        self.skip = nn.Sequential(pool, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


@ENCODERS.register("xresnet1d")
class XResNet1d(nn.Module):
    """An xresnet1d-style CNN (the strong PTB-XL baseline family of Strodthoff et al. 2020): a three-convolution
    stem (the first with stride 2) and a max pool, then one XResBlock1d per stage, each stage after the first
    halving the length. Output: widths[-1] channels, length samples / (4 * 2**(len(widths)-1))."""

    def __init__(
        self, in_leads: int = 12, widths: tuple[int, ...] = (64, 128, 256), kernel: int = 5, norm: str = "batch"
    ) -> None:
        super().__init__()
        stem_c = max(widths[0] // 2, 8)
        layers, c = [], in_leads
        for i, w in enumerate((stem_c, stem_c, widths[0])):
            layers += [
                nn.Conv1d(c, w, kernel, stride=2 if i == 0 else 1, padding=kernel // 2, bias=False),
                norm_layer(norm, w),
                nn.ReLU(),
            ]
            c = w
        self.stem = nn.Sequential(*layers, nn.MaxPool1d(3, stride=2, padding=1))
        blocks = [
            XResBlock1d(c, w, kernel, stride=1 if i == 0 else 2, norm=norm)
            for i, (c, w) in enumerate(zip((widths[0], *widths[:-1]), widths))
        ]
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = widths[-1]
        self.reduction = 4 * 2 ** (len(widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class PreNormBlock(nn.Module):
    """A pre-norm Transformer block: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)). Attention is
    written out (softmax(q k^T / sqrt(d)) v) so that it exports to ONNX as plain operators."""

    def __init__(self, dim: int, heads: int = 4, mlp: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"transformer width {dim} must divide into {heads} heads")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, tokens, dim)
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        x = x + self.drop(self.proj((att @ v).transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sine/cosine position codes (Vaswani et al. 2017)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


ATTENTION_HEADS = 4
ATTENTION_ENCODERS = ("transformer", "hybrid")  # their width, widths[-1], must divide into ATTENTION_HEADS


class TransformerStack(nn.Module):
    """Sine position codes, `depth` pre-norm blocks and a final LayerNorm over a feature map: (batch, dim,
    tokens) -> (batch, dim, tokens)."""

    MAX_TOKENS = 4096

    def __init__(self, dim: int, depth: int, heads: int = ATTENTION_HEADS) -> None:
        super().__init__()
        self.register_buffer("positions", sinusoidal_positions(self.MAX_TOKENS, dim), persistent=False)
        self.blocks = nn.Sequential(*[PreNormBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        z = feats.transpose(1, 2)
        z = z + self.positions[: z.shape[1]]
        return self.norm(self.blocks(z)).transpose(1, 2)


@ENCODERS.register("transformer")
class TransformerEncoder1d(nn.Module):
    """A convolutional patch embedding (kernel = stride = patch samples, patch = max(4, 2**(len(widths)-1))),
    sine position codes, then len(widths) pre-norm Transformer blocks of width widths[-1]. Output: (batch,
    widths[-1], samples / patch), a feature map like the CNNs'. `kernel` is unused: the patch and attention
    set the receptive field."""

    def __init__(
        self, in_leads: int = 12, widths: tuple[int, ...] = (64, 64, 64), kernel: int = 7, norm: str = "batch"
    ) -> None:
        super().__init__()
        dim = widths[-1]
        self.reduction = max(4, 2 ** (len(widths) - 1))
        self.embed = nn.Sequential(
            nn.Conv1d(in_leads, dim, self.reduction, stride=self.reduction), norm_layer(norm, dim)
        )
        self.stack = TransformerStack(dim, depth=len(widths))
        self.out_channels = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stack(self.embed(x))


@ENCODERS.register("hybrid")
class HybridEncoder1d(nn.Module):
    """The residual CNN (local wave shapes), then pre-norm Transformer blocks over its feature map (rhythm and
    relations across the record), with sine position codes. Output as ResNet1d's."""

    def __init__(
        self,
        in_leads: int = 12,
        widths: tuple[int, ...] = (32, 64, 128),
        kernel: int = 7,
        norm: str = "batch",
        depth: int = 2,
    ) -> None:
        super().__init__()
        self.cnn = ResNet1d(in_leads, widths, kernel, norm)
        self.stack = TransformerStack(widths[-1], depth)
        self.out_channels, self.reduction = widths[-1], self.cnn.reduction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stack(self.cnn(x))
