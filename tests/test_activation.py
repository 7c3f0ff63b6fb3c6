"""The model card's snippet, unchanged, gets our implementation in a fresh interpreter.

No test here imports modelscope_frcrn in the child process: the start-up hook
installed with the package must do it.
"""
import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import torch

from conftest import EXAMPLE_WAV, REPO_ROOT, run_python

HUB_ID = 'damo/speech_frcrn_ans_cirm_16k'
# The hub's domain pointed at a closed local port: a CI machine with a network cannot reach the
# real hub, and every connection the child opens is recorded (NETWORK_AUDIT) to assert on.
DEAD_HUB = {'MODELSCOPE_DOMAIN': '127.0.0.1:9'}
DEAD_HUB_ADDRESS = ('127.0.0.1', 9)
NETWORK_AUDIT = '''
import atexit, sys
_connections = []
sys.addaudithook(lambda event, args: _connections.append(args[1])
                 if event == 'socket.connect' and isinstance(args[1], tuple) else None)
atexit.register(lambda: print('CONNECTIONS', repr(_connections[:10]), file=sys.stderr))
'''

# The model card's inference code; only the model location and the input differ.
CARD_SNIPPET = '''
from modelscope.pipelines import pipeline
from modelscope.utils.constant import Tasks


ans = pipeline(
    Tasks.acoustic_noise_suppression,
    model={model!r})
result = ans(
    {input!r},
    output_path={output!r})
'''
REPORT = '''
import sys
print(type(ans).__module__, type(ans.model).__module__, len(result['output_pcm']))
print('modelscope_frcrn' in sys.modules)
'''


def _run_card_snippet(model, output: Path, env=None, executable=sys.executable):
    code = CARD_SNIPPET.format(model=model, input=str(EXAMPLE_WAV), output=str(output)) + REPORT
    lines = run_python(code, env=env, executable=executable, cwd=output.parent).stdout.split()
    return lines[-4:]


def _connections(stderr: str) -> list:
    """The (host, port) addresses the child connected to, as NETWORK_AUDIT reported them."""
    import ast
    return ast.literal_eval(stderr.rsplit('CONNECTIONS ', 1)[1].splitlines()[0])


def test_editable_install_is_removed_with_its_hook_by_pip_uninstall(tmp_path):
    python, site_packages = _venv_with_our_dependencies(tmp_path / 'venv')
    source = _source_copy(tmp_path / 'source')
    subprocess.run([python, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
                    '--no-index', '--quiet', '-e', str(source)], check=True, timeout=300)
    hook = site_packages / 'modelscope_frcrn_hook.pth'
    assert hook.is_file()
    where = run_python('import sys, modelscope_frcrn; '
                       'print(modelscope_frcrn.__file__, "modelscope_frcrn_hook" in sys.modules)',
                       executable=python, cwd=tmp_path).stdout.split()
    assert Path(where[0]).is_relative_to(source) and where[1] == 'True'

    subprocess.run([python, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'modelscope_frcrn'],
                   check=True, timeout=120)
    assert not hook.exists()
    assert not [path for path in site_packages.iterdir() if 'modelscope_frcrn' in path.name]
    leftover = run_python('import sys, importlib.util; print("modelscope_frcrn_hook" in sys.modules, '
                          'importlib.util.find_spec("modelscope_frcrn") is None)',
                          executable=python, cwd=tmp_path)
    assert leftover.stdout.split() == ['False', 'True'] and not leftover.stderr


def _assert_ours(report, output: Path):
    pipeline_module, model_module, pcm_bytes, _ = report
    assert pipeline_module == 'modelscope_frcrn.pipelines.ans_pipeline'
    assert model_module == 'modelscope_frcrn.models.frcrn_model'
    import soundfile as sf
    assert int(pcm_bytes) == 2 * sf.info(str(EXAMPLE_WAV)).frames
    assert sf.info(str(output)).samplerate == 16000


