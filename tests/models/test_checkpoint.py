"""Loading every checkpoint layout into FRCRNModel, and refusing what does not fit."""
import re

import pytest
import torch

from conftest import SMALL_WIDTH, write_model_dir
from modelscope_frcrn.errors import CheckpointMismatchError, WeightsNotFoundError
from modelscope_frcrn.models import FRCRN, FRCRNModel
from modelscope_frcrn.models.checkpoint import alias_of


@pytest.fixture(scope='module')
def reference_state():
    torch.manual_seed(3)
    return FRCRN(width=SMALL_WIDTH).state_dict()


def _load(tmp_path, checkpoint) -> FRCRNModel:
    model_dir = write_model_dir(tmp_path, checkpoint, width=SMALL_WIDTH)
    return FRCRNModel(str(model_dir), width=SMALL_WIDTH)


def _assert_loaded(model: FRCRNModel, state):
    loaded = model.model.state_dict()
    assert model.has_weights
    for key, value in state.items():
        assert torch.equal(loaded[key], value.float()), key


def test_bare_state_dict_as_released_on_the_hub(tmp_path, reference_state):
    _assert_loaded(_load(tmp_path, reference_state), reference_state)


def test_trainer_checkpoint_with_model_prefix(tmp_path, reference_state):
    checkpoint = {'state_dict': {f'model.{k}': v for k, v in reference_state.items()},
                  'meta': {'epoch': 3}}
    _assert_loaded(_load(tmp_path, checkpoint), reference_state)


def test_builtin_trainer_output_with_prefixed_bare_keys(tmp_path, reference_state):
    # The built-in reloads these with strict=False, i.e. not at all.
    checkpoint = {f'model.{k}': v for k, v in reference_state.items()}
    _assert_loaded(_load(tmp_path, checkpoint), reference_state)


LISTED_SPELLING = re.compile(r'\.(encoders|decoders|se_layers_enc|se_layers_dec|fsmn_enc|fsmn_dec)\.\d+\.')


@pytest.mark.parametrize('keep_listed', [False, True], ids=['encoder0-only', 'encoders.0-only'])
def test_checkpoint_with_only_one_alias_spelling(tmp_path, reference_state, keep_listed):
    partial = {key: value for key, value in reference_state.items()
               if alias_of(key) is None or bool(LISTED_SPELLING.search(key)) == keep_listed}
    assert len(partial) < len(reference_state)
    _assert_loaded(_load(tmp_path, partial), reference_state)


def test_half_precision_storage_loads_as_float32(tmp_path, reference_state):
    half = {k: v.half() if v.is_floating_point() else v for k, v in reference_state.items()}
    model = _load(tmp_path, half)
    weight = model.model.unet.encoder0.conv.conv_re.weight
    assert weight.dtype == torch.float32
    assert torch.allclose(weight, reference_state['unet.encoder0.conv.conv_re.weight'], atol=1e-3)


def test_wrong_width_is_a_clear_mismatch(tmp_path):
    state = FRCRN(width=SMALL_WIDTH * 2).state_dict()
    with pytest.raises(CheckpointMismatchError, match='does not fit'):
        _load(tmp_path, state)


def test_corrupt_weights_file(tmp_path):
    model_dir = write_model_dir(tmp_path, width=SMALL_WIDTH)
    (model_dir / 'pytorch_model.bin').write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointMismatchError, match='cannot read weights'):
        FRCRNModel(str(model_dir), width=SMALL_WIDTH)


class _Payload:
    def __reduce__(self):
        return (print, ('code ran while loading',))


def test_pickled_code_is_refused(tmp_path):
    model_dir = write_model_dir(tmp_path, width=SMALL_WIDTH)
    torch.save({'state_dict': _Payload()}, model_dir / 'pytorch_model.bin')
    with pytest.raises(CheckpointMismatchError, match='cannot read weights'):
        FRCRNModel(str(model_dir), width=SMALL_WIDTH)


def test_missing_weights_leave_random_init_and_are_reported(weightless_model_dir):
    model = FRCRNModel(str(weightless_model_dir), width=SMALL_WIDTH)
    assert not model.has_weights
    with pytest.raises(WeightsNotFoundError, match='pytorch_model.bin'):
        model.require_weights()


def test_alias_spellings_map_both_ways():
    assert alias_of('unet2.se_layer_dec4.fc_r.0.weight') == 'unet2.se_layers_dec.4.fc_r.0.weight'
    assert alias_of('unet.fsmn_enc.3.fsmn_re_L1.linear.bias') == 'unet.fsmn_enc3.fsmn_re_L1.linear.bias'
    assert alias_of('unet.fsmn.fsmn_re_L1.linear.bias') is None
    assert alias_of('stft.weight') is None


def test_unsupported_architecture_options_are_rejected(tmp_path):
    with pytest.raises(ValueError, match='model_depth'):
        FRCRNModel(str(tmp_path), model_depth=20)
