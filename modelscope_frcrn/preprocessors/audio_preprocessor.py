"""Audio preprocessor: any supported audio input -> 16 kHz float tensor for FRCRN."""
from typing import Any, Dict, Mapping, Optional, Union

import torch
from modelscope.preprocessors.base import Preprocessor
from modelscope.preprocessors.builder import PREPROCESSORS
from modelscope.utils.constant import ModeKeys

from ..audio import MODEL_SAMPLE_RATE, read_audio, resample
from ..audio.io import AudioSource
from ..metainfo import PREPROCESSOR_FIELD, Preprocessors
from ..registration import register


@register(PREPROCESSORS, PREPROCESSOR_FIELD, Preprocessors.speech_frcrn_ans_audio)
class FRCRNAudioPreprocessor(Preprocessor):
    """Decode and resample audio for FRCRN.

    Accepts what :func:`modelscope_frcrn.audio.read_audio` accepts (path, URL,
    bytes, numpy array at ``array_sample_rate``). Every channel is kept.
    """

    def __init__(self, mode: str = ModeKeys.INFERENCE, model_dir: Optional[str] = None,
                 array_sample_rate: int = MODEL_SAMPLE_RATE, **kwargs):
        super().__init__(mode)
        self.array_sample_rate = array_sample_rate

    def __call__(self, data: Union[AudioSource, Mapping],
                 array_sample_rate: Optional[int] = None) -> Dict[str, Any]:
        """Shape: returns ``noisy`` ``[C, T]`` float32 at 16 kHz and the input's ``sample_rate``;
        inputs at another rate also give ``original`` ``[C, T']`` at their own rate (for
        full-band output). ``array_sample_rate`` is a numpy input's rate for this call
        (default: the one given at construction).

        A mapping with a ``noisy`` entry is a ready training or evaluation
        segment (``{'noisy': [T], 'clean': [T]}``, as ``to_segment`` makes) and
        is returned unchanged: ModelScope applies the configuration's
        preprocessor to data set items too.
        """
        if isinstance(data, Mapping) and 'noisy' in data:
            return data
        samples, sample_rate = read_audio(data, array_sample_rate or self.array_sample_rate)
        result = {'noisy': torch.from_numpy(resample(samples, sample_rate, MODEL_SAMPLE_RATE)),
                  'sample_rate': sample_rate}
        if sample_rate != MODEL_SAMPLE_RATE:
            result['original'] = torch.from_numpy(samples)
        return result
