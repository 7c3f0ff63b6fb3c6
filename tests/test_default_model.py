"""The model shipped inside the package (trained by recipes/broad_model)."""
import numpy as np
import soundfile as sf
import torch

from conftest import REPO_ROOT
from modelscope_frcrn.cli import main
from modelscope_frcrn.evaluation.metrics import si_snr
from modelscope_frcrn.hub import DEFAULT_MODEL_DIR, default_model_dir
from modelscope_frcrn.models import FRCRNModel

WEIGHTS = DEFAULT_MODEL_DIR / 'pytorch_model.bin'
ASSETS = REPO_ROOT / 'tests' / 'assets'


def test_shipped_weights_are_small_half_precision_and_load_safely():
    assert WEIGHTS.stat().st_size <= 60 * 1024 * 1024
    state = torch.load(WEIGHTS, map_location='cpu', weights_only=True)
    assert {value.dtype for value in state.values() if value.is_floating_point()} == {torch.float16}


def test_shipped_model_loads_as_float32():
    from modelscope.models import Model

    model = Model.from_pretrained(default_model_dir())
    assert isinstance(model, FRCRNModel) and model.has_weights
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


def test_shipped_model_improves_si_snr_of_a_held_out_speaker(tmp_path):
    # A Russian speaker that training never saw (tests/assets/README.md).
    noisy, _ = sf.read(ASSETS / 'heldout_noisy.wav', dtype='float32')
    clean, _ = sf.read(ASSETS / 'heldout_clean.wav', dtype='float32')
    output = tmp_path / 'enhanced.wav'

    assert main(['denoise', str(ASSETS / 'heldout_noisy.wav'), '-o', str(output)]) == 0

    enhanced, rate = sf.read(output, dtype='float32')
    assert rate == 16000 and enhanced.shape == noisy.shape
    # a light mixture (13 dB SNR): the model gains 4.5 dB here, 7.3 dB on the whole held-out set
    assert si_snr(enhanced, clean) > si_snr(noisy, clean) + 2.0
    assert np.sqrt(np.mean(enhanced ** 2)) > 0.3 * np.sqrt(np.mean(clean ** 2))  # not silenced
