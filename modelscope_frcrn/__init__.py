"""FRCRN speech noise suppression as a ModelScope plugin.

Importing this package registers, with ModelScope's registries and under the
names of the model card, our FRCRN model, its audio preprocessor, the
``acoustic-noise-suppression`` pipeline, the ``speech_frcrn_ans_cirm_16k``
trainer and the ``audio-noise-metric`` metric. Installed with pip, it is activated
without an import line by ``modelscope_frcrn_hook`` (see the README).
"""
import modelscope_frcrn_hook

from . import metrics, models, pipelines, preprocessors, training  # noqa: F401  (register on import)
from .inference.corpus import enhance_dataset
from .inference.streaming import StreamDenoiser
from .metrics import AudioNoiseMetric
from .models import FRCRN, FRCRNModel
from .pipelines import FRCRNNoiseSuppressionPipeline
from .preprocessors import FRCRNAudioPreprocessor
from .training import FRCRNTrainer

__version__ = '0.1.0'

# Explicit imports (editable installs, scripts) get the same entry-point wrappers.
modelscope_frcrn_hook.install()

__all__ = ['AudioNoiseMetric', 'FRCRN', 'FRCRNAudioPreprocessor', 'FRCRNModel',
           'FRCRNNoiseSuppressionPipeline', 'FRCRNTrainer', 'StreamDenoiser', '__version__',
           'enhance_dataset']
