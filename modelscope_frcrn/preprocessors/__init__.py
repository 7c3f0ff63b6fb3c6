"""Preprocessors registered with ModelScope."""
from .audio_preprocessor import FRCRNAudioPreprocessor

__all__ = ['FRCRNAudioPreprocessor']
