"""An interrupted and resumed run equals an uninterrupted one: same steps, same weights,
same best validation loss, whatever stopped it (a signal mid-epoch or mid-step, an
epoch or step limit raised on resume, a kill after a checkpoint)."""

import logging
import os
import shutil
import signal

import pytest
import torch

from gpo_vae.training.checkpoint import load_trained
from gpo_vae.training.plan import TrainingPlan
from gpo_vae.training.train import TrainingInterrupted, train

pytestmark = pytest.mark.integration  # every test here trains

EPOCHS = 3  # 6 steps an epoch on the small screen


def _quiet(message: str) -> None:
    pass


@pytest.fixture(scope="module")
def whole(tiny_config, small_screen_path, shared_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    config = tiny_config(out, small_screen_path, shared_cache,
                         training={"max_epochs": EPOCHS})
    return train(config)


def _same_as_whole(whole, resumed) -> None:
    assert resumed.summary["steps"] == whole.summary["steps"]
    assert resumed.summary["epochs"] == whole.summary["epochs"]
    assert resumed.summary["best_val_loss"] == pytest.approx(whole.summary["best_val_loss"],
                                                             abs=1e-4)
    a, b = load_trained(whole.last_checkpoint), load_trained(resumed.last_checkpoint)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6, msg=name)


def _signal_at(monkeypatch, hook: str, step: int, sig: signal.Signals) -> None:
    """Send ``sig`` to this process from ``hook`` of the plan when at ``step``."""
    fired = []

    def fire(self, *args, **kwargs):
        if self.global_step == step and not fired:
            fired.append(True)
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(TrainingPlan, hook, fire, raising=False)


@pytest.mark.parametrize("sig, hook, step", [
    (signal.SIGTERM, "on_train_batch_end", 8),          # between steps, mid-epoch
    (signal.SIGINT, "on_before_optimizer_step", 3),     # inside a step
    (signal.SIGINT, "on_before_optimizer_step", 11),    # inside an epoch's last step
])
def test_a_signal_stops_at_a_step_and_resume_is_exact(whole, make_config, tmp_path,
                                                      monkeypatch, sig, hook, step, caplog):
    run = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)   # another test of the session may change it
    with monkeypatch.context() as patch:
        _signal_at(patch, hook, step, sig)
        with pytest.raises(TrainingInterrupted, match=rf"{sig.name} after step \d+.*resume=True"):
            train(make_config(max_epochs=EPOCHS), run_dir=run)
    assert signal.getsignal(signal.SIGINT) is before     # put back, not left to Lightning
    caplog.set_level(logging.INFO, logger="gpo_vae")
    resumed = train(make_config(max_epochs=EPOCHS), run_dir=run, resume=True)
    assert any("training continues after step" in line for line in caplog.messages)
    _same_as_whole(whole, resumed)


@pytest.mark.parametrize("limit", [{"max_epochs": 2}, {"max_epochs": EPOCHS, "max_steps": 7}])
def test_raising_a_limit_on_resume_is_exact(whole, make_config, tmp_path, limit):
    run = tmp_path / "run"
    train(make_config(**limit), run_dir=run)
    resumed = train(make_config(max_epochs=EPOCHS), run_dir=run, resume=True)
    _same_as_whole(whole, resumed)


def test_resume_after_a_kill_continues_from_the_epoch_checkpoint(whole, make_config, tmp_path,
                                                                monkeypatch):
    """A SIGKILL leaves the folder as it was after the last epoch's checkpoint: copy it
    there, then resume the copy."""
    run, killed = tmp_path / "run", tmp_path / "killed"

    def snapshot(self):
        if self.current_epoch == 2 and not killed.exists():
            shutil.copytree(run, killed, ignore=shutil.ignore_patterns(".lock"))

    monkeypatch.setattr(TrainingPlan, "on_train_epoch_start", snapshot, raising=False)
    train(make_config(max_epochs=EPOCHS), run_dir=run)
    monkeypatch.undo()
    resumed = train(make_config(max_epochs=EPOCHS), run_dir=killed, resume=True)
    _same_as_whole(whole, resumed)
