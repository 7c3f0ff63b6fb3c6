"""Complex-valued building blocks on channel-stacked tensors.

A complex feature map with ``C`` channels is one real tensor ``[B, 2C, F, T]``:
the ``C`` real channels first, then the ``C`` imaginary channels. Keeping real and
imaginary parts in one tensor lets a complex convolution run as a single real
convolution with the block weight ``[[W_re, -W_im], [W_im, W_re]]`` instead of four
convolutions. Parameters keep the official names (``conv_re``/``conv_im``,
``bn_re``/``bn_im``, ``fc_r``/``fc_i``) so the official checkpoint loads as is.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


def split_complex(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``[B, 2C, ...]`` -> real ``[B, C, ...]``, imaginary ``[B, C, ...]``."""
    return x.chunk(2, dim=1)


def complex_cat(*parts: torch.Tensor) -> torch.Tensor:
    """Concatenate complex maps along channels, keeping real-then-imaginary order.

    Shape: each part ``[B, 2C_k, F, T]`` -> ``[B, 2 * sum(C_k), F, T]``.
    """
    reals, imags = zip(*(split_complex(p) for p in parts))
    return torch.cat(reals + imags, dim=1)


def _block_weight(w_re: torch.Tensor, w_im: torch.Tensor, dim_in: int) -> torch.Tensor:
    """Weight of one real conv computing (re*W_re - im*W_im, re*W_im + im*W_re).

    ``dim_in`` is the weight axis of input channels (1 for conv, 0 for conv-transpose).
    """
    dim_out = 1 - dim_in
    to_real = torch.cat([w_re, -w_im], dim=dim_in)
    to_imag = torch.cat([w_im, w_re], dim=dim_in)
    return torch.cat([to_real, to_imag], dim=dim_out)


def _block_bias(conv_re: nn.Module, conv_im: nn.Module) -> torch.Tensor:
    """Bias of the block convolution: real output gets b_re - b_im, imaginary b_re + b_im."""
    return torch.cat([conv_re.bias - conv_im.bias, conv_re.bias + conv_im.bias])


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution. Shape: ``[B, 2C_in, F, T]`` -> ``[B, 2C_out, F', T']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, padding_mode: str = 'zeros'):
        super().__init__()
        self.conv_re = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                 padding, padding_mode=padding_mode)
        self.conv_im = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                 padding, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = _block_weight(self.conv_re.weight, self.conv_im.weight, dim_in=1)
        bias = _block_bias(self.conv_re, self.conv_im)
        # Conv2d._conv_forward applies padding_mode (zeros or reflect/replicate/circular).
        return self.conv_re._conv_forward(x, weight, bias)


class ComplexConvTranspose2d(nn.Module):
    """Complex 2-D transposed convolution. Shape: ``[B, 2C_in, F, T]`` -> ``[B, 2C_out, F', T']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.tconv_re = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding)
        self.tconv_im = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = _block_weight(self.tconv_re.weight, self.tconv_im.weight, dim_in=0)
        bias = _block_bias(self.tconv_re, self.tconv_im)
        layer = self.tconv_re
        return F.conv_transpose2d(x, weight, bias, layer.stride, layer.padding)


class ComplexBatchNorm2d(nn.Module):
    """Separate batch norms of real and imaginary parts (not a whitening complex BN).

    Shape: ``[B, 2C, F, T]`` -> same.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bn_re = nn.BatchNorm2d(channels)
        self.bn_im = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real, imag = split_complex(x)
        return torch.cat([self.bn_re(real), self.bn_im(imag)], dim=1)


class ComplexSqueezeExcite(nn.Module):
    """Squeeze-excitation with complex-combined gates (FRCRN's ``SELayer``).

    The pooled real and imaginary descriptors go through two small MLPs that are
    combined like a complex product; the real gate scales the real channels and
    the imaginary gate the imaginary ones.

    Shape: ``[B, 2C, F, T]`` -> same.
    """

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = channels // reduction
        self.fc_r = self._gate(channels, hidden)
        self.fc_i = self._gate(channels, hidden)

    @staticmethod
    def _gate(channels: int, hidden: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled_re, pooled_im = split_complex(x.mean(dim=(2, 3)))
        gate_re = self.fc_r(pooled_re) - self.fc_i(pooled_im)
        gate_im = self.fc_r(pooled_im) + self.fc_i(pooled_re)
        return x * torch.cat([gate_re, gate_im], dim=1)[:, :, None, None]


class ComplexEncoderBlock(nn.Module):
    """Complex conv, complex batch norm, LeakyReLU.

    Shape: ``[B, 2C_in, F, T]`` -> ``[B, 2C_out, F', T + 1]`` (time kernel 2, padding 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                 padding_mode: str = 'zeros'):
        super().__init__()
        self.conv = ComplexConv2d(in_channels, out_channels, kernel_size, stride, padding,
                                  padding_mode)
        self.bn = ComplexBatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.bn(self.conv(x)))


class ComplexDecoderBlock(nn.Module):
    """Complex transposed conv, complex batch norm, LeakyReLU.

    Shape: ``[B, 2C_in, F, T]`` -> ``[B, 2C_out, F', T - 1]`` (undoes an encoder block's extra frame).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding):
        super().__init__()
        self.transconv = ComplexConvTranspose2d(in_channels, out_channels, kernel_size, stride,
                                                padding)
        self.bn = ComplexBatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.bn(self.transconv(x)))
