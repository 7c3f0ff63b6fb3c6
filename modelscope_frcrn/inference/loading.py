"""Loading a model (a directory, a ModelScope id, or the shipped default) for inference."""
from typing import Optional

from ..hub import default_model_dir, resolve_model
from ..metainfo import TASK
from ..models import FRCRNModel


def load_model(model: Optional[str] = None) -> FRCRNModel:
    """The FRCRN model in ``model`` (a directory or id; default: the shipped model), in eval
    mode, with trained weights (else :class:`~modelscope_frcrn.errors.WeightsNotFoundError`)."""
    from modelscope.models import Model

    loaded = Model.from_pretrained(resolve_model(model or default_model_dir(), strict=True))
    if not isinstance(loaded, FRCRNModel):
        raise TypeError(f'{model} is not an FRCRN model (got {type(loaded).__name__})')
    loaded.require_weights()
    return loaded.eval()


def load_pipeline(model: Optional[str] = None, device: str = 'cpu', **kwargs):
    """Build the ModelScope pipeline for ``model`` (a directory or id; default: the shipped
    model); ``kwargs`` go to the pipeline (e.g. ``chunk_seconds``)."""
    from modelscope.pipelines import pipeline

    return pipeline(TASK, model=resolve_model(model or default_model_dir(), strict=True),
                    device=device, **kwargs)
