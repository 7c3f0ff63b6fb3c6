"""The registered trainer, built the way the model card builds it, on tiny in-memory data."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer

from conftest import SMALL_WIDTH, write_model_dir
from modelscope_frcrn import FRCRNModel, FRCRNTrainer
from modelscope_frcrn.training import trainer as trainer_module
from training_data import segments, small_batches

def make_trainer(model, work_dir, train=True, max_epochs=4, lr=None, val_iters=3, **kwargs):
    def modify(cfg):
        cfg = small_batches(cfg)
        if lr is not None:
            cfg.train.optimizer.lr = lr
        return cfg
    return build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
        model=str(model), model_revision='beta',
        train_dataset=segments(6, seed=0) if train else None, eval_dataset=segments(6, seed=0),
        work_dir=str(work_dir), max_epochs=max_epochs, train_iters_per_epoch=4,
        val_iters_per_epoch=val_iters, cfg_modify_fn=modify, **kwargs))


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    return write_model_dir(tmp_path_factory.mktemp('untrained'), width=SMALL_WIDTH)


@pytest.fixture(scope='module')
def trained(model_dir, tmp_path_factory):
    """One overfitting run shared by the tests: (trainer, work_dir, eval before, eval after, steps)."""
    work_dir = tmp_path_factory.mktemp('work')
    trainer = make_trainer(model_dir, work_dir)
    before = trainer.evaluate()['avg_sisnr']
    steps = []
    train_step = trainer.train_step
    trainer.train_step = lambda *args: (steps.append((trainer.epoch, trainer.inner_iter)),
                                        train_step(*args))
    trainer.train()
    return trainer, work_dir, before, trainer.evaluate()['avg_sisnr'], steps


def test_model_card_names_build_our_trainer(trained):
    assert type(trained[0]) is FRCRNTrainer


def test_every_epoch_trains_its_iterations_on_fresh_batches(trained):
    # 6 segments in batches of 2 last 3 steps: the built-in's later epochs trained nothing.
    steps = trained[4]
    assert steps == [(epoch, inner) for epoch in range(4) for inner in range(4)]


def test_overfitting_lowers_the_loss(trained):
    _, work_dir, *_ = trained
    log_json = next(work_dir.glob('*.log.json'))
    records = [json.loads(line) for line in log_json.read_text().splitlines() if line.strip()]
    losses = {}
    for record in records:
        if record.get('mode') == 'train':
            losses.setdefault(record['epoch'], []).append(record['loss'])
    assert sorted(losses) == [1, 2, 3, 4]
    assert np.mean(losses[4]) < 0.8 * np.mean(losses[1])


def test_evaluation_is_finite_and_rises_with_training(trained):
    _, _, before, after, _ = trained
    assert np.isfinite(before) and np.isfinite(after)
    assert after > before + 1.0


def test_checkpoints_and_a_reloadable_output_folder(trained):
    trainer, work_dir, *_ = trained
    for epoch in range(1, 5):
        assert (work_dir / f'epoch_{epoch}.pth').is_file()
        assert (work_dir / f'epoch_{epoch}_trainer_state.pth').is_file()
    assert list(work_dir.glob('best_*avg_sisnr*.pth'))
    for output in ('output', 'output_best'):
        assert (work_dir / output / 'configuration.json').is_file()
    reloaded = FRCRNModel(str(work_dir / 'output'), width=SMALL_WIDTH)
    assert reloaded.has_weights
    saved = torch.load(work_dir / 'output' / 'pytorch_model.bin', weights_only=True)
    assert not any(key.startswith('model.') for key in saved)  # the hub release layout
    for key, value in trainer.model.model.state_dict().items():
        assert torch.equal(reloaded.model.state_dict()[key], value), key


def test_resume_continues_from_the_saved_epoch(trained, tmp_path):
    _, work_dir, *_ = trained
    model_dir = work_dir / 'output'
    trainer = make_trainer(model_dir, tmp_path, max_epochs=4)
    steps = []
    train_step = trainer.train_step
    trainer.train_step = lambda *args: (steps.append(trainer.epoch), train_step(*args))
    trainer.train(checkpoint_path=str(work_dir / 'epoch_2.pth'))
    assert steps == [2] * 4 + [3] * 4


def test_fine_tuning_starts_at_the_checkpoint_quality(trained, tmp_path):
    _, work_dir, _, after, _ = trained
    fine_tuner = make_trainer(work_dir / 'output', tmp_path, max_epochs=1, lr=1e-7)
    assert fine_tuner.evaluate()['avg_sisnr'] == pytest.approx(after, abs=1e-4)
    start = {name: value.detach().clone() for name, value in fine_tuner.model.named_parameters()}
    fine_tuner.train()
    # An epoch at lr 1e-7 moves each weight by at most a few 1e-7 (Adam's step is about lr);
    # batch norm's running statistics follow the new batches whatever the lr, so the score may move.
    for name, value in fine_tuner.model.named_parameters():
        assert torch.allclose(value, start[name], rtol=0, atol=1e-5), name
    assert any(not torch.equal(value, start[name])
               for name, value in fine_tuner.model.named_parameters())


def test_model_card_evaluation_snippet_without_train_data(trained, tmp_path):
    _, work_dir, _, after, _ = trained
    trainer = make_trainer(work_dir / 'output', tmp_path, train=False)
    result = trainer.evaluate()
    assert isinstance(result['avg_sisnr'], float)
    assert result['avg_sisnr'] == pytest.approx(after, abs=1e-4)


def test_bf16_runs_the_network_in_bfloat16_and_keeps_loss_and_weights_float32(model_dir, tmp_path):
    trainer = make_trainer(model_dir, tmp_path, max_epochs=1, bf16=True)
    network = trainer.unwrap_module(trainer.model)
    start = {name: value.clone() for name, value in network.state_dict().items()}
    conv = next(module for module in network.modules() if isinstance(module, torch.nn.Conv2d))
    conv_outputs = []
    conv.register_forward_hook(lambda module, inputs, output: conv_outputs.append(output.dtype))
    losses = []
    train_step = trainer.train_step
    trainer.train_step = lambda *args: (train_step(*args), losses.append(trainer.train_outputs['loss']))
    trainer.train()
    assert conv_outputs[:4] == [torch.bfloat16] * 4
    assert [loss.dtype for loss in losses] == [torch.float32] * 4
    assert all(torch.isfinite(loss) for loss in losses)
    trained = network.state_dict()
    assert all(value.dtype == start[name].dtype for name, value in trained.items())
    assert any(not torch.equal(value, start[name]) for name, value in trained.items()
               if value.is_floating_point())
    conv_outputs.clear()
    assert np.isfinite(trainer.evaluate()['avg_sisnr'])
    assert set(conv_outputs) == {torch.float32}  # evaluation stays in float32


@pytest.mark.parametrize('bf16, emulated, warns', [(True, True, True), (True, False, False),
                                                   (False, True, False)])
def test_bf16_warns_only_where_the_cpu_would_emulate_it(model_dir, tmp_path, monkeypatch,
                                                        bf16, emulated, warns):
    monkeypatch.setattr(trainer_module, 'bf16_is_emulated', lambda device: emulated)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        make_trainer(model_dir, tmp_path, max_epochs=1, bf16=bf16)
    slow = [warning for warning in caught if 'without native bfloat16' in str(warning.message)]
    assert len(slow) == warns


def test_bf16_is_never_emulated_on_a_gpu():
    assert not trainer_module.bf16_is_emulated(torch.device('cuda'))


def test_local_model_dir_makes_no_hub_calls(model_dir, tmp_path, monkeypatch):
    import modelscope.trainers.base as trainer_base

    def refuse(*args, **kwargs):
        raise AssertionError('the hub was asked about a local model directory')

    monkeypatch.setattr(trainer_base, 'check_local_model_is_latest', refuse)
    monkeypatch.setattr(trainer_base, 'snapshot_download', refuse)
    assert isinstance(make_trainer(model_dir, tmp_path, max_epochs=1), FRCRNTrainer)


def test_resumed_random_state_is_readable_with_weights_only(trained):
    _, work_dir, *_ = trained
    state = torch.load(work_dir / 'epoch_1_trainer_state.pth', weights_only=True)
    assert isinstance(state['meta']['rng_state']['numpy'][1], list)


@pytest.mark.slow  # CI keeps torchrun through test_evaluation_is_the_same_on_one_and_two_processes
def test_two_processes_with_torchrun(model_dir, tmp_path):
    import subprocess
    import sys

    script = Path(__file__).with_name('torchrun_script.py')
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--standalone', str(script), str(model_dir), str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reports = [(tmp_path / f'report_{rank}.txt').read_text().split() for rank in (0, 1)]
    assert [report[0] for report in reports] == ['0', '1']
    assert reports[0][1:] == reports[1][1:]  # same world size, metrics and weights on both ranks
    assert reports[0][1] == '2' and reports[0][2] == 'DistributedDataParallel'
    assert (tmp_path / 'output' / 'pytorch_model.bin').is_file()


def fingerprint(batch) -> tuple:
    """Which segments a batch holds (each segment's first sample identifies it)."""
    return tuple(round(value, 6) for value in batch['noisy'][:, 0].tolist())


def recording_batches(trainer) -> list:
    """Make ``trainer`` record each batch it draws and train nothing on it (what is tested is
    the data stream; a real step costs seconds)."""
    batches = []

    def step(model, batch):
        batches.append(fingerprint(batch))
        trainer.train_outputs = {'loss': torch.zeros((), requires_grad=True) * 1.0}  # not a leaf

    trainer.train_step = step
    return batches


def test_a_resumed_run_draws_the_same_batches_as_an_uninterrupted_one(model_dir, tmp_path):
    def build(work_dir, epochs=4):  # 6 segments in batches of 2: 3 batches a pass, 4 an epoch
        return make_trainer(model_dir, work_dir, max_epochs=epochs, val_iters=1)

    whole = build(tmp_path / 'whole')
    uninterrupted = recording_batches(whole)
    whole.train()
    interrupted = build(tmp_path / 'interrupted', epochs=2)  # as if stopped after epoch 2
    before = recording_batches(interrupted)
    interrupted.train()
    resumed = build(tmp_path / 'resumed')
    after = recording_batches(resumed)
    resumed.train(checkpoint_path=str(tmp_path / 'interrupted' / 'epoch_2.pth'))

    assert len(uninterrupted) == 16 and len(set(uninterrupted[:3])) == 3  # a pass sees all data
    assert uninterrupted[:3] != uninterrupted[3:6]  # and each pass has its own order
    # epoch 3 starts 2 batches into the third pass: not at pass 0, not at a pass's start
    assert before + after == uninterrupted



def test_evaluation_is_the_same_on_one_and_two_processes(model_dir, tmp_path):
    """val_iters_per_epoch=2 batches of 2 is the first 4 of the 5 segments whatever the number
    of processes: not 2 batches per process, and no segment counted twice to even out shards."""
    import subprocess
    import sys

    script = Path(__file__).with_name('torchrun_evaluate.py')
    arguments = [str(script), str(model_dir), str(tmp_path)]
    for launcher in ([], ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone']):
        result = subprocess.run([sys.executable, *launcher, *arguments], capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    values = {name: float((tmp_path / f'eval_{name}.txt').read_text())
              for name in ('1_0', '2_0', '2_1')}
    assert values['2_0'] == values['2_1']
    assert values['2_0'] == pytest.approx(values['1_0'], abs=1e-4)
    # the CPU hook's gloo group is torn down before interpreter finalization, where gloo's threads
    # once aborted rank 1 after its work was done (and torchrun failed the run)
    assert [(tmp_path / f'exit_2_{rank}.txt').read_text() for rank in (0, 1)] == ['group down'] * 2
