"""The ``acoustic-noise-suppression`` pipeline for FRCRN models.

Keeps the built-in's contract — ``{OutputKeys.OUTPUT_PCM: 16 kHz int16 bytes}``
and ``output_path=`` writes a WAV — and fixes its defects: the input level is
restored on the output, samples are clipped instead of wrapping around, and
silence stays silence.
"""
from typing import Any, Dict, Optional

import torch
from modelscope.outputs import OutputKeys
from modelscope.pipelines.base import Input, Pipeline
from modelscope.pipelines.builder import PIPELINES
from modelscope.utils.logger import get_logger

from ..audio import MODEL_SAMPLE_RATE, normalising_gain, to_int16, write_wav
from ..metainfo import TASK, Pipelines
from ..models import FRCRNModel
from ..preprocessors import FRCRNAudioPreprocessor
from ..registration import register

logger = get_logger()


@register(PIPELINES, TASK, Pipelines.speech_frcrn_ans_cirm_16k)
class FRCRNNoiseSuppressionPipeline(Pipeline):
    """Denoise speech with an FRCRN model.

    Example:
        >>> ans = pipeline(Tasks.acoustic_noise_suppression, model=model_dir)
        >>> result = ans('noisy.wav', output_path='enhanced.wav')
        >>> pcm = np.frombuffer(result[OutputKeys.OUTPUT_PCM], dtype=np.int16)

    Inputs: a file path, URL, the bytes of an audio file, or a numpy array of
    16 kHz samples. Multi-channel input is enhanced channel by channel and
    mixed down to the mono output of the contract.
    """

    def __init__(self, model, preprocessor=None, **kwargs):
        super().__init__(model=model, preprocessor=preprocessor, **kwargs)
        if not isinstance(self.model, FRCRNModel):
            raise TypeError(f'{type(self).__name__} needs an FRCRN model, '
                            f'got {type(self.model).__name__}')
        self.model.require_weights()
        self.model.eval()
        if self.preprocessor is None:  # configurations without a preprocessor section
            self.preprocessor = FRCRNAudioPreprocessor()

    def _check_input(self, input: Input) -> None:
        """Accept everything :func:`~modelscope_frcrn.audio.read_audio` accepts; it raises
        a specific error for the rest (ModelScope's check raises a bare AssertionError)."""

    def preprocess(self, inputs: Input, **preprocess_params) -> Dict[str, Any]:
        """Returns ``noisy`` ``[C, T]`` at the model's input level and the ``gain`` ``[C, 1]`` applied."""
        noisy = self.preprocessor(inputs)['noisy']
        gain = torch.from_numpy(normalising_gain(noisy.numpy())).float()
        return {'noisy': noisy * gain, 'gain': gain}

    def forward(self, inputs: Dict[str, Any], **forward_params) -> Dict[str, Any]:
        return {'enhanced': self.model.enhance(inputs['noisy']), 'gain': inputs['gain']}

    def postprocess(self, inputs: Dict[str, Any], output_path: Optional[str] = None,
                    **kwargs) -> Dict[str, Any]:
        enhanced = (inputs['enhanced'] / inputs['gain']).cpu().numpy()
        if enhanced.shape[0] > 1:
            logger.warning(f'mixing {enhanced.shape[0]} enhanced channels down to mono output')
        pcm = to_int16(enhanced.mean(axis=0))
        if output_path:
            write_wav(output_path, pcm, MODEL_SAMPLE_RATE)
        return {OutputKeys.OUTPUT_PCM: pcm.tobytes()}
