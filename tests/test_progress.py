"""Progress of long steps: a bar on a terminal, whole plain lines in logs and pipes."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from gpo_vae import progress as progress_mod
from gpo_vae.progress import PlainProgress, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gpo_vae.progress"]


def test_without_a_terminal_progress_is_a_few_plain_lines(caplog):
    stream = io.StringIO()
    caplog.set_level(logging.INFO, logger="gpo_vae.progress")
    bar = progress(range(10), desc="pairing controls", unit="perturbations", stream=stream)
    assert isinstance(bar, PlainProgress)
    assert list(bar) == list(range(10))
    lines = _lines(caplog)
    assert lines[0] == "pairing controls: started (10 perturbations)"
    assert lines[-1].startswith("pairing controls: done, 10 perturbations in ")
    assert len(lines) <= 2 + progress_mod.QUARTERS - 1
    assert stream.getvalue() == ""   # nothing drawn on the stream itself
    assert not any("\r" in line for line in lines)


def test_plain_progress_reports_each_quarter_on_slow_steps(caplog, monkeypatch):
    monkeypatch.setattr(progress_mod, "MIN_SECONDS_BETWEEN_LINES", 0.0)
    caplog.set_level(logging.INFO, logger="gpo_vae.progress")
    with progress(total=8, desc="benchmark split 0", unit="jobs", stream=io.StringIO()) as bar:
        for _ in range(8):
            bar.update()
    assert _lines(caplog) == [
        "benchmark split 0: started (8 jobs)", "benchmark split 0: 2/8 jobs (25%)",
        "benchmark split 0: 4/8 jobs (50%)", "benchmark split 0: 6/8 jobs (75%)",
        _lines(caplog)[-1]]
    assert _lines(caplog)[-1].startswith("benchmark split 0: done, 8 jobs")


def test_disabled_progress_says_nothing(caplog):
    caplog.set_level(logging.INFO, logger="gpo_vae.progress")
    assert list(progress([1, 2], desc="quiet", enabled=False, stream=io.StringIO())) == [1, 2]
    assert _lines(caplog) == []


def test_on_a_terminal_progress_is_a_tqdm_bar():
    from tqdm import tqdm

    stream = _Terminal()
    bar = progress(range(3), desc="simulating cells", stream=stream)
    assert isinstance(bar, tqdm)
    assert list(bar) == [0, 1, 2]
    assert "simulating cells" in stream.getvalue()


@pytest.mark.parametrize("module", ["gpo_vae.data.pairing", "gpo_vae.simulation.simulator",
                                    "gpo_vae.evaluation.predict",
                                    "gpo_vae.evaluation.likelihood",
                                    "gpo_vae.benchmarking.runner"])
def test_no_module_draws_tqdm_bars_itself(module):
    import importlib
    import inspect

    assert "tqdm" not in inspect.getsource(importlib.import_module(module))


@pytest.mark.integration   # the whole preparation, written to disk
def test_prepare_writes_no_carriage_returns_into_a_log(tmp_path, small_screen_path):
    """`gpo-vae prepare > prepare.log 2>&1`: plain lines, the pairing step among them."""
    result = subprocess.run(
        [sys.executable, "-m", "gpo_vae", "prepare", "--set", f"data.path={small_screen_path}",
         "--set", "data.preset=simulated", "--set", f"data.cache_dir={tmp_path}"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr + result.stdout
    assert "pairing controls: done" in result.stderr
