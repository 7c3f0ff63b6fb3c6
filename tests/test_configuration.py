"""The repository root is itself a ModelScope model directory."""
import json

import pytest
from modelscope.models import Model
from modelscope.pipelines import pipeline
from modelscope.utils.config import Config

from conftest import REPO_ROOT
from modelscope_frcrn.errors import WeightsNotFoundError
from modelscope_frcrn.metainfo import TASK, Models, Pipelines, Preprocessors
from modelscope_frcrn.models import FRCRNModel


@pytest.fixture(scope='module')
def configuration():
    return json.loads((REPO_ROOT / 'configuration.json').read_text())


def test_configuration_names_our_registered_types(configuration):
    assert configuration['framework'] == 'pytorch'
    assert configuration['task'] == TASK
    assert configuration['pipeline']['type'] == Pipelines.speech_frcrn_ans_cirm_16k
    assert configuration['model']['type'] == Models.speech_frcrn_ans_cirm_16k
    assert configuration['preprocessor']['type'] == Preprocessors.speech_frcrn_ans_audio
    assert configuration['model']['win_type'] == 'hanning'  # as on the hub


def test_configuration_carries_the_official_training_recipe(configuration):
    train = Config.from_file(str(REPO_ROOT / 'configuration.json')).train
    assert (train.max_epochs, train.train_iters_per_epoch, train.seed) == (200, 2000, 20)
    assert train.dataloader.batch_size_per_gpu == 12
    assert (train.optimizer.type, train.optimizer.lr, train.optimizer.weight_decay) == \
        ('Adam', 0.001, 0.00001)
    assert train.optimizer.options.grad_clip.max_norm == 10
    assert (train.lr_scheduler.type, train.lr_scheduler.factor, train.lr_scheduler.patience) == \
        ('ReduceLROnPlateau', 0.98, 2)
    assert configuration['evaluation']['metrics'] == ['audio-noise-metric']


def test_repo_root_builds_the_official_architecture():
    model = Model.from_pretrained(str(REPO_ROOT))
    assert isinstance(model, FRCRNModel)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 13_141_844


def test_pipeline_on_repo_root_without_weights_says_what_is_missing():
    if (REPO_ROOT / 'pytorch_model.bin').exists():
        pytest.skip('weights are present in the repository root')
    with pytest.raises(WeightsNotFoundError, match='pytorch_model.bin'):
        pipeline(TASK, model=str(REPO_ROOT))
