"""Every name this plugin registers with ModelScope, in one place.

The model, pipeline, trainer and metric names are ModelScope's own (``modelscope.metainfo``):
we register under them on purpose, so that configurations written for the
built-in FRCRN resolve to our classes. The preprocessor and hook names are
ours, because ModelScope has none for them.
"""
from modelscope.metainfo import Metrics as _Metrics
from modelscope.metainfo import Models as _Models
from modelscope.metainfo import Pipelines as _Pipelines
from modelscope.metainfo import Trainers as _Trainers
from modelscope.utils.constant import Fields, Tasks

TASK = Tasks.acoustic_noise_suppression


class Models:
    speech_frcrn_ans_cirm_16k = _Models.speech_frcrn_ans_cirm_16k


class Pipelines:
    speech_frcrn_ans_cirm_16k = _Pipelines.speech_frcrn_ans_cirm_16k


class Trainers:
    speech_frcrn_ans_cirm_16k = _Trainers.speech_frcrn_ans_cirm_16k


class Metrics:
    audio_noise_metric = _Metrics.audio_noise_metric


class Hooks:
    #: DDP set-up that also works on CPU (gloo); ModelScope's DDPHook is CUDA-only.
    device_aware_ddp = 'FRCRNDeviceAwareDDPHook'


class Preprocessors:
    speech_frcrn_ans_audio = 'speech-frcrn-ans-audio'


PREPROCESSOR_FIELD = Fields.audio

#: Hub ids of the published FRCRN 16 kHz model (``damo`` was renamed ``iic``).
FRCRN_HUB_IDS = ('damo/speech_frcrn_ans_cirm_16k', 'iic/speech_frcrn_ans_cirm_16k')
