"""Shared fixtures: small FRCRN model directories made on the fly, and test audio."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import soundfile as sf
import torch

from modelscope_frcrn.models import FRCRN

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_WAV = REPO_ROOT / 'examples' / 'speech_with_noise.wav'
SMALL_WIDTH = 16  # a narrow FRCRN: same code paths, fast on CPU


def write_model_dir(directory: Path, state_dict=None, **model_kwargs) -> Path:
    """A ModelScope model directory: the repo's configuration.json with ``model_kwargs``
    applied, and ``state_dict`` saved as pytorch_model.bin (none if ``state_dict`` is None)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = json.loads((REPO_ROOT / 'configuration.json').read_text())
    config['model'].update(model_kwargs)
    (directory / 'configuration.json').write_text(json.dumps(config, indent=2))
    if state_dict is not None:
        torch.save(state_dict, directory / 'pytorch_model.bin')
    return directory


def identity_network(width: int = SMALL_WIDTH) -> FRCRN:
    """An FRCRN whose stage-2 mask is exactly 1 + 0j, so it reconstructs its input.

    Stage 1's output layer is a constant with real part +40 (tanh = 1) and imaginary
    part 0; stage 2's output layer is zero, so mask2 = tanh(0) + tanh(U1) = 1.
    """
    torch.manual_seed(0)
    network = FRCRN(width=width)
    with torch.no_grad():
        for unet, (bias_re, bias_im) in ((network.unet, (20.0, -20.0)),
                                         (network.unet2, (0.0, 0.0))):
            for conv, bias in ((unet.linear.conv_re, bias_re), (unet.linear.conv_im, bias_im)):
                conv.weight.zero_()
                conv.bias.fill_(bias)
    return network


@pytest.fixture(scope='session')
def random_model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    network = FRCRN(width=SMALL_WIDTH)
    return write_model_dir(tmp_path_factory.mktemp('random_model'), network.state_dict(),
                           width=SMALL_WIDTH)


@pytest.fixture(scope='session')
def identity_model_dir(tmp_path_factory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp('identity_model'),
                           identity_network().state_dict(), width=SMALL_WIDTH)


@pytest.fixture(scope='session')
def weightless_model_dir(tmp_path_factory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp('weightless_model'), width=SMALL_WIDTH)


@pytest.fixture
def speech_like(tmp_path) -> np.ndarray:
    """2 s of a harmonic, amplitude-modulated tone plus noise at 16 kHz, float32 [T]."""
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    return (0.1 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = 16000,
              subtype: str = 'PCM_16') -> Path:
    sf.write(str(path), samples, sample_rate, subtype=subtype)
    return path


@pytest.fixture
def example_copy(tmp_path) -> Path:
    """A copy of the example recording in a temporary folder."""
    return Path(shutil.copy(EXAMPLE_WAV, tmp_path / 'noisy.wav'))


def load_script(path: Path):
    """A script that is not in a package (a recipe's), imported as a module named after its file.
    It is registered in ``sys.modules`` as an import would be: its dataclasses look it up there."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_python(code: str, env: Optional[dict] = None, timeout: float = 300,
               executable: str = sys.executable, cwd=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (start-up hooks and all); raise with its output on failure."""
    result = subprocess.run([executable, '-c', textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, **(env or {})},
                            cwd=cwd)
    if result.returncode != 0:
        raise AssertionError(f'subprocess failed ({result.returncode}):\n'
                             f'{result.stdout}\n{result.stderr}')
    return result