def test_startup_hook_imports_nothing_heavy():
    code = ('import sys; print("modelscope_frcrn_hook" in sys.modules, '
            'sorted(m for m in sys.modules if m.split(".")[0] in '
            '("torch", "modelscope", "modelscope_frcrn", "numpy")))')
    assert run_python(code).stdout.strip() == 'True []'


def test_card_snippet_with_local_model_dir(random_model_dir, tmp_path):
    output = tmp_path / 'output.wav'
    _assert_ours(_run_card_snippet(str(random_model_dir), output), output)


@pytest.mark.parametrize('layout', [
    pytest.param('models/damo--speech_frcrn_ans_cirm_16k/snapshots/master', id='new-layout'),
    # the legacy layout's resolution is also covered, in-process, by tests/test_hub.py
    pytest.param('models/damo/speech_frcrn_ans_cirm_16k', id='legacy-layout', marks=pytest.mark.slow),
])
def test_card_snippet_with_hub_id_from_filled_cache_offline(random_model_dir, tmp_path, layout):
    shutil.copytree(random_model_dir, tmp_path / 'cache' / layout)
    output = tmp_path / 'output.wav'
    code = NETWORK_AUDIT + CARD_SNIPPET.format(model=HUB_ID, input=str(EXAMPLE_WAV),
                                               output=str(output)) + REPORT
    result = run_python(code, cwd=tmp_path,
                        env={**DEAD_HUB, 'MODELSCOPE_CACHE': str(tmp_path / 'cache')})
    _assert_ours(result.stdout.split()[-4:], output)
    assert _connections(result.stderr) == []  # the built-in spends ~32 s on failing hub calls


# The two other ways the model card's names reach a model: ModelScope's Model and its trainer.
CACHED_ID_LOADERS = {
    'Model.from_pretrained': """
from modelscope.models import Model
loaded = Model.from_pretrained({model!r})
""",
    'build_trainer': """
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer
loaded = build_trainer(Trainers.speech_frcrn_ans_cirm_16k,
                       default_args=dict(model={model!r}, work_dir={work!r})).model
""",
}
WEIGHTS_REPORT = """
import json
print(type(loaded).__module__)
print(json.dumps({key.split('.', 1)[-1]: float(value.double().sum())
                  for key, value in loaded.state_dict().items() if value.is_floating_point()}))
"""


@pytest.mark.parametrize('loader', list(CACHED_ID_LOADERS))
def test_a_cached_hub_id_loads_offline_through_model_and_trainer(random_model_dir, tmp_path,
                                                                 loader):
    shutil.copytree(random_model_dir,
                    tmp_path / 'cache' / 'models/damo--speech_frcrn_ans_cirm_16k/snapshots/master')
    code = NETWORK_AUDIT + CACHED_ID_LOADERS[loader].format(
        model=HUB_ID, work=str(tmp_path / 'work')) + WEIGHTS_REPORT
    result = run_python(code, cwd=tmp_path,
                        env={**DEAD_HUB, 'MODELSCOPE_CACHE': str(tmp_path / 'cache')})
    module, sums = result.stdout.splitlines()[-2:]
    assert module == 'modelscope_frcrn.models.frcrn_model'
    cached = torch.load(random_model_dir / 'pytorch_model.bin', weights_only=True)
    loaded = json.loads(sums)
    for key, value in cached.items():  # the cached weights, not a fresh initialisation
        if value.is_floating_point():
            assert loaded[key] == pytest.approx(float(value.double().sum()), rel=1e-9, abs=1e-9)
    assert _connections(result.stderr) == []


