"""Loading a model (a directory, a ModelScope id, or the shipped default) for inference."""
from typing import Optional

from ..errors import UsageError
from ..hub import default_model_dir, resolve_model
from ..metainfo import TASK
from ..models import FRCRNModel
from ..models.post_filter import checked_beta
from .backends import Enhancer, build_enhancer


def load_model(model: Optional[str] = None, post_filter_beta: Optional[float] = None) -> FRCRNModel:
    """The FRCRN model in ``model`` (a directory or id; default: the shipped model), in eval
    mode, with trained weights (else :class:`~modelscope_frcrn.errors.WeightsNotFoundError`).

    ``post_filter_beta``: the mask post-filter's strength
    (:mod:`~modelscope_frcrn.models.post_filter`; 0: off); None keeps the model configuration's.
    """
    from modelscope.models import Model

    if post_filter_beta is not None:
        post_filter_beta = checked_beta(post_filter_beta)
    loaded = Model.from_pretrained(resolve_model(model or default_model_dir(), strict=True))
    if not isinstance(loaded, FRCRNModel):
        raise TypeError(f'{model} is not an FRCRN model (got {type(loaded).__name__})')
    loaded.require_weights()
    if post_filter_beta is not None:
        loaded.model.post_filter_beta = post_filter_beta
    return loaded.eval()


def load_enhancer(model: Optional[str] = None, backend: str = 'torch', precision: str = 'fp32',
                  device: str = 'cpu', threads: Optional[int] = None,
                  onnx_path: Optional[str] = None, malloc_tuning: bool = False,
                  post_filter_beta: Optional[float] = None) -> Enhancer:
    """The network of ``model`` (as :func:`load_model`, with ``post_filter_beta``) ready to run
    (:func:`~modelscope_frcrn.inference.backends.build_enhancer`'s options); ``threads`` sets
    PyTorch's CPU threads (process-wide).

    Raises:
        UsageError: an unknown or unsupported backend, precision or device, a bad post-filter
            strength, or one given with an exported ONNX model (whose graph has its own).
    """
    import torch

    if onnx_path is not None and post_filter_beta is not None:
        raise UsageError('the post-filter of an exported ONNX model is fixed at export (the '
                         "model configuration's post_filter_beta): drop the post-filter option "
                         'or the ONNX file')
    if threads:
        torch.set_num_threads(threads)
    return build_enhancer(load_model(model, post_filter_beta), backend=backend, precision=precision,
                          device=device, onnx_path=onnx_path, malloc_tuning=malloc_tuning)


def load_pipeline(model: Optional[str] = None, device: str = 'cpu', **kwargs):
    """Build the ModelScope pipeline for ``model`` (a directory or id; default: the shipped
    model); ``kwargs`` go to the pipeline (e.g. ``chunk_seconds``)."""
    from modelscope.pipelines import pipeline

    return pipeline(TASK, model=resolve_model(model or default_model_dir(), strict=True),
                    device=device, **kwargs)
