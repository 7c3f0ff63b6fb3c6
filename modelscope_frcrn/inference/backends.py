"""Backends that run the FRCRN network on model-level 16 kHz audio.

An enhancer is a callable ``[B, T] float32 -> [B, T] float32`` (numpy in and
out, same length, the input already at the model's level). Everything above it
(reading, resampling, level, chunking, writing) is backend-agnostic.

Backends:

- ``torch`` (default): an inference-only copy of the network with batch norms
  folded into the convolutions, in the channels-last layout
  (:func:`~modelscope_frcrn.models.inference_network.fuse_for_inference`);
  same output as :meth:`FRCRN.enhance` within 1e-4. ``precision`` ``bf16``
  runs the two U-Nets in bfloat16 (CPU with AVX-512 BF16 / AMX, or CUDA),
  ``fp16`` in float16 (CUDA only); STFT, masking and iSTFT stay in float32.
- ``onnx``: the same network exported to ONNX, run by onnxruntime (extra
  ``[onnx]``), float32.
"""
import ctypes
import ctypes.util
import os
import sys
import tempfile
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..errors import MissingDependencyError, UsageError
from ..models import FRCRNModel
from ..models.frcrn import enhance_padding
from ..models.inference_network import FusedFRCRN, fuse_for_inference

Enhancer = Callable[[np.ndarray], np.ndarray]

BACKENDS = ('torch', 'onnx')
PRECISIONS = ('fp32', 'bf16', 'fp16')
_DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MALLOC_THRESHOLD_BYTES = 1 << 30


