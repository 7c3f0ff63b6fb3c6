"""Running trained models: backends, long-recording chunking, files and folders."""
from .backends import Enhancer, build_enhancer
from .loading import load_pipeline

__all__ = ['Enhancer', 'build_enhancer', 'load_pipeline']
