"""Add the default recipe's generated noises (mains hum, bursts, fan) to a sources folder.

    python recipes/broad_model/add_generated_noise.py --sources SOURCES [--clips 24] [--seconds 30]

Writes ``SOURCES/noise/{train,valid}/{hum,bursts,fan}/*.flac``: three more noise
categories for on-the-fly mixing. The recorded categories of ``build_sources.py``
have no steady mains hum and few isolated clicks and thumps; the shipped model
learnt both from the default recipe, and a run trained without them fell behind
it on exactly those noise types of the out-of-domain set (recipes/broad_model/README.md).
Train and validation clips are drawn from different seeds. Idempotent: existing
category folders are replaced.
"""
import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RECIPES = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
SEEDS = {'train': 101, 'valid': 202}


def default_recipe_generators():
    """``{category: generator(n, rng)}`` from ``recipes/default_model/build_sources.py``."""
    spec = importlib.util.spec_from_file_location(
        'default_build_sources', RECIPES / 'default_model' / 'build_sources.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)

    def hum(n, rng):
        return module.hum(n, rng, float(rng.choice([50.0, 60.0])))

    return {'hum': hum, 'bursts': module.bursts, 'fan': module.fan}, module.at_level


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--clips', type=int, default=24, help='training clips per category')
    parser.add_argument('--seconds', type=float, default=30.0)
    args = parser.parse_args(argv)
    generators, at_level = default_recipe_generators()
    length = int(args.seconds * SAMPLE_RATE)
    for split, clips in (('train', args.clips), ('valid', max(2, args.clips // 8))):
        for category, generate in generators.items():
            folder = args.sources / 'noise' / split / category
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for index in range(clips):
                rng = np.random.default_rng([SEEDS[split], index, len(category)])
                sf.write(folder / f'generated_{category}_{index:03d}.flac',
                         at_level(generate(length, rng)), SAMPLE_RATE, subtype='PCM_16')
            print(f'{split}/{category}: {clips} clips of {args.seconds:g} s')


if __name__ == '__main__':
    main()
