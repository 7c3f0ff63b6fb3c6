"""Library entry points for denoising files, used by the CLI and by scripts."""
import os
from typing import Optional

from ..audio import MODEL_SAMPLE_RATE, read_audio, resample
from ..errors import AudioInputError
from ..hub import default_model_dir, resolve_model
from ..metainfo import TASK


def load_pipeline(model: Optional[str] = None, device: str = 'cpu'):
    """Build the ModelScope pipeline for ``model`` (a directory or id; default: the shipped model)."""
    from modelscope.pipelines import pipeline

    return pipeline(TASK, model=resolve_model(model or default_model_dir(), strict=True),
                    device=device)


def denoise_file(input_path: str, output_path: str, model: Optional[str] = None,
                 device: str = 'cpu', overwrite: bool = False) -> None:
    """Denoise one audio file into a 16 kHz mono WAV.

    Raises:
        AudioInputError: the input is unusable, the output is the input, or the
            output exists and ``overwrite`` is False.
    """
    if os.path.exists(output_path):
        if os.path.exists(input_path) and os.path.samefile(input_path, output_path):
            raise AudioInputError(f'refusing to write the output onto the input file {input_path}')
        if not overwrite:
            raise AudioInputError(f'output exists: {output_path} (use --overwrite to replace it)')
    samples, sample_rate = read_audio(input_path)  # fail on bad input before loading a model
    samples = resample(samples, sample_rate, MODEL_SAMPLE_RATE)
    load_pipeline(model, device)(samples.T, output_path=output_path)
