"""Training data: DNS-Challenge-style noisy/clean pairs as a ``datasets`` folder.

``synthesize_dns`` mixes clean speech and noise folders into pairs,
``index_pairs`` indexes pairs made elsewhere (the DNS test set), ``add_parser``
adds the ``prepare-dns`` subcommand. The folder they write loads with
``datasets.load_dataset(OUT, 'train', split='train')`` (datasets 3.6 or 4.x):
columns ``noisy`` and ``clean`` (16 kHz audio whose ``['array']`` the model
card's ``to_segment`` reads) and ``duration``, as the model card's training
code expects.
"""
from .dataset_folder import PreparedDataset
from .pairs import index_pairs
from .prepare_dns import add_parser, run_prepare_dns, synthesize_dns

__all__ = ['PreparedDataset', 'add_parser', 'index_pairs', 'run_prepare_dns', 'synthesize_dns']
