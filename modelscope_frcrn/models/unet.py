"""FRCRN's complex U-Net: 7 encoder and 7 decoder levels with frequency recurrence.

Encoders halve the frequency axis (321 bins -> 1) and, through symmetric time
padding with kernel 2, add one frame each; decoders undo both. A complex FSMN
runs along frequency before encoder levels 1-6 and after decoder levels 0-5,
another along time in the bottleneck; complex squeeze-excitation gates the skip
connections and decoder levels 0-4.

Submodules are reachable under two names, as in the official model
(``encoder0`` and ``encoders.0``, ``fsmn_enc0`` and ``fsmn_enc.0``...), so our
``state_dict`` carries both spellings like the official checkpoint does. Some
registered modules (``fsmn_enc0``, ``fsmn_dec6``, ``se_layer_enc6``,
``se_layer_dec5``) are never used in ``forward``; they exist because the official
checkpoint holds weights for them.
"""
import torch
from torch import nn

from .complex_layers import (ComplexConv2d, ComplexDecoderBlock, ComplexEncoderBlock,
                             ComplexSqueezeExcite, complex_cat)
from .fsmn import ComplexFrequencyFsmn, ComplexTimeFsmn

LEVELS = 7
ENCODER_KERNELS = [(5, 2)] * 6 + [(2, 2)]
DECODER_KERNELS = [(2, 2), (5, 2), (5, 2), (5, 2), (6, 2), (5, 2), (5, 2)]
STRIDE = (2, 1)
PADDING = (0, 1)
SE_REDUCTION = 8


class ComplexUNet(nn.Module):
    """One FRCRN stage: complex spectrum (or previous stage output) in, complex map out.

    Shape: ``[B, 2, F, T]`` (real and imaginary channel) -> ``[B, 2, F, T]``, with
    ``F = 321`` for the official 640-point FFT.
    """

    def __init__(self, width: int = 128, padding_mode: str = 'zeros'):
        super().__init__()
        enc_channels = [1] + [width] * LEVELS
        dec_in = [width] + [2 * width] * (LEVELS - 1)
        dec_out = [width] * (LEVELS - 1) + [1]
        fsmn_enc = [ComplexFrequencyFsmn(width) for _ in range(LEVELS)]
        encoders = [ComplexEncoderBlock(enc_channels[i], enc_channels[i + 1], ENCODER_KERNELS[i],
                                        STRIDE, PADDING, padding_mode) for i in range(LEVELS)]
        se_layers_enc = [ComplexSqueezeExcite(width, SE_REDUCTION) for _ in range(LEVELS)]
        fsmn_dec = [ComplexFrequencyFsmn(width) for _ in range(LEVELS)]
        decoders = [ComplexDecoderBlock(dec_in[i], dec_out[i], DECODER_KERNELS[i], STRIDE, PADDING)
                    for i in range(LEVELS)]
        se_layers_dec = [ComplexSqueezeExcite(width, SE_REDUCTION) for _ in range(LEVELS - 1)]

        # Registration order follows the official model, so state_dict keys come
        # out in the same order: per-level names first, then the lists.
        self.fsmn = ComplexTimeFsmn(width)
        for level in range(LEVELS):
            self.add_module(f'fsmn_enc{level}', fsmn_enc[level])
            self.add_module(f'encoder{level}', encoders[level])
            self.add_module(f'se_layer_enc{level}', se_layers_enc[level])
        for level in range(LEVELS):
            self.add_module(f'fsmn_dec{level}', fsmn_dec[level])
            self.add_module(f'decoder{level}', decoders[level])
            if level < LEVELS - 1:
                self.add_module(f'se_layer_dec{level}', se_layers_dec[level])
        self.linear = ComplexConv2d(1, 1, 1)
        self.decoders = nn.ModuleList(decoders)
        self.encoders = nn.ModuleList(encoders)
        self.se_layers_enc = nn.ModuleList(se_layers_enc)
        self.se_layers_dec = nn.ModuleList(se_layers_dec)
        self.fsmn_enc = nn.ModuleList(fsmn_enc)
        self.fsmn_dec = nn.ModuleList(fsmn_dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                x = self.fsmn_enc[level](x)
            x = encoder(x)
            skips.append(self.se_layers_enc[level](x))
        x = self.fsmn(x)

        for level, decoder in enumerate(self.decoders):
            x = decoder(x)
            if level == LEVELS - 1:
                break
            x = self.fsmn_dec[level](x)
            if level < LEVELS - 2:
                x = self.se_layers_dec[level](x)
            x = complex_cat(x, skips[LEVELS - 2 - level])
        return self.linear(x)
