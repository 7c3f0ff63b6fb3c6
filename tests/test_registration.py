"""Our classes hold ModelScope's names whatever the import order of the built-in modules."""
import pytest
from modelscope.metainfo import Hooks as BuiltinHooks
from modelscope.metainfo import Preprocessors as BuiltinPreprocessors
from modelscope.models.builder import MODELS
from modelscope.pipelines.builder import PIPELINES
from modelscope.preprocessors.builder import PREPROCESSORS
from modelscope.utils.registry import build_from_cfg

from conftest import SMALL_WIDTH, run_python
from modelscope_frcrn import FRCRNAudioPreprocessor, FRCRNModel, FRCRNNoiseSuppressionPipeline
from modelscope_frcrn.metainfo import TASK, Hooks, Models, Pipelines, Preprocessors
from modelscope_frcrn.registration import owned_names

BUILTIN_MODULES = ['modelscope.models.audio.ans.frcrn', 'modelscope.pipelines.audio.ans_pipeline']


def test_registries_resolve_to_our_classes():
    assert MODELS.get(Models.speech_frcrn_ans_cirm_16k, TASK) is FRCRNModel
    assert PIPELINES.get(Pipelines.speech_frcrn_ans_cirm_16k, TASK) is FRCRNNoiseSuppressionPipeline
    assert PREPROCESSORS.get(Preprocessors.speech_frcrn_ans_audio, 'audio') is FRCRNAudioPreprocessor


def test_builds_after_builtin_lazy_imports_give_ours_every_time(tmp_path):
    cfg = {'type': Models.speech_frcrn_ans_cirm_16k, 'width': SMALL_WIDTH}
    for _ in range(2):  # the built-in's lazy import runs before each lookup
        model = build_from_cfg(cfg, MODELS, TASK, default_args={'model_dir': str(tmp_path)})
        assert type(model) is FRCRNModel
    assert MODELS.get(Models.speech_frcrn_ans_cirm_16k, TASK) is FRCRNModel


def test_explicit_import_of_builtin_after_ours_keeps_ours():
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    from modelscope.models.audio.ans.frcrn import FRCRNDecorator

    assert FRCRNDecorator is not FRCRNModel
    assert MODELS.get(Models.speech_frcrn_ans_cirm_16k, TASK) is FRCRNModel


BUILD_AND_REPORT = """
from modelscope.models.builder import MODELS
from modelscope.pipelines.builder import PIPELINES
from modelscope.utils.registry import build_from_cfg
model = build_from_cfg({'type': 'speech_frcrn_ans_cirm_16k', 'width': 8}, MODELS,
                       'acoustic-noise-suppression', default_args={'model_dir': MODEL_DIR})
pipeline_cls = PIPELINES.get('speech_frcrn_ans_cirm_16k', 'acoustic-noise-suppression')
print(type(model).__module__, pipeline_cls.__module__)
"""


@pytest.mark.parametrize('builtin_first', [True, False], ids=['builtin-first', 'ours-first'])
def test_import_orders_in_fresh_interpreters(tmp_path, builtin_first):
    builtin_imports = [f'import {module}' for module in BUILTIN_MODULES]
    ours = ['import modelscope_frcrn']
    imports = builtin_imports + ours if builtin_first else ours + builtin_imports
    code = '\n'.join(imports + [f'MODEL_DIR = {str(tmp_path)!r}']) + BUILD_AND_REPORT
    assert run_python(code).stdout.split() == ['modelscope_frcrn.models.frcrn_model',
                                               'modelscope_frcrn.pipelines.ans_pipeline']


def test_a_forced_third_party_registration_still_replaces_ours():
    class ThirdParty:
        pass

    name = Preprocessors.speech_frcrn_ans_audio
    try:
        PREPROCESSORS.register_module('audio', name, module_cls=ThirdParty)  # not forced: ignored
        assert PREPROCESSORS.get(name, 'audio') is FRCRNAudioPreprocessor
        PREPROCESSORS.register_module('audio', name, module_cls=ThirdParty, force=True)
        assert PREPROCESSORS.get(name, 'audio') is ThirdParty
    finally:
        PREPROCESSORS.register_module('audio', name, module_cls=FRCRNAudioPreprocessor, force=True)


def test_only_the_model_card_names_override_modelscope():
    ours_only = {Preprocessors.speech_frcrn_ans_audio, Hooks.device_aware_ddp}
    builtin_names = {value for names in (BuiltinPreprocessors, BuiltinHooks)
                     for key, value in vars(names).items() if not key.startswith('_')}
    assert not ours_only & builtin_names
    overridden = {name for (_, _, name) in owned_names()} - ours_only
    assert overridden == {'speech_frcrn_ans_cirm_16k', 'audio-noise-metric'}
