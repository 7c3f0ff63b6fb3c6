"""FRCRN network, its building blocks, and the registered ModelScope model."""
from .frcrn import FRCRN
from .frcrn_model import FRCRNModel

__all__ = ['FRCRN', 'FRCRNModel']
