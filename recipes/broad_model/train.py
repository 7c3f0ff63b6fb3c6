"""Train FRCRN on mixtures drawn on the fly from many voices and noises (resumable).

    python recipes/broad_model/train.py --sources SOURCES --work WORK \
        [--init modelscope_frcrn/default_model] [--threads 2] [--batch 8] \
        [--segment-seconds 2] [--iters-per-epoch 25] [--lr 3e-4] [--lr-final 3e-5] \
        [--max-epochs N] [--export DIR]

``SOURCES`` is what ``build_sources.py`` writes: ``speech/{train,valid}/<speaker>/``
and ``noise/{train,valid}/``. Every training step draws fresh examples
(:class:`modelscope_frcrn.data.online_mixing.OnlineMixtures`: speech excerpt,
speed, EQ, band limit, room, noise, SNR -5..20 dB, level); validation uses a
fixed set of mixtures of the validation speakers and noises, which share no
speaker or noise file with training.

Training uses the registered ``speech_frcrn_ans_cirm_16k`` trainer and its
recipe (cIRM MSE - SI-SNR, the mask errors scaled by ``--mask-weight`` and
``--spectral-weight`` times the compressed spectral loss, ``--noise-weight`` times
the residual noise level and ``--stoi-weight`` times the envelope correlation loss added if
asked for; Adam,
grad clip 10), checkpointing every epoch into
``WORK/train``. Run the same command again to resume from the last epoch
(the data stream continues where it stopped); stop it at any time with
Ctrl-C or a kill, losing at most the epoch in progress.

``--export DIR`` (alone, or after training) writes the best epoch so far as a
model directory with float16 weights plus the training log.
"""
import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer

from modelscope_frcrn.data.online_mixing import (MixingSettings, OnlineMixtures,
                                                 simulate_room_impulse_responses)
from modelscope_frcrn.data.sources import load_category_folders
from modelscope_frcrn.inference.backends import tune_malloc
from rate_speech import load_ratings

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RATE = 16000
#: Defaults shared with validation_scores.py and interpolate.py, which rebuild the same validation mixtures.
DEFAULT_ROOMS = 48
DEFAULT_SEGMENT_SECONDS = 2.0
#: Fixed validation mixtures (of the validation speakers and noises), whatever the batch size.
VALIDATION_SEGMENTS = 24
#: Speaker folders of synthetic voices: left out unless asked for (their benefit is not measured yet).
SYNTHETIC_PREFIX = 'synthetic__'


