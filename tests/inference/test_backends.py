"""Enhancer backends: the fused fp32 network equals the trainable one (and ModelScope's
built-in), bf16 stays close, the trainable model is left alone, CUDA where there is one."""
import json

import numpy as np
import pytest
import torch

from modelscope_frcrn.inference import build_enhancer
from modelscope_frcrn.inference.backends import TorchEnhancer
from modelscope_frcrn.inference.loading import load_model
from modelscope_frcrn.models import FRCRN, FRCRNModel
from modelscope_frcrn.models.inference_network import fuse_for_inference

from conftest import SMALL_WIDTH, run_python

TOLERANCE = 1e-4  # tests/models/test_parity.py
# bf16 output vs fp32 output of the shipped (trained) model on the held-out asset measured
# 54 dB SI-SNR; a floor of 35 dB (1.8 % error amplitude) catches a broken cast or a
# layer left in the wrong dtype, which gives < 20 dB.
BF16_MIN_SI_SNR_DB = 35.0
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA GPU visible to PyTorch')


def randomise_batch_norms(network: FRCRN, seed: int = 0) -> FRCRN:
    """Non-trivial running statistics and affine parameters, as after training."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in network.state_dict().items():
            if '.bn.' not in name or not tensor.is_floating_point():
                continue
            if name.endswith('running_mean') or name.endswith('.bias'):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
            elif name.endswith('running_var'):
                tensor.copy_(0.5 + 1.5 * torch.rand(tensor.shape, generator=generator))
            elif name.endswith('.weight'):
                tensor.copy_(1 + 0.2 * torch.randn(tensor.shape, generator=generator))
    return network.eval()


def si_snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    estimate, reference = estimate - estimate.mean(), reference - reference.mean()
    target = (estimate @ reference) / (reference @ reference) * reference
    return float(10 * np.log10((target @ target) / ((estimate - target) @ (estimate - target))))


@pytest.fixture(scope='module')
def small_network() -> FRCRN:
    torch.manual_seed(3)
    return randomise_batch_norms(FRCRN(width=SMALL_WIDTH))


@pytest.mark.parametrize('length', [1, 639, 640, 16000, 16000 + 123])
def test_fused_equals_trainable_network(small_network, length):
    torch.manual_seed(length)
    noisy = 0.05 * torch.randn(2, length)
    reference = small_network.enhance(noisy)
    fused = fuse_for_inference(small_network).enhance(noisy)
    assert fused.shape == reference.shape == noisy.shape
    assert (fused - reference).abs().max().item() <= TOLERANCE
    assert reference.abs().max() > 1e-3


@pytest.mark.parametrize('channels_last', [True, False])
@pytest.mark.parametrize('polyphase', [True, False])
def test_fused_layouts_and_polyphase_decoders_equal_reference(small_network, channels_last, polyphase):
    noisy = 0.05 * torch.randn(1, 8000 + 5)
    reference = small_network.enhance(noisy)
    fused = fuse_for_inference(small_network, channels_last=channels_last).set_polyphase(polyphase)
    assert sum(decoder.polyphase for decoder in fused.unet.decoders) == (6 if polyphase else 0)
    assert (fused.enhance(noisy) - reference).abs().max().item() <= TOLERANCE


# Page faults of allocating, filling and freeing a 64 MB block five times, in a fresh process.
MALLOC_PROBE = '''
import resource
import numpy as np
from modelscope_frcrn.inference.backends import tune_malloc
if {tune}:
    assert tune_malloc() is True
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = np.ones(64 * 2**20 // 8)
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults)
'''


@pytest.mark.slow  # a speed tuning, measured in benchmarks/speed.py
def test_malloc_tuning_lets_glibc_reuse_large_blocks():
    import platform

    if platform.libc_ver()[0] != 'glibc':
        pytest.skip('mallopt is glibc-only')
    untuned, tuned = (json.loads(run_python(MALLOC_PROBE.format(tune=tune)).stdout)
                      for tune in (False, True))
    # by default each 64 MB block is mapped anew and faulted in; tuned, the freed one is reused
    assert min(untuned[1:]) > 100
    assert max(tuned[1:]) < min(untuned[1:]) / 10


def test_fused_official_width_equals_modelscope_builtin():
    """The optimised fp32 path against the built-in FRCRN (official width, random weights)."""
    from modelscope.models.audio.ans.frcrn import FRCRN as BuiltinFRCRN

    torch.manual_seed(0)
    builtin = BuiltinFRCRN(complex=True, model_complexity=-1, model_depth=14, log_amp=False,
                           padding_mode='zeros', win_len=640, win_inc=320, fft_len=640,
                           win_type='hann').eval()
    ours = FRCRN()
    ours.load_state_dict(builtin.state_dict())
    randomise_batch_norms(ours, seed=1)
    builtin.load_state_dict(ours.state_dict())
    noisy = 0.05 * torch.randn(1, 16000 + 320)
    fused = fuse_for_inference(ours)
    padded, margin = fused.pad(noisy)
    with torch.no_grad():
        expected = builtin(padded)[4]  # wav_l2
        got = fused(padded)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= TOLERANCE
    assert expected.abs().max() > 0.1


def test_fusing_leaves_the_trainable_model_alone(small_network):
    small_network.train()
    before = {name: tensor.clone() for name, tensor in small_network.state_dict().items()}
    trainable = [name for name, p in small_network.named_parameters() if p.requires_grad]
    fuse_for_inference(small_network).set_unet_dtype(torch.bfloat16)
    after = small_network.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert small_network.training
    assert [name for name, p in small_network.named_parameters() if p.requires_grad] == trainable
    small_network.eval()


def test_enhancer_numpy_contract(random_model_dir):
    model = FRCRNModel(str(random_model_dir), width=SMALL_WIDTH).eval()
    enhancer = build_enhancer(model)
    noisy = (0.05 * np.random.default_rng(0).standard_normal((3, 5000))).astype(np.float32)
    enhanced = enhancer(noisy)
    assert isinstance(enhanced, np.ndarray) and enhanced.dtype == np.float32
    assert enhanced.shape == noisy.shape
    expected = model.model.enhance(torch.from_numpy(noisy)).numpy()
    assert np.abs(enhanced - expected).max() <= TOLERANCE
    unoptimised = TorchEnhancer(model, optimize=False)(noisy)
    assert np.abs(unoptimised - expected).max() == 0


@pytest.mark.slow  # CI keeps bf16 through the CLI and pipeline precision tests
def test_bf16_stays_close_to_fp32_on_speech():
    """The shipped (trained) model on the held-out noisy asset: bf16 vs fp32 output."""
    import soundfile as sf

    from modelscope_frcrn.audio import normalising_gain

    from conftest import REPO_ROOT

    noisy, _ = sf.read(str(REPO_ROOT / 'tests' / 'assets' / 'heldout_noisy.wav'), dtype='float32')
    noisy = noisy[None, :32000]
    noisy = (noisy * normalising_gain(noisy)).astype(np.float32)
    model = load_model(None)
    fp32 = build_enhancer(model)(noisy)
    bf16 = build_enhancer(model, precision='bf16')(noisy)
    assert bf16.dtype == np.float32 and bf16.shape == noisy.shape
    assert si_snr_db(bf16[0], fp32[0]) >= BF16_MIN_SI_SNR_DB


@pytest.mark.parametrize('kwargs, message', [
    (dict(backend='tensorrt'), 'unknown backend'),
    (dict(precision='int8'), 'unknown precision'),
    (dict(precision='fp16'), 'cuda'),
    (dict(device='tpu'), 'device'),
    (dict(backend='onnx', precision='bf16'), 'fp32 only'),
])
def test_bad_backend_choices_are_refused(random_model_dir, kwargs, message):
    model = FRCRNModel(str(random_model_dir), width=SMALL_WIDTH)
    with pytest.raises(ValueError, match=message):
        build_enhancer(model, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message without a GPU')
def test_cuda_without_gpu_says_so(random_model_dir):
    model = FRCRNModel(str(random_model_dir), width=SMALL_WIDTH)
    with pytest.raises(ValueError, match='no CUDA GPU'):
        build_enhancer(model, device='cuda')


@needs_cuda
@pytest.mark.parametrize('precision, floor_db', [('fp32', None), ('fp16', 30.0), ('bf16', 25.0)])
def test_cuda_precisions_match_cpu(random_model_dir, precision, floor_db):
    model = FRCRNModel(str(random_model_dir), width=SMALL_WIDTH).eval()
    noisy = (0.05 * np.random.default_rng(1).standard_normal((2, 16000))).astype(np.float32)
    expected = build_enhancer(model)(noisy)
    got = build_enhancer(model, device='cuda', precision=precision)(noisy)
    assert got.shape == noisy.shape and got.dtype == np.float32
    if floor_db is None:
        assert np.abs(got - expected).max() <= 1e-3  # cuDNN (TF32 off by default) vs CPU
    else:
        assert min(si_snr_db(g, e) for g, e in zip(got, expected)) >= floor_db
