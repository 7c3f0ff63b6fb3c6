"""The start-up hook: what it costs every Python start, and that a ModelScope release it cannot
patch keeps working untouched (a fake ``modelscope`` package stands in for such a release)."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO_ROOT, run_python

# The hook alone, in an interpreter without site (so without any .pth file), timed with the
# same clock as `python -X importtime`; 'time' is built in, imported before the reference set.
START_UP = f'''
import sys, time
sys.path.insert(0, {str(REPO_ROOT)!r})
before = set(sys.modules)
started = time.perf_counter_ns()
import modelscope_frcrn_hook
modelscope_frcrn_hook.install()
elapsed = time.perf_counter_ns() - started
print(sorted(set(sys.modules) - before), elapsed / 1000)
'''


def test_start_up_imports_nothing_and_takes_under_a_millisecond():
    runs = [subprocess.run([sys.executable, '-I', '-S', '-c', START_UP], capture_output=True,
                           text=True, check=True, timeout=60).stdout for _ in range(5)]
    for output in runs:
        assert output.startswith("['modelscope_frcrn_hook'] "), output
    # the fastest of 5 fresh interpreters: the others are slowed by whatever else runs here
    assert min(float(output.split()[-1]) for output in runs) < 1000, runs


FAKE_MODULES = {
    'modelscope/__init__.py': '',
    'modelscope/utils/__init__.py': '',
    'modelscope/utils/registry.py': '''
        def build_from_cfg(cfg):
            return 'built'
        ''',
    'modelscope/pipelines/__init__.py': '',
    'modelscope/pipelines/builder.py': '''
        def pipeline(task, model=None):
            return 'pipeline'
        ''',
    'modelscope/models/__init__.py': '',
    'modelscope/models/base/__init__.py': '',
    'modelscope/models/base/base_model.py': '''
        class Model:
            @classmethod
            def from_pretrained(cls, model_name_or_path):
                return 'model'
        ''',
}
RENAMED = {
    'modelscope.utils.registry': ('build_from_cfg', 'build_from_config'),
    'modelscope.pipelines.builder': ('def pipeline(', 'def make_pipeline('),
    'modelscope.models.base.base_model': ('def from_pretrained(', 'def load('),
}
# Import the two intact modules first (their entry points get wrapped), the renamed one last,
# then report which entry points are still wrapped and what calling them does.
PROBE = '''
import importlib, json, sys, warnings
warnings.simplefilter('always')
with warnings.catch_warnings(record=True) as caught:
    modules = [importlib.import_module(name) for name in {order!r}]
    modules += [importlib.import_module(name) for name in {order!r}]  # a second import: no warning
registry, builder, base_model = (sys.modules[name] for name in
    ('modelscope.utils.registry', 'modelscope.pipelines.builder',
     'modelscope.models.base.base_model'))
entry_points = [getattr(registry, 'build_from_cfg', None), getattr(builder, 'pipeline', None),
                base_model.Model.__dict__.get('from_pretrained')]
entry_points = [getattr(point, '__func__', point) for point in entry_points if point is not None]
print(json.dumps({{
    'warnings': [str(warning.message) for warning in caught],
    'wrapped': [hasattr(point, '__modelscope_frcrn_wrapped__') for point in entry_points],
    'finders': [type(finder).__name__ for finder in sys.meta_path],
    'calls': [registry.build_from_cfg({{}}) if hasattr(registry, 'build_from_cfg') else None,
              builder.pipeline('t') if hasattr(builder, 'pipeline') else None] if {call} else [],
    'plugin': 'modelscope_frcrn' in sys.modules,
}}))
'''


def fake_modelscope(root, renamed_module=None) -> None:
    """The fake ``modelscope`` package under ``root``, with one entry point renamed."""
    for relative, source in FAKE_MODULES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        source = textwrap.dedent(source)
        if renamed_module and relative == renamed_module.replace('.', '/') + '.py':
            source = source.replace(*RENAMED[renamed_module])
        path.write_text(source)


def probe(root, order, call: bool) -> dict:
    """Run PROBE with the fake package under ``root`` ahead of the real ModelScope."""
    output = run_python(PROBE.format(order=order, call=call), env={'PYTHONPATH': str(root)},
                        cwd=root).stdout
    return json.loads(output.splitlines()[-1])


@pytest.mark.parametrize('renamed_module', list(RENAMED))
def test_a_modelscope_without_an_entry_point_is_left_untouched(tmp_path, renamed_module):
    fake_modelscope(tmp_path, renamed_module)
    order = [name for name in RENAMED if name != renamed_module] + [renamed_module]
    report = probe(tmp_path, order, call=True)
    assert len(report['warnings']) == 1, report['warnings']
    assert report['warnings'][0].startswith(
        'modelscope_frcrn could not be activated, ModelScope runs without it (cannot wrap the '
        f'entry point of {renamed_module}): ')
    assert report['wrapped'] == [False, False]  # the two intact ones were put back
    assert '_EntryPointFinder' not in report['finders']
    assert report['calls'] == [
        'built' if renamed_module != 'modelscope.utils.registry' else None,
        'pipeline' if renamed_module != 'modelscope.pipelines.builder' else None]
    assert report['plugin'] is False


def test_the_fake_modelscope_is_patched_when_intact(tmp_path):
    """The probe's own check: with every entry point present, all three are wrapped (no call:
    the plugin would then import the real ModelScope's modules, shadowed here)."""
    fake_modelscope(tmp_path)
    report = probe(tmp_path, list(RENAMED), call=False)
    assert report['warnings'] == [] and report['wrapped'] == [True, True, True]
    assert '_EntryPointFinder' in report['finders']


BROKEN_PLUGIN_PROBE = """
import json, warnings
warnings.simplefilter('always')
from modelscope.utils.registry import build_from_cfg  # a trampoline, handed out before the failure
from modelscope.pipelines.builder import pipeline
import modelscope.utils.registry as registry
with warnings.catch_warnings(record=True) as caught:
    calls = [build_from_cfg({}), pipeline('t'), build_from_cfg({})]
print(json.dumps({'warnings': [str(warning.message) for warning in caught], 'calls': calls,
                  'wrapped': hasattr(registry.build_from_cfg, '__modelscope_frcrn_wrapped__')}))
"""


def test_a_plugin_that_fails_to_import_leaves_modelscope_working_after_one_warning(tmp_path):
    fake_modelscope(tmp_path)
    plugin = tmp_path / 'modelscope_frcrn'  # ahead of the real package on the path
    plugin.mkdir()
    (plugin / '__init__.py').write_text("raise ImportError('simulated: a dependency is missing')\n")
    output = run_python(BROKEN_PLUGIN_PROBE, env={'PYTHONPATH': str(tmp_path)}, cwd=tmp_path).stdout
    report = json.loads(output.splitlines()[-1])
    assert report['calls'] == ['built', 'pipeline', 'built']
    assert report['warnings'] == [
        'modelscope_frcrn could not be activated, ModelScope runs without it (the plugin could '
        'not be imported): ImportError: simulated: a dependency is missing']
    assert report['wrapped'] is False  # the entry point itself was put back
