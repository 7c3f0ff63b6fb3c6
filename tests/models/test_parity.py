"""Our FRCRN against ModelScope's built-in: same state_dict, same outputs, same losses.

The built-in is imported only here, as the numerical reference.
"""
from pathlib import Path

import pytest
import torch

from modelscope_frcrn.models import FRCRN, FRCRNModel

OFFICIAL_KWARGS = dict(complex=True, model_complexity=-1, model_depth=14, log_amp=False,
                       padding_mode='zeros', win_len=640, win_inc=320, fft_len=640,
                       win_type='hann')  # the built-in cannot build 'hanning' with current SciPy
KEYS_TSV = Path(__file__).resolve().parents[3] / 'shared' / 'frcrn_state_dict_keys.tsv'
TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 0.05  # relative L2 difference of all gradients


@pytest.fixture(scope='module')
def builtin_and_ours():
    """The built-in network with random weights and non-trivial BatchNorm statistics,
    and ours loaded from its state_dict, both in eval mode."""
    from modelscope.models.audio.ans.frcrn import FRCRN as BuiltinFRCRN

    torch.manual_seed(0)
    builtin = BuiltinFRCRN(**OFFICIAL_KWARGS).eval()
    with torch.no_grad():
        for name, buffer in builtin.named_buffers():
            if name.endswith('running_mean'):
                buffer.normal_(0, 0.1)
            elif name.endswith('running_var'):
                buffer.uniform_(0.5, 2.0)
    ours = FRCRN(win_type='hanning').eval()
    ours.load_state_dict(builtin.state_dict())
    return builtin, ours


def _shapes(module):
    return [(key, tuple(value.shape)) for key, value in module.state_dict().items()]


def test_state_dict_keys_and_shapes_equal_builtin(builtin_and_ours):
    builtin, _ = builtin_and_ours
    assert _shapes(FRCRN()) == _shapes(builtin)


@pytest.mark.skipif(not KEYS_TSV.is_file(), reason='shared/frcrn_state_dict_keys.tsv not present')
def test_state_dict_matches_official_key_list():
    official = [line.split('\t') for line in KEYS_TSV.read_text().splitlines() if line]
    ours = [(key, str(shape)) for key, shape in _shapes(FRCRN())]
    assert [(key, shape.replace(',)', ',)')) for key, shape in official] == \
        [(key, shape.replace(', )', ',)')) for key, shape in ours]


def test_parameter_count():
    trainable = sum(p.numel() for p in FRCRN().parameters() if p.requires_grad)
    assert trainable == 13_141_844


# CI keeps official-width output parity through test_training_forward_matches_builtin_decorator
# (losses from these outputs) and tests/inference/test_backends.py (the fused network)
@pytest.mark.slow
def test_outputs_equal_builtin_on_3_seconds(builtin_and_ours):
    builtin, ours = builtin_and_ours
    torch.manual_seed(1)
    noisy = 0.05 * torch.randn(2, 3 * 16000 + 320)
    with torch.no_grad():
        reference = builtin(noisy)
        outputs = ours(noisy)
    names = ['spec_l1', 'wav_l1', 'mask_l1', 'spec_l2', 'wav_l2', 'mask_l2']
    for name, expected in zip(names, reference):
        assert outputs[name].shape == expected.shape, name
        assert (outputs[name] - expected).abs().max().item() <= TOLERANCE, name
    assert reference[4].abs().max() > 0.1  # the comparison is not between near-zero signals


def test_training_forward_matches_builtin_decorator(tmp_path):
    from modelscope.models.audio.ans.frcrn import FRCRNDecorator

    torch.manual_seed(2)
    builtin = FRCRNDecorator(str(tmp_path), **OFFICIAL_KWARGS).train()
    ours = FRCRNModel(str(tmp_path), **OFFICIAL_KWARGS).train()
    ours.load_state_dict(builtin.state_dict())
    noisy, clean = 0.05 * torch.randn(2, 2, 16000)
    reference = builtin({'noisy': noisy, 'clean': clean})
    outputs = ours({'noisy': noisy, 'clean': clean})
    for name in ('loss', 'amp_loss', 'phase_loss', 'sisnr'):
        assert outputs[name].item() == pytest.approx(reference[name].item(), rel=1e-4, abs=1e-4)
    assert outputs['log_vars'].keys() == reference['log_vars'].keys()
    outputs['loss'].backward()
    reference['loss'].backward()
    builtin_grads = {name: p.grad for name, p in builtin.named_parameters()}
    our_grads = {name: p.grad for name, p in ours.named_parameters()}
    assert our_grads.keys() == builtin_grads.keys()
    assert [name for name, grad in our_grads.items() if grad is None] == \
        [name for name, grad in builtin_grads.items() if grad is None]
    used = [name for name, grad in builtin_grads.items() if grad is not None]
    expected = torch.cat([builtin_grads[name].flatten() for name in used])
    got = torch.cat([our_grads[name].flatten() for name in used])
    # float32 over 13M parameters: 1.15e-2 measured (conv biases before batch norm have
    # gradients of rounding size); a wrong backward gives a relative difference near 1
    assert ((got - expected).norm() / expected.norm()).item() <= GRADIENT_TOLERANCE


def test_hanning_and_hann_windows_are_the_same():
    assert torch.equal(FRCRN(win_type='hanning').stft.weight, FRCRN(win_type='hann').stft.weight)


def test_unknown_window_is_rejected_with_the_supported_names():
    with pytest.raises(ValueError, match='hann'):
        FRCRN(win_type='kaiser')
