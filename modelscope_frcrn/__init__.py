"""FRCRN speech noise suppression as a ModelScope plugin.

Importing this package registers, with ModelScope's registries and under the
names of the model card, our FRCRN model, its audio preprocessor and the
``acoustic-noise-suppression`` pipeline. Installed with pip, it is activated
without an import line by ``modelscope_frcrn_hook`` (see the README).
"""
import modelscope_frcrn_hook

from . import models, pipelines, preprocessors  # noqa: F401  (register on import)
from .models import FRCRN, FRCRNModel
from .pipelines import FRCRNNoiseSuppressionPipeline
from .preprocessors import FRCRNAudioPreprocessor

__version__ = '0.1.0'

# Explicit imports (editable installs, scripts) get the same entry-point wrappers.
modelscope_frcrn_hook.install()

__all__ = ['FRCRN', 'FRCRNModel', 'FRCRNNoiseSuppressionPipeline', 'FRCRNAudioPreprocessor',
           '__version__']
