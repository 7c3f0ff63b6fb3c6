"""Every name this plugin registers with ModelScope, in one place.

The model, pipeline and trainer names are ModelScope's own (``modelscope.metainfo``):
we register under them on purpose, so that configurations written for the
built-in FRCRN resolve to our classes. The preprocessor name is ours, because
ModelScope has none for FRCRN.
"""
from modelscope.metainfo import Models as _Models
from modelscope.metainfo import Pipelines as _Pipelines
from modelscope.utils.constant import Fields, Tasks

TASK = Tasks.acoustic_noise_suppression


class Models:
    speech_frcrn_ans_cirm_16k = _Models.speech_frcrn_ans_cirm_16k


class Pipelines:
    speech_frcrn_ans_cirm_16k = _Pipelines.speech_frcrn_ans_cirm_16k


class Preprocessors:
    speech_frcrn_ans_audio = 'speech-frcrn-ans-audio'


PREPROCESSOR_FIELD = Fields.audio

#: Hub ids of the published FRCRN 16 kHz model (``damo`` was renamed ``iic``).
FRCRN_HUB_IDS = ('damo/speech_frcrn_ans_cirm_16k', 'iic/speech_frcrn_ans_cirm_16k')