def test_hub_id_without_cache_or_network_fails_fast_and_clearly(tmp_path):
    code = NETWORK_AUDIT + CARD_SNIPPET.split('result =')[0]
    result = subprocess.run([sys.executable, '-c', code.format(model=HUB_ID)],
                            capture_output=True, text=True, timeout=60,
                            env={**_environ(), **DEAD_HUB,
                                 'MODELSCOPE_CACHE': str(tmp_path / 'empty')})
    assert result.returncode != 0
    assert 'ModelNotAvailableError' in result.stderr
    assert 'not in the ModelScope cache' in result.stderr and 'local model directory' in result.stderr
    # one reachability probe, and no hub request after it (ModelScope would retry its calls)
    assert _connections(result.stderr) == [DEAD_HUB_ADDRESS]


def _environ():
    import os
    return dict(os.environ)


@pytest.fixture(scope='module')
def installed_venv(tmp_path_factory):
    """A virtual environment with ours installed as from a package index: an sdist built from
    a copy of the source tree, a wheel built from that sdist, the wheel installed.

    Its dependencies come from this interpreter's site-packages through a plain
    path line, so that folder's .pth files (our editable install's among them)
    are not processed in the venv: only the wheel's hook can activate the plugin.
    """
    python, venv_site = _venv_with_our_dependencies(tmp_path_factory.mktemp('venv'))
    wheel = _wheel_from_sdist(tmp_path_factory.mktemp('dist'))
    subprocess.run([python, '-m', 'pip', 'install', '--no-deps', '--no-index', '--quiet',
                    str(wheel)], check=True, timeout=300)
    return python, venv_site


def _venv_with_our_dependencies(root: Path):
    """A venv at ``root`` that sees this interpreter's site-packages through a plain path line
    (so none of that folder's .pth files run there): (its python, its site-packages)."""
    venv.create(root, with_pip=False)
    python = str(root / 'bin' / 'python')
    site_packages = _site_packages(python)
    (site_packages / 'system_packages.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    return python, site_packages


def _source_copy(destination: Path) -> Path:
    """The source tree without git data or build leftovers, copied to ``destination``."""
    shutil.copytree(REPO_ROOT, destination, ignore=shutil.ignore_patterns(
        '.git', '__pycache__', '*.egg-info', 'build', 'dist', '.pytest_cache'))
    return destination


def _wheel_from_sdist(dist: Path) -> Path:
    source = _source_copy(dist / 'source')
    run_python(f'from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})',
               cwd=source)
    sdist, = dist.glob('*.tar.gz')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '--no-index', '--quiet', '--wheel-dir', str(dist), str(sdist)],
                   check=True, timeout=300)
    wheel, = dist.glob('*.whl')
    return wheel


def _site_packages(python: str) -> Path:
    code = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    return Path(run_python(code, executable=python).stdout.strip())


def test_wheel_install_activates_and_uninstall_removes_the_hook(installed_venv, random_model_dir,
                                                                tmp_path):
    python, site_packages = installed_venv
    hook_files = [site_packages / 'modelscope_frcrn_hook.pth',
                  site_packages / 'modelscope_frcrn_hook.py']
    assert all(path.is_file() for path in hook_files)
    where = run_python('import modelscope_frcrn; print(modelscope_frcrn.__file__)',
                       executable=python, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(site_packages)
    example = run_python('from modelscope_frcrn.serve.server import load_assets; '
                         'print(len(load_assets()["/examples/speech_with_noise.wav"].body))',
                         executable=python, cwd=tmp_path).stdout.strip()
    assert int(example) == EXAMPLE_WAV.stat().st_size  # the demo's example button works
    output = tmp_path / 'output.wav'
    _assert_ours(_run_card_snippet(str(random_model_dir), output, executable=python), output)

    subprocess.run([python, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'modelscope_frcrn'],
                   check=True, timeout=120)
    assert not any(path.exists() for path in hook_files)
    assert not list(site_packages.glob('modelscope_frcrn*'))
    leftover = run_python('import sys; print("modelscope_frcrn_hook" in sys.modules)',
                          executable=python, cwd=tmp_path)
    assert leftover.stdout.strip() == 'False' and not leftover.stderr
