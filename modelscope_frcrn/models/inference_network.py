"""An inference-only copy of :class:`~modelscope_frcrn.models.FRCRN`, restructured for speed.

:func:`fuse_for_inference` reads a (trained) :class:`FRCRN` and builds a
:class:`FusedFRCRN` that computes the same enhanced waveform (``wav_l2``, within
float rounding) with less work:

- every complex convolution is one real convolution whose block weight
  ``[[W_re, -W_im], [W_im, W_re]]`` is built once, with the following complex
  batch norm (eval statistics) folded into its weight and bias;
- a complex FSMN (two real FSMN layers applied to real and imaginary parts,
  combined like a complex product) runs as two grouped 1x1 convolutions and one
  depthwise convolution over all four (layer, part) combinations, with the
  memory filter's identity tap and the signs of the complex product folded into
  the weights;
- only what ``enhance`` returns is computed: no stage-1 waveform, no masks
  or spectra kept for a loss;
- tensors live in the channels-last memory format, where the 1x1 and depthwise
  convolutions and the narrow last decoder run several times faster;
- element-wise steps (activations, gates, residual sums) run in place.

The trainable :class:`FRCRN` is not touched: the fused copy owns new tensors,
made under ``torch.no_grad`` with ``requires_grad`` off, so it can be cast to
another dtype or device as a whole and exported to ONNX.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .complex_layers import (ComplexBatchNorm2d, ComplexConvTranspose2d, ComplexSqueezeExcite,
                             _block_weight)
from .frcrn import FRCRN, enhance_padding
from .fsmn import ComplexFrequencyFsmn, ComplexTimeFsmn, UniDeepFsmn
from .post_filter import post_filter
from .unet import LEVELS, ComplexUNet

LEAKY_SLOPE = 0.01  # F.leaky_relu's default, used by the trainable blocks


def _bn_scale_shift(norm: ComplexBatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``y = x * scale + shift`` of a complex batch norm in eval mode, shape ``[2C]`` each."""
    scales, shifts = [], []
    for bn in (norm.bn_re, norm.bn_im):
        if not bn.track_running_stats or bn.running_mean is None:
            raise ValueError('cannot fold a BatchNorm without running statistics')
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        shift = -bn.running_mean.double() * scale
        if bn.affine:
            scale, shift = scale * bn.weight.double(), shift * bn.weight.double() + bn.bias.double()
        scales.append(scale)
        shifts.append(shift)
    return torch.cat(scales), torch.cat(shifts)


class FusedConv(nn.Module):
    """A complex (transposed) convolution with its batch norm folded in, then LeakyReLU.

    Shape: ``[B, 2C_in, F, T]`` -> ``[B, 2C_out, F', T']`` as the trainable block.
    """

    def __init__(self, conv: nn.Module, norm: Optional[ComplexBatchNorm2d], activation: bool):
        super().__init__()
        self.transposed = isinstance(conv, ComplexConvTranspose2d)
        re, im = (conv.tconv_re, conv.tconv_im) if self.transposed else (conv.conv_re, conv.conv_im)
        if not self.transposed and re.padding_mode != 'zeros':
            raise ValueError(f'fusing supports padding_mode="zeros" only, got {re.padding_mode!r}')
        out_dim = 1 if self.transposed else 0
        weight = _block_weight(re.weight.double(), im.weight.double(), dim_in=1 - out_dim)
        bias = torch.cat([re.bias.double() - im.bias.double(), re.bias.double() + im.bias.double()])
        if norm is not None:
            scale, shift = _bn_scale_shift(norm)
            shape = [1] * weight.dim()
            shape[out_dim] = -1
            weight = weight * scale.view(shape)
            bias = bias * scale + shift
        self.register_buffer('weight', weight.float())
        self.register_buffer('bias', bias.float())
        self.stride, self.padding = re.stride, re.padding
        self.activation = activation
        self.polyphase = False

    def can_polyphase(self) -> bool:
        """Whether this is a transposed conv that :meth:`set_polyphase` can rewrite."""
        return (self.transposed and tuple(self.stride) == (2, 1) and self.padding[0] == 0
                and self.weight.shape[3] - 1 - self.padding[1] >= 0)

    def set_polyphase(self, enabled: bool) -> None:
        """Run the transposed convolution as two ordinary ones, one per output row parity.

        ``out[2m + r] = sum_j x[m - j] w[2j + r]`` along frequency (stride 2), i.e. for
        each parity ``r`` an ordinary convolution with the taps ``w[r::2]`` reversed;
        along time (stride 1) an ordinary convolution with the kernel reversed. Same
        arithmetic; oneDNN's ordinary bf16 convolutions are much faster than its
        strided deconvolution (measured 1.7x on AVX-512 BF16).
        """
        self.polyphase = enabled and self.can_polyphase()
        if not self.polyphase:
            return
        kernel = self.weight.shape[2]
        for parity in (0, 1):
            taps = list(range(parity, kernel, 2))[::-1]
            phase = self.weight[:, :, taps].flip(3).transpose(0, 1).contiguous()  # [C_out, C_in, J, kt]
            self.register_buffer(f'phase{parity}', phase, persistent=False)

    def _polyphase(self, x: torch.Tensor) -> torch.Tensor:
        time_padding = self.weight.shape[3] - 1 - self.padding[1]
        even, odd = (F.conv2d(x, phase, self.bias, padding=(phase.shape[2] - 1, time_padding))
                     for phase in (self.phase0, self.phase1))
        batch, channels, rows, frames = even.shape
        memory_format = (torch.channels_last if even.is_contiguous(memory_format=torch.channels_last)
                         else torch.contiguous_format)
        out = torch.empty((batch, channels, rows + odd.shape[2], frames), dtype=even.dtype,
                          device=even.device, memory_format=memory_format)
        out[:, :, 0::2] = even
        out[:, :, 1::2] = odd
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.polyphase and not torch.onnx.is_in_onnx_export():
            y = self._polyphase(x)
        elif self.transposed:
            y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding)
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.leaky_relu_(y, LEAKY_SLOPE) if self.activation else y


