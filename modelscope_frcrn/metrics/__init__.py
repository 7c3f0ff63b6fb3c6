"""Metrics registered with ModelScope."""
from .audio_noise_metric import AudioNoiseMetric

__all__ = ['AudioNoiseMetric']
