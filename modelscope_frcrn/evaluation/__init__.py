"""Evaluating speech enhancement: WB/NB-PESQ, STOI, SI-SNR, DNSMOS per file pair and
over folders (``modelscope-frcrn evaluate``).

Importing this package is cheap: the metric packages of the ``eval`` extra
(``pip install 'modelscope_frcrn[eval]'``) are imported when first used.
"""
from ..errors import (EvaluationError, FolderNotFoundError, MetricWarning, MissingDependencyError,
                     PairingError)
from .evaluate import EvaluationResult, add_parser, evaluate_folders, format_table
from .metrics import dnsmos, pesq_nb, pesq_wb, score_pair, si_snr, si_snr_improvement, stoi
from .pairing import fileid, pair_folders

__all__ = ['EvaluationError', 'FolderNotFoundError', 'MetricWarning', 'MissingDependencyError',
           'PairingError', 'EvaluationResult', 'add_parser', 'evaluate_folders', 'format_table',
           'dnsmos', 'pesq_nb', 'pesq_wb', 'score_pair', 'si_snr', 'si_snr_improvement', 'stoi',
           'fileid', 'pair_folders']
