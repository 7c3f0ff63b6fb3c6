"""``audio-noise-metric``: the evaluation the model card reports as ``avg_sisnr``."""
from typing import Dict

from modelscope.metrics.base import Metric
from modelscope.metrics.builder import METRICS, MetricKeys
from modelscope.utils.registry import default_group

from ..metainfo import Metrics
from ..registration import register


@register(METRICS, default_group, Metrics.audio_noise_metric)
class AudioNoiseMetric(Metric):
    """Mean SI-SNR (dB) over all evaluated segments, and the mean losses.

    Unlike the built-in, which averages per-batch means, every segment counts
    once, so a short last batch does not weigh more than the others. Keys:
    ``avg_sisnr``, ``avg_loss`` (mean total loss) and ``total_loss`` (the
    built-in's sum of the mean loss terms, kept for compatibility).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.si_snr_sum = 0.0
        self.segments = 0
        self.loss_sums = {'loss': 0.0, 'amp_loss': 0.0, 'phase_loss': 0.0, 'sisnr': 0.0}

    def add(self, outputs: Dict, inputs: Dict) -> None:
        per_item = outputs['si_snr_per_item']
        batch = per_item.numel()
        self.si_snr_sum += per_item.double().sum().item()
        self.segments += batch
        for name in self.loss_sums:
            self.loss_sums[name] += outputs[name].item() * batch

    def evaluate(self) -> Dict[str, float]:
        if not self.segments:
            raise ValueError('audio-noise-metric: no segments were evaluated '
                             '(empty evaluation data set?)')
        means = {name: total / self.segments for name, total in self.loss_sums.items()}
        return {
            'avg_sisnr': self.si_snr_sum / self.segments,
            MetricKeys.AVERAGE_LOSS: means['loss'],
            'total_loss': sum(means.values()),
        }

    def merge(self, other: 'AudioNoiseMetric') -> None:
        self.si_snr_sum += other.si_snr_sum
        self.segments += other.segments
        for name in self.loss_sums:
            self.loss_sums[name] += other.loss_sums[name]

    def __getstate__(self):
        return self.si_snr_sum, self.segments, self.loss_sums

    def __setstate__(self, state):
        self.si_snr_sum, self.segments, self.loss_sums = state
