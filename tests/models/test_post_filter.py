"""The mask post-filter: its gain curve, where it applies, and how a model directory turns it on."""
import math

import numpy as np
import pytest
import torch

from modelscope_frcrn.errors import UsageError
from modelscope_frcrn.inference.loading import load_enhancer, load_model
from modelscope_frcrn.models import FRCRN
from modelscope_frcrn.models.inference_network import fuse_for_inference
from modelscope_frcrn.models.post_filter import post_filter

from conftest import SMALL_WIDTH, write_model_dir

BETA = 0.02
# A random network's masks are mostly near or above 1, where BETA changes little: the network
# tests use a strong post-filter so that its output clearly differs from the plain one.
NETWORK_BETA = 0.5


def random_mask(seed: int = 0) -> torch.Tensor:
    """``[2, 2, 40, 30]`` complex masks with magnitudes from about 0 to 2, as FRCRN's."""
    generator = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(2, 2, 40, 30, generator=generator)) * 1.4


def magnitude(mask: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(mask[:, 0] ** 2 + mask[:, 1] ** 2)


def test_gain_follows_the_percepnet_formula_and_keeps_the_phase():
    mask = random_mask()
    filtered = post_filter(mask, BETA)
    gain = magnitude(mask).clamp(1e-4, 1.0).double()
    warped = gain * torch.sin(math.pi / 2 * gain)
    expected_gain = (1 + BETA) * gain / (1 + BETA * (gain / warped) ** 2)
    scale = magnitude(filtered).double() / magnitude(mask).clamp_min(1e-4).double()
    moderate = magnitude(mask) > 1e-2
    assert torch.allclose(scale[moderate], (expected_gain / gain)[moderate], atol=1e-5)
    angle_before = torch.atan2(mask[:, 1], mask[:, 0])[moderate]
    angle_after = torch.atan2(filtered[:, 1], filtered[:, 0])[moderate]
    assert torch.allclose(angle_before, angle_after, atol=1e-5)


def test_only_low_gains_fall_and_nothing_rises():
    mask = random_mask(1)
    assert torch.all(magnitude(post_filter(mask, BETA)) <= magnitude(mask) + 1e-7)
    gains = torch.tensor([0.05, 0.1, 0.5, 1.0, 1.5])
    phase = 0.7
    mask = torch.stack([gains * math.cos(phase), gains * math.sin(phase)]).view(1, 2, 1, -1)
    change_db = 20 * torch.log10(magnitude(post_filter(mask, BETA))[0, 0] / gains)
    assert change_db[0] < -10 and -6 < change_db[1] < -4 and -0.5 < change_db[2] < 0
    assert torch.allclose(change_db[3:], torch.zeros(2), atol=1e-5)


def test_beta_zero_is_the_mask_itself():
    mask = random_mask(2)
    assert post_filter(mask, 0.0) is mask


@pytest.fixture(scope='module')
def network_pair():
    """The same random weights without and with the post-filter."""
    torch.manual_seed(5)
    plain = FRCRN(width=SMALL_WIDTH).eval()
    filtered = FRCRN(width=SMALL_WIDTH, post_filter_beta=NETWORK_BETA).eval()
    filtered.load_state_dict(plain.state_dict())
    return plain, filtered


def test_enhance_without_post_filter_is_the_stage_2_waveform(network_pair):
    plain, _ = network_pair
    noisy = 0.05 * torch.randn(1, 16000)
    margin = plain.win_len - plain.hop
    padded = torch.nn.functional.pad(noisy, (margin, margin))
    with torch.no_grad():
        official = plain(padded)['wav_l2'][:, margin:margin + noisy.shape[-1]]
    assert torch.allclose(plain.enhance(noisy), official, atol=1e-6)


def test_fused_network_applies_the_same_post_filter(network_pair):
    plain, filtered = network_pair
    noisy = 0.05 * torch.randn(2, 8000 + 17)
    reference = filtered.enhance(noisy)
    assert (fuse_for_inference(filtered).enhance(noisy) - reference).abs().max().item() <= 1e-4
    assert (reference - plain.enhance(noisy)).abs().max().item() > 1e-3


def test_model_directory_setting_reaches_the_enhancer(tmp_path, network_pair):
    plain, _ = network_pair
    noisy = 0.05 * np.random.default_rng(0).standard_normal((1, 8000)).astype(np.float32)
    outputs = {}
    for beta in (0.0, NETWORK_BETA):
        model_dir = write_model_dir(tmp_path / str(beta), plain.state_dict(), width=SMALL_WIDTH,
                                    post_filter_beta=beta)
        outputs[beta] = load_enhancer(str(model_dir))(noisy)
    expected = fuse_for_inference(network_pair[1]).enhance(torch.from_numpy(noisy)).numpy()
    assert np.abs(outputs[NETWORK_BETA] - expected).max() <= 1e-4
    assert np.abs(outputs[NETWORK_BETA] - outputs[0.0]).max() > 1e-3


def test_load_model_overrides_the_configuration_only_when_asked(tmp_path, network_pair):
    model_dir = write_model_dir(tmp_path / 'model', network_pair[0].state_dict(), width=SMALL_WIDTH,
                                post_filter_beta=BETA)
    assert load_model(str(model_dir)).model.post_filter_beta == BETA
    assert load_model(str(model_dir), post_filter_beta=0).model.post_filter_beta == 0
    with pytest.raises(UsageError, match='ONNX'):
        load_enhancer(str(model_dir), backend='onnx', onnx_path='exported.onnx', post_filter_beta=0.1)


@pytest.mark.parametrize('beta', [-0.1, math.inf, math.nan])
def test_a_strength_the_filter_cannot_take_is_refused_by_the_network(beta):
    with pytest.raises(UsageError, match='post-filter strength'):
        FRCRN(width=SMALL_WIDTH, post_filter_beta=beta)
