"""Install modelscope_frcrn and its start-up hook ``modelscope_frcrn_hook.pth``.

The hook file must land at the top of site-packages, which setuptools does not
do for extra files: ``build_py`` copies it into the build tree (wheels and
regular installs), and ``editable_wheel`` adds it to the editable wheel
(``pip install -e .``), so both install kinds activate the plugin.
"""
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HOOK_PTH = 'modelscope_frcrn_hook.pth'
# `evaluate`: PESQ (builds from source, needs a C compiler), STOI, DNSMOS, plots
EVAL_REQUIRES = ['pesq>=0.0.4', 'pystoi>=0.3', 'speechmos>=0.0.1.1,<0.1', 'onnxruntime>=1.15',
                 'matplotlib>=3.5']
# `onnx`: export with PyTorch's TorchScript-based exporter (needs onnx) and run with onnxruntime
ONNX_REQUIRES = ['onnx>=1.14', 'onnxruntime>=1.15']
# `train`: on-the-fly augmentation for recipes/broad_model (EQ/low-pass, simulated rooms) and
# STOI's band matrix for the envelope correlation loss
TRAIN_REQUIRES = ['audiomentations>=0.35', 'pyroomacoustics>=0.7', 'pystoi>=0.3']
# `ray`: denoise --engine ray (Ray Data actor pools; override_num_blocks came in 2.10; tested with 2.60)
RAY_REQUIRES = ['ray[data]>=2.10']
HERE = Path(__file__).parent


class BuildPyWithHook(build_py):
    def run(self):
        super().run()
        self.copy_file(str(HERE / HOOK_PTH), str(Path(self.build_lib) / HOOK_PTH))


class EditableWheelWithHook(editable_wheel):
    def _select_strategy(self, *args, **kwargs):
        return _StrategyWithHook(super()._select_strategy(*args, **kwargs))


class _StrategyWithHook:
    """Wraps setuptools' editable strategy: writes what it writes, plus the hook."""

    def __init__(self, strategy):
        self._strategy = strategy

    def __enter__(self):
        self._strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._strategy.__exit__(*exc_info)

    def __call__(self, wheel, files, mapping):
        self._strategy(wheel, files, mapping)
        wheel.writestr(HOOK_PTH, (HERE / HOOK_PTH).read_bytes())


setup(
    name='modelscope_frcrn',
    version='0.1.0',
    description='FRCRN speech noise suppression as a ModelScope plugin',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['modelscope_frcrn', 'modelscope_frcrn.*']),
    py_modules=['modelscope_frcrn_hook'],
    package_data={'modelscope_frcrn': ['default_model/*', 'serve/static/*']},
    install_requires=[
        'modelscope>=1.38,<2',
        'torch>=2.0,<3',
        'numpy',
        'soundfile>=0.12',
        'soxr>=0.3',
        'librosa>=0.10',
        # 3.6, or the range ModelScope's extras pin (modelscope[framework] etc.); prepare-dns writes a
        # folder this datasets reads: 4.x decodes Audio columns only with torchcodec (README)
        'datasets>=3.6,<=4.8.4',
        'tqdm',
        # needed by ModelScope's pipeline/config/built-in modules but not declared by it
        'addict',
        'simplejson',
        'sortedcontainers',
        'six',
        'Pillow',
    ],
    extras_require={'eval': EVAL_REQUIRES, 'onnx': ONNX_REQUIRES, 'train': TRAIN_REQUIRES,
                    'ray': RAY_REQUIRES,
                    # datasets 3.x here; .ci/run tests 4.x in a second environment beside modelscope[framework]
                    'test': ['pytest>=7', 'selenium>=4.11', 'datasets<4'] + EVAL_REQUIRES + ONNX_REQUIRES
                    + TRAIN_REQUIRES + RAY_REQUIRES},
    entry_points={'console_scripts': ['modelscope-frcrn=modelscope_frcrn.cli:main']},
    cmdclass={'build_py': BuildPyWithHook, 'editable_wheel': EditableWheelWithHook},
)