def tune_malloc(threshold: int = MALLOC_THRESHOLD_BYTES) -> bool:
    """Let glibc serve and keep large blocks in its heap instead of fresh ``mmap`` pages.

    A network pass allocates and frees tensors of tens to hundreds of MB; by
    default glibc maps each block over 32 MB anew and unmaps it on free, so every
    pass page-faults all of them in again (measured here: 25-40 % of the fp32 CPU
    time, growing with the input length). Raising the mmap and trim thresholds to
    ``threshold`` makes freed blocks reusable: the process keeps up to
    ``threshold`` bytes of freed memory instead of returning it to the system.
    Process-wide and idempotent; returns False (and does nothing) where the C
    library is not glibc.
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, threshold))


class TorchEnhancer:
    """Run the network with PyTorch on ``device`` in ``precision``.

    Args:
        model: the loaded model; its trainable network is not modified.
        device: ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` (CUDA only) for the U-Nets.
        optimize: run the fused inference copy (True) or the trainable network
            itself (False, fp32 only; the reference the fused copy is tested against).
        malloc_tuning: on the CPU, call :func:`tune_malloc` (process-wide, so off by default:
            a library call must not change the host process's allocator).
    """

    def __init__(self, model: FRCRNModel, device: str = 'cpu', precision: str = 'fp32',
                 optimize: bool = True, malloc_tuning: bool = False):
        _check_choice('precision', precision, PRECISIONS)
        device = _check_device(device)
        if precision == 'fp16' and device.type != 'cuda':
            raise UsageError('precision fp16 needs device cuda (CPUs have no fast float16 '
                             'convolutions); use bf16 or fp32 on the CPU')
        if not optimize and precision != 'fp32':
            raise UsageError('optimize=False runs the trainable network in fp32 only')
        self.device, self.precision = device, precision
        if malloc_tuning and device.type == 'cpu':
            tune_malloc()
        if optimize:
            network = fuse_for_inference(model.model).to(device)
            self.network = network.set_unet_dtype(_DTYPES[precision])
        else:
            self.network = model.model.to(device).eval()

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        """Shape: ``[B, T]`` -> ``[B, T]``."""
        waves = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            return self.network.enhance(waves).float().cpu().numpy()

    def enhance_padded(self, noisy: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
        """Enhance rows zero-padded to a common length: each row's first ``lengths`` samples
        come out as from enhancing that row alone, within float rounding (the fused network
        keeps padded frames out of its time context and its means); the samples after them
        mean nothing. Shape: ``[B, T]`` and ``[B]`` -> ``[B, T]``."""
        if not isinstance(self.network, FusedFRCRN):  # the trainable network has no masks
            return enhance_row_by_row(self, noisy, lengths)
        waves = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            enhanced = self.network.enhance(waves, torch.as_tensor(lengths, device=self.device))
            return enhanced.float().cpu().numpy()


class OnnxEnhancer:
    """Run an exported FRCRN (:func:`~modelscope_frcrn.inference.onnx_export.export_onnx`) with onnxruntime.

    Args:
        onnx_path: the ``.onnx`` file (input ``noisy`` ``[B, T]``, output ``enhanced``).
        device: ``'cpu'`` or ``'cuda'`` (needs onnxruntime-gpu).
        win_len, hop: the model's STFT window and hop, for the padding of :meth:`FRCRN.enhance`.
        threads: onnxruntime's intra-op threads (default: as many as PyTorch uses).
    """

    def __init__(self, onnx_path: str, device: str = 'cpu', win_len: int = 640, hop: int = 320,
                 threads: Optional[int] = None):
        ort = import_onnxruntime()
        device = _check_device(device)
        providers = ['CPUExecutionProvider']
        if device.type == 'cuda':
            if 'CUDAExecutionProvider' not in ort.get_available_providers():
                raise MissingDependencyError(
                    'the onnx backend on cuda needs onnxruntime-gpu (pip install onnxruntime-gpu)')
            providers.insert(0, ('CUDAExecutionProvider', {'device_id': device.index or 0}))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.win_len, self.hop = win_len, hop

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        """Shape: ``[B, T]`` -> ``[B, T]``."""
        noisy = np.ascontiguousarray(noisy, dtype=np.float32)
        length = noisy.shape[-1]
        left, right = enhance_padding(length, self.win_len, self.hop)
        enhanced = self.session.run(None, {'noisy': np.pad(noisy, ((0, 0), (left, right)))})[0]
        return np.ascontiguousarray(enhanced[:, left:left + length])


def enhance_row_by_row(enhance: Enhancer, noisy: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """``enhance`` on each row's first ``lengths`` samples alone, zeros after (what
    :meth:`TorchEnhancer.enhance_padded` gives, for any enhancer). Shape: ``[B, T]`` -> ``[B, T]``."""
    enhanced = np.zeros(noisy.shape, np.float32)
    for row, length in enumerate(lengths):
        enhanced[row, :length] = enhance(noisy[row:row + 1, :length])[0]
    return enhanced


def build_enhancer(model: FRCRNModel, backend: str = 'torch', precision: str = 'fp32',
                   device: str = 'cpu', onnx_path: Optional[str] = None,
                   malloc_tuning: bool = False) -> Enhancer:
    """The enhancer for ``model``.

    Args:
        backend: ``'torch'`` or ``'onnx'``.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` (torch backend; fp16 on CUDA only).
        device: ``'cpu'`` or ``'cuda[:N]'``.
        onnx_path: an exported model for the onnx backend; None exports ``model``
            to a temporary file first (a few seconds).
        malloc_tuning: the torch backend on the CPU calls :func:`tune_malloc`
            (process-wide: glibc keeps up to 1 GB of freed memory for reuse), which
            makes it 25-40 % faster. Off by default, so that building a pipeline leaves
            the host process's allocator alone; the CLI and the server turn it on.

    Raises:
        UsageError: (a ValueError) an unknown backend, precision or device, or a
            combination that is not supported (onnx with bf16/fp16, fp16 on CPU, cuda
            without a GPU).
        MissingDependencyError: the onnx backend without onnxruntime (or, to
            export, onnx) installed.
    """
    _check_choice('backend', backend, BACKENDS)
    _check_choice('precision', precision, PRECISIONS)
    if backend == 'torch':
        return TorchEnhancer(model, device, precision, malloc_tuning=malloc_tuning)
    if precision != 'fp32':
        raise UsageError(f'the onnx backend runs fp32 only, got precision {precision!r}')
    import_onnxruntime()  # fail before a possibly long export
    network = model.model
    if onnx_path is not None:
        return OnnxEnhancer(onnx_path, device, network.win_len, network.hop)
    from .onnx_export import export_onnx

    # The session holds the model in memory, so the file goes once it is loaded (or failed).
    with tempfile.TemporaryDirectory(prefix='frcrn-onnx-') as folder:
        onnx_path = export_onnx(model, os.path.join(folder, 'frcrn.onnx'))
        return OnnxEnhancer(onnx_path, device, network.win_len, network.hop)


def import_onnxruntime():
    """The ``onnxruntime`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingDependencyError(
            "the onnx backend needs onnxruntime: pip install 'modelscope_frcrn[onnx]'") from error
    return onnxruntime


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise UsageError(f'unknown {name} {value!r}; expected one of {", ".join(choices)}')


def _check_device(device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise UsageError(f'unknown device {device!r}; expected cpu or cuda[:N]') from error
    if device.type not in ('cpu', 'cuda'):
        raise UsageError(f'unsupported device {device}; expected cpu or cuda[:N]')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UsageError('device cuda requested but PyTorch sees no CUDA GPU '
                         f'(torch {torch.__version__}, built with CUDA {torch.version.cuda})')
    return device


__all__ = ['Enhancer', 'TorchEnhancer', 'OnnxEnhancer', 'build_enhancer', 'enhance_row_by_row',
           'tune_malloc', 'BACKENDS', 'PRECISIONS']
