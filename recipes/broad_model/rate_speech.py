"""Rate every speaker folder of a sources tree with DNSMOS: are the clean targets clean?

    python recipes/broad_model/rate_speech.py --sources SOURCES [--stretches 4]

A model learns to keep whatever its training targets keep: a game voice recorded with hiss,
music or effects under it teaches the network to let those through. This scores each
speaker folder of ``SOURCES/speech/{train,valid}`` with DNSMOS P.835 (SIG, BAK, OVRL) and
P.808 and writes ``SOURCES/speech_dnsmos.json``; ``train.py --min-speech-bak`` then leaves
the folders with noisy recordings out of training (the DNS Challenge likewise kept only
clean speech that rated well, first by P.808 listening tests, later by DNSMOS).

DNSMOS rates 9.01 s at a time and loops anything shorter, which a single word would
dominate, so each rating is of a stretch of 9.5 s made by joining the folder's clips in an
order fixed by the folder's name; a folder's score is the mean over ``--stretches`` stretches
(fewer where the folder holds less audio).
"""
import argparse
import json
import sys
import zlib
from pathlib import Path
from typing import Dict, Iterator, List

import numpy as np
import soundfile as sf

from modelscope_frcrn.atomic import write_text_atomically
from modelscope_frcrn.evaluation.metrics import dnsmos

SAMPLE_RATE = 16000
STRETCH_SECONDS = 9.5
RATINGS_FILE = 'speech_dnsmos.json'


def stretches(folder: Path, count: int) -> Iterator[np.ndarray]:
    """Up to ``count`` stretches of ``STRETCH_SECONDS`` of the folder's clips, joined in an order
    drawn from the folder's name (the last one shorter if the clips run out first).

    Shape: each ``[T]``, ``T <= STRETCH_SECONDS * SAMPLE_RATE``.
    """
    clips = sorted(path for path in folder.iterdir() if path.suffix in ('.flac', '.wav'))
    order = np.random.default_rng(zlib.crc32(folder.name.encode())).permutation(len(clips))
    length = int(STRETCH_SECONDS * SAMPLE_RATE)
    joined: List[np.ndarray] = []
    made = 0
    for index in order:
        audio, _ = sf.read(str(clips[index]), dtype='float32', always_2d=True)
        joined.append(audio.mean(axis=1))
        if sum(part.size for part in joined) >= length:
            yield np.concatenate(joined)[:length]
            joined, made = [], made + 1
            if made == count:
                return
    if joined and made == 0:
        yield np.concatenate(joined)


def rate_folder(folder: Path, count: int) -> Dict[str, float]:
    """The mean DNSMOS of the folder's stretches, with how many there were."""
    scores = [dnsmos(stretch) for stretch in stretches(folder, count)]
    mean = {metric: round(float(np.mean([score[metric] for score in scores])), 3)
            for metric in scores[0]}
    return {**mean, 'stretches': len(scores)}


def load_ratings(sources: Path) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{split: {speaker: scores}}`` as :func:`main` wrote them for ``sources``.

    Raises:
        FileNotFoundError: the sources have not been rated yet (the message says how).
    """
    path = sources / RATINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: rate the speech first with '
                                f'python recipes/broad_model/rate_speech.py --sources {sources}')
    return json.loads(path.read_text())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--stretches', type=int, default=4)
    args = parser.parse_args(argv)
    ratings = {}
    for split in ('train', 'valid'):
        folders = sorted(path for path in (args.sources / 'speech' / split).iterdir() if path.is_dir())
        ratings[split] = {}
        for folder in folders:
            ratings[split][folder.name] = rate_folder(folder, args.stretches)
            print(split, folder.name, ratings[split][folder.name], flush=True)
    write_text_atomically(args.sources / RATINGS_FILE, json.dumps(ratings, indent=1) + '\n')


if __name__ == '__main__':
    sys.exit(main())
