"""The exported graph's form of a 1-D convolutional model: every 1-D convolution, transposed convolution and
batch norm as its 2-D twin over (batch, channels, 1, samples), with the same weights.

It computes the same function (the export checks it against the 1-D model), and onnxruntime runs it about
twice as fast on a CPU: its blocked-layout (NCHWc) convolution kernels and Conv+activation fusions apply to
2-D convolutions only, while 1-D ones go through a generic im2col path (`python bench/bench.py` shows both).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ecgmtl.models.encoders import ResBlock1d, ResNet1d
from ecgmtl.models.heads import ClassificationHead, ReconstructionHead
from ecgmtl.models.multitask import MultiTaskModel

# Modules whose forward is indifferent to a unit height axis (elementwise ops, the heads' pooling over
# flattened positions), so that swapping their 1-D layers for 2-D ones keeps the function.
SHAPE_AGNOSTIC = (
    MultiTaskModel,
    ResNet1d,
    ResBlock1d,
    ClassificationHead,
    ReconstructionHead,
    nn.Sequential,
    nn.ModuleDict,
    nn.ReLU,
    nn.Identity,
    nn.Dropout,
    nn.Linear,
)
LAYERS_1D = (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d)


def convertible(model: nn.Module) -> bool:
    """Whether every module of `model` is a known 1-D layer or a shape-agnostic container."""
    return all(isinstance(m, LAYERS_1D + SHAPE_AGNOSTIC) for m in model.modules())


def as_conv2d(model: nn.Module) -> nn.Module:
    """A copy of `model` with its 1-D layers replaced by 2-D ones (kernel 1 x k); inputs gain axis 2."""
    twin = copy.deepcopy(model)
    for seq in [m for m in twin.modules() if isinstance(m, nn.Sequential)]:
        _fold_upsampling(seq)
    for parent in list(twin.modules()):
        for name, child in parent.named_children():
            if isinstance(child, LAYERS_1D):
                setattr(parent, name, _twin(child))
    return twin


class SubPixelUpsample(nn.Module):
    """ConvTranspose1d(kernel 4, stride 2, padding 1) as one 2-D convolution and an interleave.

    Output sample 2m is W[..., 1] x[m] + W[..., 3] x[m-1] and sample 2m+1 is W[..., 0] x[m+1] + W[..., 2] x[m]:
    a kernel-3 convolution with twice the output channels (even outputs, then odd) computes both, and the
    two halves are interleaved along time. onnxruntime's transposed convolution has no fast CPU kernel.
    """

    def __init__(
        self, m: nn.ConvTranspose1d, bn: nn.BatchNorm1d | None = None, relu: bool = False, interleave: bool = True
    ) -> None:
        """bn, relu: the batch norm (eval statistics) and ReLU that follow `m`, folded in: both act per channel
        and sample, so they commute with the interleave, and the convolution fuses with the ReLU.
        interleave=False returns the two phases as channels (even outputs, then odd), for a PolyphaseConv."""
        super().__init__()
        self.relu, self.interleave = relu, interleave
        c_in, c_out = m.in_channels, m.out_channels
        self.c_out = c_out
        self.conv = nn.Conv2d(c_in, 2 * c_out, (1, 3), padding=(0, 1), bias=m.bias is not None)
        w = m.weight.detach()  # (c_in, c_out, 4)
        k = torch.zeros(2, c_out, c_in, 3, dtype=w.dtype)
        k[0, :, :, 0], k[0, :, :, 1] = w[:, :, 3].T, w[:, :, 1].T  # even: x[m-1], x[m]
        k[1, :, :, 1], k[1, :, :, 2] = w[:, :, 2].T, w[:, :, 0].T  # odd: x[m], x[m+1]
        b = m.bias.detach() if m.bias is not None else torch.zeros(c_out, dtype=w.dtype)
        if bn is not None:
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            k, b = k * scale[None, :, None, None], (b - bn.running_mean) * scale + bn.bias.detach()
            self.conv.bias = nn.Parameter(torch.zeros(2 * c_out))
        with torch.no_grad():
            self.conv.weight.copy_(k.reshape(2 * c_out, c_in, 1, 3))  # channel phase * c_out + o
            if self.conv.bias is not None:
                self.conv.bias.copy_(b.repeat(2))

    @staticmethod
    def applies(m: nn.Module) -> bool:
        return (
            isinstance(m, nn.ConvTranspose1d)
            and m.kernel_size == (4,)
            and m.stride == (2,)
            and m.padding == (1,)
            and m.output_padding == (0,)
            and m.dilation == (1,)
            and m.groups == 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)  # (batch, 2 * c_out, 1, length)
        if self.relu:
            z = torch.relu(z)
        return interleave(z, self.c_out) if self.interleave else z


def interleave(z: torch.Tensor, channels: int) -> torch.Tensor:
    """(batch, 2 * channels [even phase, then odd], 1, length) -> (batch, channels, 1, 2 * length)."""
    n, _, h, length = z.shape
    return z.reshape(n, 2, channels, h, length).permute(0, 2, 3, 4, 1).reshape(n, channels, h, 2 * length)


class PolyphaseConv(nn.Module):
    """A stride-1 'same' Conv1d applied to a signal given as its two phases (channels: even samples, then odd;
    half the length), with its output's phases interleaved: the full-rate input is never formed.

    Output sample 2m + p reads input samples 2m + p + k - P (P the padding), that is phase (p + k - P) mod 2 at
    position m + floor((p + k - P) / 2): one convolution over the stacked phases, with twice the output
    channels, computes both output phases. After a SubPixelUpsample this saves interleaving the wide
    feature map; only the narrow output (the reconstructed leads) is interleaved.
    """

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        k_len, pad = conv.kernel_size[0], conv.padding[0]
        c, o = conv.in_channels, conv.out_channels
        reach = max(-((0 - pad) // 2), (k_len - pad) // 2)  # positions m - reach .. m + reach
        w = conv.weight.detach()
        k = torch.zeros(2 * o, 2 * c, 1, 2 * reach + 1, dtype=w.dtype)
        for p in (0, 1):
            for j in range(k_len):
                s = p + j - pad
                r, d = s % 2, s // 2
                k[p * o : (p + 1) * o, r * c : (r + 1) * c, 0, d + reach] += w[:, :, j]
        self.out = o
        self.conv = nn.Conv2d(2 * c, 2 * o, (1, 2 * reach + 1), padding=(0, reach), bias=conv.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(k)
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias.detach().repeat(2))

    @staticmethod
    def applies(m: nn.Module) -> bool:
        return (
            isinstance(m, nn.Conv1d)
            and m.stride == (1,)
            and m.dilation == (1,)
            and m.groups == 1
            and m.padding_mode == "zeros"
            and isinstance(m.padding, tuple)
            and m.padding[0] == m.kernel_size[0] // 2
            and m.kernel_size[0] % 2 == 1
        )

    def forward(self, phases: torch.Tensor) -> torch.Tensor:
        return interleave(self.conv(phases), self.out)


def _fold_upsampling(seq: nn.Sequential) -> None:
    """In eval mode, ConvTranspose1d -> BatchNorm1d -> ReLU runs of a Sequential become one SubPixelUpsample."""
    layers = list(seq)
    for i, m in enumerate(layers):
        if not (SubPixelUpsample.applies(m) and not m.training and i + 2 < len(layers)):
            continue
        bn, act = layers[i + 1], layers[i + 2]
        if isinstance(bn, nn.BatchNorm1d) and bn.track_running_stats and bn.affine and isinstance(act, nn.ReLU):
            seq[i], seq[i + 1], seq[i + 2] = SubPixelUpsample(m, bn, relu=True), nn.Identity(), nn.Identity()
            if i + 3 < len(layers) and PolyphaseConv.applies(layers[i + 3]):  # the next convolution on phases
                seq[i] = nn.Sequential(
                    SubPixelUpsample(m, bn, relu=True, interleave=False), PolyphaseConv(layers[i + 3])
                )
                seq[i + 3] = nn.Identity()


def _twin(m: nn.Module) -> nn.Module:
    if SubPixelUpsample.applies(m):
        return SubPixelUpsample(m).train(m.training)
    if isinstance(m, nn.BatchNorm1d):
        new = nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
        new.load_state_dict(m.state_dict())
        return new.train(m.training)
    kind = nn.Conv2d if isinstance(m, nn.Conv1d) else nn.ConvTranspose2d
    kwargs = dict(
        stride=(1, m.stride[0]),
        padding=(0, m.padding[0]),
        dilation=(1, m.dilation[0]),
        groups=m.groups,
        bias=m.bias is not None,
    )
    if kind is nn.ConvTranspose2d:
        kwargs["output_padding"] = (0, m.output_padding[0])
    new = kind(m.in_channels, m.out_channels, (1, m.kernel_size[0]), **kwargs)
    with torch.no_grad():
        new.weight.copy_(m.weight.unsqueeze(2))
        if m.bias is not None:
            new.bias.copy_(m.bias)
    return new.train(m.training)
