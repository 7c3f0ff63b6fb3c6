"""Batching short recordings (``denoise --batch-size``): padded rows give the outputs of
one-at-a-time runs, long files keep the chunked path, one bad file fails alone."""
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from modelscope_frcrn.cli import main
from modelscope_frcrn.inference.backends import TorchEnhancer
from modelscope_frcrn.inference.batching import GatheringEnhancer, length_groups
from modelscope_frcrn.models import FRCRN
from modelscope_frcrn.models.inference_network import fuse_for_inference

from conftest import EXAMPLE_WAV


def padded_batch(rows):
    batch = np.zeros((len(rows), max(len(row) for row in rows)), np.float32)
    for index, row in enumerate(rows):
        batch[index, :len(row)] = row
    return torch.from_numpy(batch), torch.tensor([len(row) for row in rows])


def test_padded_rows_come_out_as_when_enhanced_alone():
    torch.manual_seed(0)
    network = fuse_for_inference(FRCRN(width=16))
    rng = np.random.default_rng(0)
    rows = [0.1 * rng.standard_normal(length).astype(np.float32) for length in (641, 3000, 4801)]
    alone = [network.enhance(torch.from_numpy(row)[None])[0] for row in rows]
    batch, lengths = padded_batch(rows)

    masked = network.enhance(batch, lengths)
    unmasked = network.enhance(batch)

    for index, row in enumerate(rows):
        assert torch.allclose(masked[index, :len(row)], alone[index], atol=1e-6, rtol=0)
    # why the lengths are needed: plain zero padding changes the shorter rows
    assert (unmasked[0, :len(rows[0])] - alone[0]).abs().max() > 1e-3


class Doubler:
    """A stand-in network that records the batches it is given."""

    def __init__(self):
        self.batches = []

    def __call__(self, noisy):
        return noisy * 2

    def enhance_padded(self, noisy, lengths):
        self.batches.append((noisy.shape, list(lengths)))
        return noisy * 2


def test_gathering_runs_waiting_calls_as_one_batch_once_the_others_left():
    network = Doubler()
    gatherer = GatheringEnhancer(network, participants=3)
    results = {}

    def participant(name, length):
        try:
            if length:
                results[name] = gatherer(np.ones((1, length), np.float32))
        finally:
            gatherer.leave()

    threads = [threading.Thread(target=participant, args=(name, length))
               for name, length in (('a', 5), ('b', 0), ('c', 3))]  # b fails before calling
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert not any(thread.is_alive() for thread in threads)
    assert network.batches == [((2, 5), [5, 3])]
    assert [results[name].shape for name in 'ac'] == [(1, 5), (1, 3)]
    assert np.all(results['c'] == 2)


def test_a_failing_batch_fails_every_call_in_it():
    def network(noisy):
        raise RuntimeError('out of memory')

    gatherer = GatheringEnhancer(network, participants=2)
    errors = []

    def participant():
        try:
            gatherer(np.ones((1, 4), np.float32))
        except RuntimeError as error:
            errors.append(str(error))
        finally:
            gatherer.leave()

    threads = [threading.Thread(target=participant) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == ['out of memory'] * 2


def test_groups_hold_neighbours_in_length():
    lengths = [9, 1, 5, 3, 7]
    assert length_groups(range(5), lengths, 2) == [[1, 3], [2, 4], [0]]


@pytest.fixture
def corpus(tmp_path):
    """Short clips of several lengths (one stereo at 44.1 kHz), one long file, one too short."""
    speech, rate = sf.read(str(EXAMPLE_WAV), dtype='float32')
    folder = tmp_path / 'corpus'
    folder.mkdir()
    for index, seconds in enumerate((0.3, 0.5, 0.52, 0.8)):
        start = 4000 * index
        sf.write(str(folder / f'clip{index}.wav'), speech[start:start + int(seconds * rate)],
                 rate, subtype='FLOAT')
    stereo = np.stack([speech[:8000], speech[3000:11000]], axis=1)
    sf.write(str(folder / 'stereo44k.wav'), _resampled(stereo, rate, 44100), 44100,
             subtype='FLOAT')
    sf.write(str(folder / 'long.wav'), speech[:int(2.3 * rate)], rate, subtype='FLOAT')
    sf.write(str(folder / 'tiny.wav'), speech[:300], rate)
    return folder


def _resampled(samples, rate, new_rate):
    from modelscope_frcrn.audio.io import resample
    return resample(samples.T, rate, new_rate).T


@pytest.fixture(params=[pytest.param('shipped', marks=pytest.mark.slow), 'small'])
def model_option(request, random_model_dir):
    """The shipped model (slow here: 30 s), or a narrow random one (same code paths)."""
    return [] if request.param == 'shipped' else ['--model', str(random_model_dir)]


def test_batch_size_4_writes_what_batch_size_1_writes(corpus, tmp_path, monkeypatch, capsys,
                                                      model_option):
    batch_rows = []
    enhance_padded = TorchEnhancer.enhance_padded

    def spy(self, noisy, lengths):
        batch_rows.append(len(lengths))
        return enhance_padded(self, noisy, lengths)

    monkeypatch.setattr(TorchEnhancer, 'enhance_padded', spy)
    codes = [main(['denoise', str(corpus), '-o', str(tmp_path / f'out{size}'), '--quiet',
                   '--chunk-seconds', '1', '--batch-size', str(size)] + model_option)
             for size in (1, 4)]

    assert codes == [1, 1]  # tiny.wav fails in both
    assert capsys.readouterr().err.count('tiny.wav is too short') == 2
    assert sorted(batch_rows) == [2, 4]  # stereo (2 rows) + 3 clips, then 2 clips; long alone
    names = sorted(path.name for path in (tmp_path / 'out1').iterdir())
    assert names == ['clip0.wav', 'clip1.wav', 'clip2.wav', 'clip3.wav', 'long.wav',
                     'stereo44k.wav']
    for name in names:
        one, four = (sf.read(str(tmp_path / f'out{size}' / name), dtype='float32')[0]
                     for size in (1, 4))
        assert one.shape == four.shape
        assert np.abs(one - four).max() <= 1e-5, name


def test_batched_run_resumes_like_the_plain_one(corpus, tmp_path, capsys, random_model_dir):
    out = tmp_path / 'out'
    (corpus / 'tiny.wav').unlink()
    arguments = ['denoise', str(corpus), '-o', str(out), '--quiet', '--batch-size', '3',
                 '--model', str(random_model_dir)]
    assert main(arguments) == 0
    capsys.readouterr()

    assert main(arguments) == 0
    assert '0 denoised, 6 skipped, 0 failed' in capsys.readouterr().out