def room_bank(work: Path, count: int, seed: int):
    """The simulated rooms, computed once and cached in ``work/rooms.npz``."""
    path = work / 'rooms.npz'
    if path.exists():
        stored = np.load(path)
        return [(stored[f'full{i}'], stored[f'early{i}']) for i in range(len(stored.files) // 2)]
    rooms = simulate_room_impulse_responses(count, seed)
    arrays = {f'{kind}{i}': response for i, pair in enumerate(rooms)
              for kind, response in zip(('full', 'early'), pair)}
    np.savez(path, **arrays)
    return rooms


def validation_set(sources: Path, rooms, segment: int, seed: int) -> OnlineMixtures:
    """The fixed validation mixtures: the validation speakers and noises, which share no speaker
    or noise file with training."""
    speech = load_category_folders(sources / 'speech' / 'valid', 'speech')
    noise = load_category_folders(sources / 'noise' / 'valid', 'noise')
    return OnlineMixtures(speech, noise, segment, VALIDATION_SEGMENTS, seed + 1,
                          room_impulse_responses=rooms)


def validation_batches(batch: int) -> int:
    """Evaluation iterations that cover the ``VALIDATION_SEGMENTS`` mixtures once."""
    return -(-VALIDATION_SEGMENTS // batch)


def set_evaluation_batch(cfg, batch: int):
    """The evaluation data loader of a trainer configuration: ``batch`` mixtures, in-process."""
    cfg.evaluation.dataloader.update(batch_size_per_gpu=batch, workers_per_gpu=0)
    return cfg


def clean_speakers(speech: dict, ratings: dict, min_bak: float) -> dict:
    """The speakers of ``speech`` whose recordings DNSMOS rates at least ``min_bak`` for background
    noise (``ratings``: speaker -> scores, as ``rate_speech.py`` wrote them).

    Raises:
        ValueError: a speaker has no rating (the sources changed since they were rated), or none
            rates ``min_bak`` or more.
    """
    unrated = sorted(set(speech) - set(ratings))
    if unrated:
        raise ValueError(f'{len(unrated)} training speakers have no DNSMOS rating (e.g. {unrated[0]}): '
                         f'run rate_speech.py on these sources again')
    kept = {name: utterances for name, utterances in speech.items()
            if ratings[name]['dnsmos_bak'] >= min_bak}
    if not kept:
        best = max(ratings[name]['dnsmos_bak'] for name in speech)
        raise ValueError(f'no training speaker rates a DNSMOS BAK of {min_bak} or more (the best: '
                         f'{best:.2f}): lower --min-speech-bak')
    return kept


def count(groups) -> int:
    return sum(len(members) for members in groups.values())


def latest_checkpoint(train_dir: Path):
    """The ``epoch_N.pth`` with the largest N in ``train_dir``, or None."""
    found = [(int(match.group(1)), path) for path in train_dir.glob('epoch_*.pth')
             if (match := re.fullmatch(r'epoch_(\d+)\.pth', path.name))]
    return max(found)[1] if found else None


def load_weights(model_dir: Path) -> dict:
    return torch.load(model_dir / 'pytorch_model.bin', map_location='cpu', weights_only=True)


def write_model_dir(weights: dict, configuration: Path, model_dir: Path, half: bool = False) -> None:
    """``weights`` (float16 if ``half``) and a copy of ``configuration`` as a model directory."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if half:
        weights = {key: value.half() if value.is_floating_point() else value
                   for key, value in weights.items()}
    torch.save(weights, model_dir / 'pytorch_model.bin')
    shutil.copy(configuration, model_dir / 'configuration.json')


def export(train_dir: Path, export_dir: Path) -> None:
    """The best epoch (``output_best``, else ``output``) as a float16 model directory plus the log."""
    source = train_dir / 'output_best'
    if not (source / 'pytorch_model.bin').exists():
        source = train_dir / 'output'
    write_model_dir(load_weights(source), source / 'configuration.json', export_dir, half=True)
    logs = sorted(train_dir.glob('*.log.json'))
    if logs:
        export_dir.joinpath('training_log.json').write_text(
            ''.join(log.read_text() for log in logs))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--work', type=Path, required=True)
    parser.add_argument('--init', type=Path, default=REPO_ROOT / 'modelscope_frcrn' / 'default_model',
                        help='model directory to start from (weights and configuration)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--segment-seconds', type=float, default=DEFAULT_SEGMENT_SECONDS)
    parser.add_argument('--iters-per-epoch', type=int, default=20)
    parser.add_argument('--max-epochs', type=int, default=10000)
    parser.add_argument('--lr', type=float, default=3e-4)
    parser.add_argument('--lr-final', type=float,
                        help='decay the learning rate from --lr to this over --max-epochs '
                             '(cosine, stepped per epoch); default: constant')
    parser.add_argument('--spectral-weight', type=float, default=0.0,
                        help='add the compressed spectral loss with this weight to the official '
                             'loss (models/losses.py; 0: the official loss only)')
    parser.add_argument('--mask-weight', type=float, default=1.0,
                        help='weight of the official loss\'s cIRM mask errors (1: as published)')
    parser.add_argument('--noise-weight', type=float, default=0.0,
                        help='add the level of the noise the mask lets through (dB per frame, '
                             'models/losses.py) with this weight (0: off)')
    parser.add_argument('--stoi-weight', type=float, default=0.0,
                        help='add one minus STOI\'s envelope correlation (models/losses.py) with this '
                             'weight (0: off)')
    parser.add_argument('--bf16', action='store_true',
                        help='train under bfloat16 autocast (1.5-1.9x as fast on a CPU with AVX-512 '
                             'BF16; weights and loss stay float32)')
    parser.add_argument('--babble-probability', type=float,
                        default=MixingSettings.babble_probability,
                        help='share of training examples whose noise is babble of training voices '
                             '(validation mixtures keep the default)')
    parser.add_argument('--min-speech-bak', type=float,
                        help='leave out the training speakers whose recordings DNSMOS rates below this '
                             'BAK (needs rate_speech.py --sources SOURCES first; default: keep all)')
    parser.add_argument('--rooms', type=int, default=DEFAULT_ROOMS)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--with-synthetic', action='store_true',
                        help=f'also train on the synthetic voices ({SYNTHETIC_PREFIX}* speaker folders)')
    parser.add_argument('--keep-epochs', type=int, default=2,
                        help='keep the last N epoch checkpoints (for average.py); 45 MB each')
    parser.add_argument('--export', type=Path)
    parser.add_argument('--export-only', action='store_true')
    args = parser.parse_args(argv)

    train_dir = args.work / 'train'
    if args.export_only:
        export(train_dir, args.export)
        return
    torch.set_num_threads(args.threads)
    tune_malloc()  # keep freed activations in the heap: each step would page-fault them in again
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # read before the speech: a missing ratings file is reported at once, not after loading it
    ratings = None if args.min_speech_bak is None else load_ratings(args.sources)['train']
    rooms = room_bank(args.work, args.rooms, args.seed)
    train_speech = load_category_folders(args.sources / 'speech' / 'train', 'speech')
    if not args.with_synthetic:
        train_speech = {name: utterances for name, utterances in train_speech.items()
                        if not name.startswith(SYNTHETIC_PREFIX)}
    if args.min_speech_bak is not None:
        train_speech = clean_speakers(train_speech, ratings, args.min_speech_bak)
    train_noise = load_category_folders(args.sources / 'noise' / 'train', 'noise')
    hours = sum(u.size for us in train_speech.values() for u in us) / SAMPLE_RATE / 3600
    segment = int(args.segment_seconds * SAMPLE_RATE)
    train_set = OnlineMixtures(train_speech, train_noise, segment,
                               args.batch * args.iters_per_epoch * args.max_epochs, args.seed,
                               MixingSettings(babble_probability=args.babble_probability),
                               room_impulse_responses=rooms)
    valid_set = validation_set(args.sources, rooms, segment, args.seed)
    print(f'sources: {len(train_speech)} train speakers ({hours:.2f} h), {len(valid_set.speakers)} '
          f'validation speakers, {count(train_noise)}/{sum(map(len, valid_set.noises))} noise '
          f'files in {len(train_noise)} categories, {len(rooms)} rooms '
          f'({time.monotonic() - started:.0f} s)', flush=True)

    def recipe(cfg):
        cfg.train.dataloader.update(batch_size_per_gpu=args.batch, workers_per_gpu=0)
        set_evaluation_batch(cfg, args.batch)
        cfg.train.optimizer.lr = args.lr
        cfg.model.spectral_loss_weight = args.spectral_weight
        cfg.model.mask_loss_weight = args.mask_weight
        cfg.model.noise_loss_weight = args.noise_weight
        cfg.model.stoi_loss_weight = args.stoi_weight
        if args.lr_final is not None:
            cfg.train.lr_scheduler = dict(type='CosineAnnealingLR', T_max=args.max_epochs,
                                          eta_min=args.lr_final)
            cfg.train.lr_scheduler_hook = dict(type='LrSchedulerHook', by_epoch=True)
        cfg.train.logging.interval = 5
        cfg.train.checkpoint.period.max_checkpoint_num = args.keep_epochs
        return cfg

    config = json.loads((args.init / 'configuration.json').read_text())
    trainer = build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
        model=str(args.init), train_dataset=train_set, eval_dataset=valid_set,
        work_dir=str(train_dir), max_epochs=args.max_epochs,
        train_iters_per_epoch=args.iters_per_epoch, val_iters_per_epoch=validation_batches(args.batch),
        cfg_modify_fn=recipe, seed=args.seed, bf16=args.bf16))
    checkpoint = latest_checkpoint(train_dir)
    print(f'width {config["model"]["width"]}, start: '
          f'{checkpoint or args.init}', flush=True)
    trainer.train(checkpoint_path=str(checkpoint) if checkpoint else None)
    if args.export:
        export(train_dir, args.export)


if __name__ == '__main__':
    sys.exit(main())
