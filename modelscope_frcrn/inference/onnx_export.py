"""Export FRCRN to ONNX: ``modelscope-frcrn export-onnx [--model M] -o frcrn.onnx``.

The exported graph is the inference copy of the network
(:class:`~modelscope_frcrn.models.inference_network.FusedFRCRN`, batch norms
folded) from the padded waveform to the stage-2 waveform:

- input ``noisy``: float32 ``[batch, samples]``, both axes dynamic,
  ``samples >= win_len`` (640); pad as :meth:`FRCRN.enhance` does
  (:class:`~modelscope_frcrn.inference.backends.OnnxEnhancer` does it for you);
- output ``enhanced``: float32 ``[batch, (frames - 1) * 320 + 640]`` with
  ``frames = (samples - 640) // 320 + 1``.

Exporting uses PyTorch's TorchScript-based exporter (``dynamo=False``), which
needs the ``onnx`` package but not ``onnxscript``; running the file needs
``onnxruntime``. Both come with the ``[onnx]`` extra.
"""
import argparse
import io
import warnings
from typing import Optional, Union

import numpy as np
import torch

from ..atomic import write_atomically
from ..errors import MissingDependencyError
from ..models import FRCRN, FRCRNModel
from ..models.inference_network import fuse_for_inference

DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = 'noisy', 'enhanced'


def export_onnx(model: Union[FRCRNModel, FRCRN], path: str, opset: int = DEFAULT_OPSET) -> str:
    """Write ``model``'s network as an ONNX file at ``path`` (atomically) and return ``path``.

    Raises:
        MissingDependencyError: the ``onnx`` package is not installed.
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it to serialise the graph)
    except ImportError as error:
        raise MissingDependencyError(
            "exporting to ONNX needs the onnx package: pip install 'modelscope_frcrn[onnx]'"
        ) from error
    network = model.model if isinstance(model, FRCRNModel) else model
    fused = fuse_for_inference(network, channels_last=False).cpu()
    example = torch.zeros(1, network.win_len + 4 * network.hop)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter warns that it is deprecated in favour of dynamo=True,
        # which would need onnxscript; and the tracer warns about shape arithmetic we checked
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='Constant folding', category=UserWarning)
        torch.onnx.export(
            fused, (example,), buffer, dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: 'batch', 1: 'samples'},
                          OUTPUT_NAME: {0: 'batch', 1: 'output_samples'}})
    write_atomically(path, lambda stream: stream.write(buffer.getvalue()))
    return path


def onnx_max_difference(model: Union[FRCRNModel, FRCRN], path: str, seconds: float = 2.0,
                        seed: int = 0) -> float:
    """Largest absolute difference between onnxruntime on ``path`` and PyTorch's
    :meth:`FRCRN.enhance` on ``seconds`` of random noise."""
    from .backends import OnnxEnhancer

    network = model.model if isinstance(model, FRCRNModel) else model
    noisy = 0.05 * np.random.default_rng(seed).standard_normal((1, int(seconds * 16000)))
    noisy = noisy.astype(np.float32)
    reference = network.enhance(torch.from_numpy(noisy)).numpy()
    exported = OnnxEnhancer(path, 'cpu', network.win_len, network.hop)(noisy)
    return float(np.abs(reference - exported).max())


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``export-onnx`` subcommand to ``subparsers`` (``ArgumentParser.add_subparsers()``).

    The command stores ``run=run_export_onnx``: call ``args.run(args)``, which
    returns the exit code and raises :class:`~modelscope_frcrn.errors.FRCRNError`
    for bad input.
    """
    parser = subparsers.add_parser(
        'export-onnx', help='export the network to ONNX (dynamic batch and time axes)',
        description='Export an FRCRN model to ONNX for onnxruntime: input "noisy" [batch, '
                    'samples] float32 16 kHz, output "enhanced". Needs the onnx extra: '
                    "pip install 'modelscope_frcrn[onnx]'. Run it with "
                    '"modelscope-frcrn denoise --backend onnx".')
    parser.add_argument('--model', metavar='M',
                        help='model directory or ModelScope model id '
                             '(default: the model shipped with this package)')
    parser.add_argument('-o', '--output', required=True, metavar='FILE',
                        help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset version (default: {DEFAULT_OPSET})')
    parser.add_argument('--no-check', action='store_true',
                        help='skip comparing onnxruntime with PyTorch on 2 s of noise')
    parser.set_defaults(run=run_export_onnx)
    return parser


def run_export_onnx(args: argparse.Namespace, model: Optional[FRCRNModel] = None) -> int:
    """The ``export-onnx`` subcommand: export, optionally check, print what was written."""
    from .loading import load_model

    model = model or load_model(args.model)
    export_onnx(model, args.output, opset=args.opset)
    print(f'wrote {args.output}')
    if not args.no_check:
        difference = onnx_max_difference(model, args.output)
        print(f'onnxruntime vs PyTorch on 2 s of noise: max abs difference {difference:.2e}')
    return 0
