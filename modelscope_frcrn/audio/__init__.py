"""Audio input/output and level handling."""
from .io import MODEL_SAMPLE_RATE, read_audio, read_mono, resample, write_wav
from .levels import normalising_gain, to_int16

__all__ = ['MODEL_SAMPLE_RATE', 'read_audio', 'read_mono', 'resample', 'write_wav', 'normalising_gain',
           'to_int16']
