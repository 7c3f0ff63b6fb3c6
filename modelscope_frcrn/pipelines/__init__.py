"""Pipelines registered with ModelScope."""
from .ans_pipeline import FRCRNNoiseSuppressionPipeline

__all__ = ['FRCRNNoiseSuppressionPipeline']
