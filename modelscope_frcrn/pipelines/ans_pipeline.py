"""The ``acoustic-noise-suppression`` pipeline for FRCRN models.

Keeps the built-in's contract — ``{OutputKeys.OUTPUT_PCM: 16 kHz int16 bytes}``
and ``output_path=`` writes a WAV — and fixes its defects: the input level is
restored on the output, samples are clipped instead of wrapping around, silence
stays silence, long inputs are chunked instead of exhausting memory, and the
input's sample rate and channels can be kept.
"""
from typing import Any, Dict, Optional

from modelscope.outputs import OutputKeys
from modelscope.pipelines.base import Input, Pipeline
from modelscope.pipelines.builder import PIPELINES
from modelscope.utils.logger import get_logger

from ..audio import MODEL_SAMPLE_RATE, resample, to_int16, write_wav
from ..inference.backends import build_enhancer
from ..inference.chunking import DEFAULT_CHUNK_SECONDS
from ..inference.denoiser import Denoiser, SampleRate, resolve_rate
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
    16 kHz samples (``[T]`` or ``[T, C]``). Long inputs are enhanced in
    cross-faded chunks of ``chunk_seconds``, so memory does not grow with length.
    ``backend`` (``'torch'`` or ``'onnx'``) and ``precision`` (``'fp32'``,
    ``'bf16'``, ``'fp16'`` on GPUs) choose how the network runs; see
    :func:`~modelscope_frcrn.inference.build_enhancer`.

    Call options (keywords): ``output_path`` (also write a WAV there),
    ``sample_rate`` (16000 by default as the model card's contract, ``'keep'`` for
    the input's rate, or a number of Hz), ``mono`` (True by default: channels are
    enhanced one by one, then mixed down; False keeps them, interleaved in
    ``OUTPUT_PCM``). The result also carries ``sample_rate`` and ``channels``.
    """

    def __init__(self, model, preprocessor=None, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 backend: str = 'torch', precision: str = 'fp32', **kwargs):
        super().__init__(model=model, preprocessor=preprocessor, **kwargs)
        if not isinstance(self.model, FRCRNModel):
            raise TypeError(f'{type(self).__name__} needs an FRCRN model, '
                            f'got {type(self.model).__name__}')
        self.model.require_weights()
        self.model.eval()
        enhancer = build_enhancer(self.model, backend=backend, precision=precision,
                                  device=str(self.device))
        self.denoiser = Denoiser(enhancer, chunk_seconds=chunk_seconds)
        if self.preprocessor is None:  # configurations without a preprocessor section
            self.preprocessor = FRCRNAudioPreprocessor()

    def _check_input(self, input: Input) -> None:
        """Accept everything :func:`~modelscope_frcrn.audio.read_audio` accepts; it raises
        a specific error for the rest (ModelScope's check raises a bare AssertionError)."""

    def preprocess(self, inputs: Input, **preprocess_params) -> Dict[str, Any]:
        """Returns ``noisy`` ``[C, T]`` at 16 kHz and the input's ``sample_rate``."""
        return self.preprocessor(inputs)

    def forward(self, inputs: Dict[str, Any], **forward_params) -> Dict[str, Any]:
        """Returns ``enhanced`` ``[C, T]`` float32 at 16 kHz, at the input's level."""
        noisy = inputs['noisy'].cpu().numpy()
        return {'enhanced': self.denoiser.enhance(noisy), 'sample_rate': inputs['sample_rate']}

    def postprocess(self, inputs: Dict[str, Any], output_path: Optional[str] = None,
                    sample_rate: SampleRate = MODEL_SAMPLE_RATE, mono: bool = True,
                    **kwargs) -> Dict[str, Any]:
        enhanced = inputs['enhanced']
        if mono and enhanced.shape[0] > 1:
            logger.info(f'mixing {enhanced.shape[0]} enhanced channels down to mono '
                        f'(pass mono=False to keep them)')
            enhanced = enhanced.mean(axis=0, keepdims=True)
        rate = resolve_rate(sample_rate, int(inputs['sample_rate']))
        pcm = to_int16(resample(enhanced, MODEL_SAMPLE_RATE, rate))
        if output_path:
            write_wav(output_path, pcm, rate)
        return {OutputKeys.OUTPUT_PCM: pcm.T.tobytes(), 'sample_rate': rate,
                'channels': pcm.shape[0]}
