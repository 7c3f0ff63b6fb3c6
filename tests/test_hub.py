"""modelscope_frcrn.hub: resolving cached model ids, and saying so when another revision is used.

Each case runs in a fresh interpreter: ModelScope reads ``MODELSCOPE_CACHE`` once per process.
"""
import shutil

import pytest

from conftest import run_python

HUB_ID = 'damo/speech_frcrn_ans_cirm_16k'
RESOLVE = '''
import warnings
from modelscope_frcrn.hub import cached_model_dir
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    print(cached_model_dir({model!r}, revision={revision!r}))
print('WARNINGS:', ' | '.join(str(warning.message) for warning in caught
                               if 'ModelScope cache' in str(warning.message)))
'''


def resolve(cache, revision):
    result = run_python(RESOLVE.format(model=HUB_ID, revision=revision),
                        env={'MODELSCOPE_CACHE': str(cache)})
    lines = result.stdout.splitlines()
    return lines[-2], lines[-1].removeprefix('WARNINGS:').strip()


@pytest.mark.parametrize('layout, recorded, revision_used', [
    ('models/damo--speech_frcrn_ans_cirm_16k/snapshots/v1.0.2', None, 'v1.0.2'),
    ('models/damo/speech_frcrn_ans_cirm_16k', 'Revision:v1.0.1,CreatedAt:1700000000', 'v1.0.1'),
], ids=['new-layout', 'legacy-layout'])
def test_another_cached_revision_is_used_with_a_warning_naming_it(tmp_path, random_model_dir,
                                                                  layout, recorded, revision_used):
    folder = tmp_path / 'cache' / layout
    shutil.copytree(random_model_dir, folder)
    if recorded:
        (folder / '.mv').write_text(recorded)

    path, warning = resolve(tmp_path / 'cache', 'v2.0')

    assert path == str(folder)
    assert "revision 'v2.0'" in warning and f'cached revision {revision_used}' in warning


def test_the_revision_asked_for_or_none_gives_no_warning(tmp_path, random_model_dir):
    shutil.copytree(random_model_dir,
                    tmp_path / 'cache' / 'models/damo--speech_frcrn_ans_cirm_16k/snapshots/master')

    for revision in (None, 'master'):
        path, warning = resolve(tmp_path / 'cache', revision)
        assert path.endswith('snapshots/master') and warning == ''
