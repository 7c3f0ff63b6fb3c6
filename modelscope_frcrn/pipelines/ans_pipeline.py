"""The ``acoustic-noise-suppression`` pipeline for FRCRN models.

Keeps the built-in's contract — ``{OutputKeys.OUTPUT_PCM: 16 kHz int16 bytes}``
and ``output_path=`` writes a WAV — and fixes its defects: the input level is
restored on the output, samples are clipped instead of wrapping around, silence
stays silence, long inputs are chunked instead of exhausting memory, and the
input's sample rate (with its full band) and channels can be kept; an
attenuation limit sets how much noise is taken away.
"""
from typing import Any, Dict, Optional

from modelscope.outputs import OutputKeys
from modelscope.pipelines.base import Input, Pipeline
from modelscope.pipelines.builder import PIPELINES
from modelscope.utils.logger import get_logger

from ..audio import MODEL_SAMPLE_RATE, resample, to_int16, write_wav
from ..inference import bandsplit
from ..inference.backends import build_enhancer
from ..inference.bandsplit import FULL
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
    samples (``[T]`` or ``[T, C]``) at 16 kHz or at ``array_sample_rate`` Hz (a call
    option). Long inputs are enhanced in cross-faded chunks of ``chunk_seconds``, so
    memory does not grow with length.
    ``backend`` (``'torch'`` or ``'onnx'``) and ``precision`` (``'fp32'``,
    ``'bf16'``, ``'fp16'`` on GPUs) choose how the network runs; see
    :func:`~modelscope_frcrn.inference.build_enhancer`.

    Call options (keywords): ``output_path`` (also write a WAV there),
    ``sample_rate`` (16000 by default as the model card's contract, ``'keep'`` for
    the input's rate, or a number of Hz), ``mono`` (True by default: channels are
    enhanced one by one, then mixed down; False keeps them, interleaved in
    ``OUTPUT_PCM``), ``bandwidth`` (``'full'`` by default: with an output rate
    above 16 kHz, the band above 8 kHz of an input above 16 kHz is kept and
    cleaned; ``'model'``: the model's band only), ``atten_limit_db`` (the most
    any part of the signal is attenuated, in dB; None, the default, for no
    limit; 0 returns the input). The result also carries ``sample_rate`` and
    ``channels``.
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

    def preprocess(self, inputs: Input, array_sample_rate: Optional[int] = None
                   ) -> Dict[str, Any]:
        """Returns ``noisy`` ``[C, T]`` at 16 kHz and the input's ``sample_rate``."""
        if array_sample_rate is None:
            return self.preprocessor(inputs)  # a configured preprocessor may take the input only
        return self.preprocessor(inputs, array_sample_rate=array_sample_rate)

    def _sanitize_parameters(self, **pipeline_parameters):
        """The output rate goes to both forward and postprocess; the strength and bandwidth
        to forward only; a numpy input's rate to preprocess."""
        preprocess = {'array_sample_rate': pipeline_parameters.pop('array_sample_rate')
                      } if 'array_sample_rate' in pipeline_parameters else {}
        forward = {name: pipeline_parameters.pop(name)
                   for name in ('bandwidth', 'atten_limit_db') if name in pipeline_parameters}
        if 'sample_rate' in pipeline_parameters:
            forward['sample_rate'] = pipeline_parameters['sample_rate']
        return preprocess, forward, pipeline_parameters

    def forward(self, inputs: Dict[str, Any], sample_rate: SampleRate = MODEL_SAMPLE_RATE,
                bandwidth: str = FULL, atten_limit_db: Optional[float] = None,
                **forward_params) -> Dict[str, Any]:
        """Returns ``enhanced`` ``[C, T]`` float32 at the input's level, at ``enhanced_rate``:
        the input's rate when its full band is kept, else 16 kHz."""
        input_rate = int(inputs['sample_rate'])
        full_band = bandsplit.applies(bandwidth, input_rate, resolve_rate(sample_rate, input_rate))
        if full_band and 'original' in inputs:
            samples, rate = inputs['original'].cpu().numpy(), input_rate
        else:
            samples, rate = inputs['noisy'].cpu().numpy(), MODEL_SAMPLE_RATE
        enhanced = self.denoiser.enhance(samples, sample_rate=rate, bandwidth=bandwidth,
                                         atten_limit_db=atten_limit_db)
        return {'enhanced': enhanced, 'enhanced_rate': rate, 'sample_rate': input_rate}

    def postprocess(self, inputs: Dict[str, Any], output_path: Optional[str] = None,
                    sample_rate: SampleRate = MODEL_SAMPLE_RATE, mono: bool = True,
                    **kwargs) -> Dict[str, Any]:
        enhanced = inputs['enhanced']
        if mono and enhanced.shape[0] > 1:
            logger.info(f'mixing {enhanced.shape[0]} enhanced channels down to mono '
                        f'(pass mono=False to keep them)')
            enhanced = enhanced.mean(axis=0, keepdims=True)
        rate = resolve_rate(sample_rate, int(inputs['sample_rate']))
        pcm = to_int16(resample(enhanced, int(inputs['enhanced_rate']), rate))
        if output_path:
            write_wav(output_path, pcm, rate)
        return {OutputKeys.OUTPUT_PCM: pcm.T.tobytes(), 'sample_rate': rate,
                'channels': pcm.shape[0]}
