"""The registered ``audio-noise-metric``: every segment counts once, whatever the batching, and
``avg_loss`` / ``total_loss`` are the per-segment means of the loss terms."""
import pytest
import torch

from modelscope_frcrn.metrics.audio_noise_metric import AudioNoiseMetric

LOSS_TERMS = ('loss', 'amp_loss', 'phase_loss', 'sisnr')


def batch_outputs(si_snrs, losses):
    """What the model's forward returns for one batch: per-item SI-SNR, batch-mean losses."""
    return {'si_snr_per_item': torch.tensor(si_snrs),
            **{name: torch.tensor(value) for name, value in zip(LOSS_TERMS, losses)}}


def test_every_segment_counts_once_with_a_short_last_batch():
    metric = AudioNoiseMetric()
    metric.add(batch_outputs([10.0, 20.0, 30.0], (1.0, 0.5, 0.25, -20.0)), {})
    metric.add(batch_outputs([0.0], (4.0, 2.0, 1.0, 0.0)), {})

    result = metric.evaluate()

    # 4 segments: (10 + 20 + 30 + 0) / 4; the built-in's mean of batch means gives 10
    assert result['avg_sisnr'] == pytest.approx(15.0)
    assert result['avg_loss'] == pytest.approx((3 * 1.0 + 4.0) / 4)
    means = [(3 * first + second) / 4 for first, second in zip((1.0, 0.5, 0.25, -20.0),
                                                                (4.0, 2.0, 1.0, 0.0))]
    assert result['total_loss'] == pytest.approx(sum(means))


def test_merged_shards_equal_one_pass():
    whole, first, second = AudioNoiseMetric(), AudioNoiseMetric(), AudioNoiseMetric()
    batches = [batch_outputs([1.0, 2.0], (1.0, 2.0, 3.0, 4.0)),
               batch_outputs([5.0], (2.0, 1.0, 0.0, -1.0))]
    for batch in batches:
        whole.add(batch, {})
    first.add(batches[0], {})
    second.add(batches[1], {})

    first.merge(second)

    assert first.evaluate() == pytest.approx(whole.evaluate())


def test_no_segments_is_a_clear_error():
    with pytest.raises(ValueError, match='no segments were evaluated'):
        AudioNoiseMetric().evaluate()