class FusedComplexFsmn(nn.Module):
    """One complex FSMN layer (``fsmn_re``/``fsmn_im`` pair) along the frequency or time axis.

    With ``L(x) = x + (1 + M)(P relu(W x + b))`` for each real layer, the complex
    layer computes ``re' = L_re(re) - L_im(im)`` and ``im' = L_re(im) + L_im(re)``.
    Here: ``h = relu(W1 x)`` (grouped, 2 groups: [h_re(re), h_im(re)], [h_im(im), h_re(im)]),
    ``z = (1 + M)(W2 h)`` (grouped, 4 groups, with ``-P_im`` on ``h_im(im)``), and
    ``out = z[:2C] + z[2C:] + [re - im, re + im]``.

    Shape: ``[B, 2C, F, T]`` -> same; the memory runs along ``F`` (``axis=2``) or ``T`` (``axis=3``).
    """

    def __init__(self, layer_re: UniDeepFsmn, layer_im: UniDeepFsmn, axis: int):
        super().__init__()
        channels = layer_re.linear.in_features
        order = layer_re.conv1.kernel_size[0]
        lin_re, lin_im = layer_re.linear, layer_im.linear
        w1 = torch.cat([lin_re.weight, lin_im.weight, lin_im.weight, lin_re.weight])
        b1 = torch.cat([lin_re.bias, lin_im.bias, lin_im.bias, lin_re.bias])
        p_re, p_im = layer_re.project.weight, layer_im.project.weight
        w2 = torch.cat([p_re, p_im, -p_im, p_re])
        memory = []
        for layer in (layer_re, layer_im, layer_im, layer_re):
            taps = layer.conv1.weight[:, 0, :, 0].clone()          # [C, order], last tap = now
            taps[:, -1] += 1.0                                      # the projection's own term
            memory.append(taps)
        w3 = torch.cat(memory)[:, None]                             # [4C, 1, order]
        self.axis = axis
        self.order = order
        self.channels = channels
        self.register_buffer('w1', w1[:, :, None, None].contiguous())
        self.register_buffer('b1', b1.contiguous())
        self.register_buffer('w2', w2[:, :, None, None].contiguous())
        kernel_shape = (order, 1) if axis == 2 else (1, order)
        self.register_buffer('w3', w3.reshape(4 * channels, 1, *kernel_shape).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.channels
        hidden = F.relu_(F.conv2d(x, self.w1, self.b1, groups=2))
        projected = F.conv2d(hidden, self.w2, groups=4)
        re, im = x[:, :c], x[:, c:]
        if torch.onnx.is_in_onnx_export():
            # Shape-independent graph: explicit causal padding, no writes into views
            # (which export as scatters with the traced shapes baked in).
            causal = (0, 0, self.order - 1, 0) if self.axis == 2 else (self.order - 1, 0)
            memory = F.conv2d(F.pad(projected, causal), self.w3, groups=4 * c)
            return memory[:, :2 * c] + memory[:, 2 * c:] + torch.cat([re - im, re + im], dim=1)
        # Causal memory: pad both sides of the axis by order - 1 (no copy of the input),
        # keep the first outputs.
        padding = (self.order - 1, 0) if self.axis == 2 else (0, self.order - 1)
        memory = F.conv2d(projected, self.w3, padding=padding, groups=4 * c)
        memory = memory.narrow(self.axis, 0, x.shape[self.axis])
        out = memory[:, :2 * c].add_(memory[:, 2 * c:])
        out[:, :c].add_(re).sub_(im)
        out[:, c:].add_(re).add_(im)
        return out


class FusedSqueezeExcite(nn.Module):
    """Complex squeeze-excitation; ``inplace`` gates the input tensor itself. Shape: ``[B, 2C, F, T]``."""

    def __init__(self, layer: ComplexSqueezeExcite):
        super().__init__()
        self.fc_r = _copy_gate(layer.fc_r)
        self.fc_i = _copy_gate(layer.fc_i)

    def gate(self, x: torch.Tensor, frames: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The ``[B, 2C, 1, 1]`` gate of ``x``, pooled over each row's first ``frames`` ``[B]``
        frames (default: all)."""
        pooled_re, pooled_im = _time_mean(x, frames).chunk(2, dim=1)
        gate_re = self.fc_r(pooled_re) - self.fc_i(pooled_im)
        gate_im = self.fc_r(pooled_im) + self.fc_i(pooled_re)
        return torch.cat([gate_re, gate_im], dim=1)[:, :, None, None]

    def forward(self, x: torch.Tensor, inplace: bool = False,
                frames: Optional[torch.Tensor] = None) -> torch.Tensor:
        gate = self.gate(x, frames)
        return x.mul_(gate) if inplace else x * gate


def _time_mask(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """1 over each row's first ``frames`` frames, 0 after. Shape: ``[B, 1, 1, T]`` in ``x``'s dtype."""
    positions = torch.arange(x.shape[3], device=x.device)
    return (positions < frames[:, None]).to(x.dtype)[:, None, None, :]


def _time_mean(x: torch.Tensor, frames: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean over frequency and the first ``frames`` ``[B]`` frames (all if None). Shape:
    ``[B, C, F, T]`` -> ``[B, C]``."""
    if frames is None:
        return x.mean(dim=(2, 3))
    total = (x * _time_mask(x, frames)).sum(dim=(2, 3), dtype=torch.float32)
    return (total / (frames[:, None] * x.shape[2])).to(x.dtype)


def _zero_after(x: torch.Tensor, frames: Optional[torch.Tensor]) -> torch.Tensor:
    """``x`` with the frames after each row's first ``frames`` set to zero (as is if None)."""
    return x if frames is None else x * _time_mask(x, frames)


def _copy_gate(gate: nn.Sequential) -> nn.Sequential:
    first, _, second, _ = gate
    copy = nn.Sequential(nn.Linear(first.in_features, first.out_features), nn.ReLU(),
                         nn.Linear(second.in_features, second.out_features), nn.Sigmoid())
    with torch.no_grad():
        for target, source in ((copy[0], first), (copy[2], second)):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
    for parameter in copy.parameters():
        parameter.requires_grad_(False)
    return copy


class FusedUNet(nn.Module):
    """Inference copy of :class:`ComplexUNet`. Shape: ``[B, 2, F, T]`` -> ``[B, 2, F, T]``.

    ``frames`` ``[B]`` (optional): rows are zero-padded after their first ``frames`` frames,
    and those frames come out as from a U-Net run on them alone (within float rounding).
    Along time, only three things see beyond a frame: the encoders' kernel-2 convolutions
    with one frame of zero padding at each end (each adds a frame), the squeeze-excitation
    means over all frames, and the decoders, which read one frame ahead but never past a
    row's valid frames. So the encoders' inputs are zeroed after the valid frames (as the
    padding of a lone run is zero) and the means are taken over the valid frames. The time
    FSMN is causal and the frequency FSMNs are frame by frame.
    """

    def __init__(self, unet: ComplexUNet):
        super().__init__()
        self.encoders = nn.ModuleList(FusedConv(block.conv, block.bn, True) for block in unet.encoders)
        self.fsmn_enc = nn.ModuleList(_frequency_fsmn(unet.fsmn_enc[level]) if level > 0 else nn.Identity()
                                      for level in range(LEVELS))
        self.se_enc = nn.ModuleList(FusedSqueezeExcite(layer) for layer in unet.se_layers_enc)
        self.fsmn = nn.Sequential(_time_fsmn(unet.fsmn, 1), _time_fsmn(unet.fsmn, 2))
        self.decoders = nn.ModuleList(FusedConv(block.transconv, block.bn, True)
                                      for block in unet.decoders)
        self.fsmn_dec = nn.ModuleList(_frequency_fsmn(unet.fsmn_dec[level]) for level in range(LEVELS - 1))
        self.se_dec = nn.ModuleList(FusedSqueezeExcite(layer) for layer in unet.se_layers_dec[:LEVELS - 2])
        self.linear = FusedConv(unet.linear, None, False)
        # The decoders take complex_cat(x, skip) = [x_re, skip_re, x_im, skip_im]; we feed
        # torch.cat([x, skip]) = [x_re, x_im, skip_re, skip_im] and reorder their input rows.
        for decoder in list(self.decoders)[1:]:
            decoder.weight = _cat_order(decoder.weight)

    def forward(self, x: torch.Tensor, frames: Optional[torch.Tensor] = None) -> torch.Tensor:
        skips: List[torch.Tensor] = []
        for level in range(LEVELS):
            x = self.fsmn_enc[level](x)
            x = self.encoders[level](_zero_after(x, _plus(frames, level)))
            skips.append(self.se_enc[level](x, frames=_plus(frames, level + 1)))
        x = self.fsmn(x)
        for level in range(LEVELS):
            x = self.decoders[level](x)
            if level == LEVELS - 1:
                break
            x = self.fsmn_dec[level](x)
            if level < LEVELS - 2:
                x = self.se_dec[level](x, inplace=True, frames=_plus(frames, LEVELS - 1 - level))
            x = torch.cat([x, skips[LEVELS - 2 - level]], dim=1)
        return self.linear(x)


def _plus(frames: Optional[torch.Tensor], added: int) -> Optional[torch.Tensor]:
    return None if frames is None else frames + added


def _cat_order(weight: torch.Tensor) -> torch.Tensor:
    """Reorder a transposed-conv weight's input rows.

    From ``[a_re, b_re, a_im, b_im]`` (complex_cat order) to ``[a_re, a_im, b_re, b_im]``.
    """
    a_re, b_re, a_im, b_im = weight.chunk(4, dim=0)
    return torch.cat([a_re, a_im, b_re, b_im]).contiguous()


def _frequency_fsmn(layer: ComplexFrequencyFsmn) -> FusedComplexFsmn:
    return FusedComplexFsmn(layer.fsmn_re_L1, layer.fsmn_im_L1, axis=2)


def _time_fsmn(layer: ComplexTimeFsmn, index: int) -> FusedComplexFsmn:
    return FusedComplexFsmn(getattr(layer, f'fsmn_re_L{index}'), getattr(layer, f'fsmn_im_L{index}'),
                            axis=3)


class FusedFRCRN(nn.Module):
    """Inference-only FRCRN: padded waveform in, stage-2 waveform out.

    Made by :func:`fuse_for_inference`. :meth:`forward` is the traced/exported
    graph (no Python decisions on the input length); :meth:`enhance` adds the
    padding and cropping of :meth:`FRCRN.enhance`. The network's ``post_filter_beta``
    is read once, here.

    Args:
        channels_last: run the U-Nets in the channels-last memory format (faster on CPU).
    """

    def __init__(self, network: FRCRN, channels_last: bool = True):
        super().__init__()
        self.win_len = network.win_len
        self.hop = network.hop
        self.post_filter_beta = network.post_filter_beta
        self.channels_last = channels_last
        self.register_buffer('stft_weight', network.stft.weight.detach().clone())
        self.register_buffer('istft_weight', network.istft.weight.detach().clone())
        self.register_buffer('window_power_kernel', (network.istft.window ** 2).reshape(1, 1, -1).clone())
        self.unet = FusedUNet(network.unet)
        self.unet2 = FusedUNet(network.unet2)

    def forward(self, padded: torch.Tensor, frames: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Shape: ``[B, T]`` waveform, ``T >= win_len`` -> ``[B, (frames - 1) * hop + win_len]``,
        ``frames = (T - win_len) // hop + 1``. ``frames`` ``[B]`` (optional): each row's own
        frame count when rows are zero-padded to a common length (see :class:`FusedUNet`)."""
        spectrum = F.conv1d(padded[:, None], self.stft_weight, stride=self.hop)  # [B, 2F, frames]
        stacked = spectrum.unflatten(1, (2, -1))                                # [B, 2, F, frames]
        features = stacked.to(self.unet_dtype)
        if self.channels_last:
            features = features.contiguous(memory_format=torch.channels_last)
        stage1 = self.unet(features, frames)
        stage2 = self.unet2(stage1, frames)
        mask = torch.tanh(stage2.float()).add_(torch.tanh(stage1.float()))
        mask = post_filter(mask, self.post_filter_beta)
        noisy_re, noisy_im = stacked[:, 0], stacked[:, 1]
        mask_re, mask_im = mask[:, 0], mask[:, 1]
        spec = torch.cat([noisy_re * mask_re - noisy_im * mask_im,
                          noisy_re * mask_im + noisy_im * mask_re], dim=1)     # [B, 2F, frames]
        waveform = F.conv_transpose1d(spec, self.istft_weight, stride=self.hop)
        # [1, 1, frames] of ones, written so that a traced graph keeps ``frames`` dynamic
        ones = torch.ones_like(spec[:1, :1]) if not torch.onnx.is_in_onnx_export() \
            else spec[:1, :1] * 0 + 1
        power = F.conv_transpose1d(ones, self.window_power_kernel, stride=self.hop)
        return (waveform / (power + 1e-8))[:, 0]

    @property
    def unet_dtype(self) -> torch.dtype:
        """The dtype the U-Nets compute in; STFT, masking and iSTFT stay in float32."""
        return self.unet.linear.weight.dtype

    def set_unet_dtype(self, dtype: torch.dtype, polyphase: Optional[bool] = None) -> 'FusedFRCRN':
        """Run the U-Nets (all but STFT, masking, iSTFT) in ``dtype``, e.g. ``torch.bfloat16``.

        ``polyphase``: run the wide decoders' transposed convolutions as ordinary ones
        (:meth:`FusedConv.set_polyphase`); default: for reduced precision on the CPU.
        """
        self.unet.to(dtype)
        self.unet2.to(dtype)
        if polyphase is None:
            polyphase = dtype != torch.float32 and self.stft_weight.device.type == 'cpu'
        self.set_polyphase(polyphase)
        return self

    def set_polyphase(self, enabled: bool) -> 'FusedFRCRN':
        """Polyphase decoders on or off (all but the last, narrow one, where deconvolution is faster)."""
        for unet in (self.unet, self.unet2):
            for decoder in list(unet.decoders)[:-1]:
                decoder.set_polyphase(enabled)
        return self

    def pad(self, noisy: torch.Tensor) -> Tuple[torch.Tensor, int]:
        """Pad as :meth:`FRCRN.enhance` does; returns the padded input and the offset of the first sample."""
        left, right = enhance_padding(noisy.shape[-1], self.win_len, self.hop)
        return F.pad(noisy, (left, right)), left

    @torch.inference_mode()
    def enhance(self, noisy: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Same as :meth:`FRCRN.enhance`. Shape: ``[B, T]`` -> ``[B, T]``.

        ``lengths`` ``[B]`` (optional): rows are zero-padded after their first ``lengths``
        samples; each row's first ``lengths`` outputs are then those of enhancing it alone
        (within float rounding); the samples after them mean nothing.
        """
        padded, margin = self.pad(noisy)
        frames = None if lengths is None else self.frame_counts(lengths)
        return self(padded.float(), frames)[:, margin:margin + noisy.shape[-1]]

    def frame_counts(self, lengths: torch.Tensor) -> torch.Tensor:
        """STFT frames :meth:`enhance` gives inputs of ``lengths`` samples. Shape: ``[B]``."""
        counts = [(sum(enhance_padding(int(length), self.win_len, self.hop)) + int(length)
                   - self.win_len) // self.hop + 1 for length in lengths]
        return torch.tensor(counts, device=lengths.device)


def fuse_for_inference(network: FRCRN, channels_last: bool = True) -> FusedFRCRN:
    """An eval-only, BN-folded copy of ``network``; ``network`` itself is left as it is.

    The copy is built from ``network``'s current weights and batch-norm running
    statistics (its train/eval mode does not matter), in float32 on ``network``'s device.
    """
    with torch.no_grad():
        fused = FusedFRCRN(network, channels_last)
    return fused.eval().requires_grad_(False).to(network.stft.weight.device)
