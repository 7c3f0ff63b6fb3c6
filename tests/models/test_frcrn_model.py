"""FRCRNModel as ModelScope loads it: the mode from_pretrained returns, and enhance() in either mode."""
import torch
from modelscope.models import Model

from modelscope_frcrn.models import FRCRNModel


def _buffers(model):
    return {name: buffer.clone() for name, buffer in model.named_buffers()}


def test_from_pretrained_follows_modelscope_and_returns_training_mode(random_model_dir):
    # ModelScope's own models (the built-in FRCRN included) come back in training mode,
    # and its pipelines switch them to eval.
    model = Model.from_pretrained(str(random_model_dir))
    assert isinstance(model, FRCRNModel)
    assert model.training


def test_enhance_in_training_mode_equals_eval_mode_and_changes_nothing(random_model_dir):
    model = Model.from_pretrained(str(random_model_dir))
    noisy = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    before = _buffers(model)
    in_training_mode = model.enhance(noisy)
    assert model.training and all(module.training for module in model.modules())
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), f'{name} changed by enhance()'
    in_eval_mode = model.eval().enhance(noisy)
    assert not model.training and not any(module.training for module in model.modules())
    assert torch.allclose(in_training_mode, in_eval_mode, atol=1e-6)
