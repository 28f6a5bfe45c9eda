"""One home for run-time settings and messages: gv.settings, standard logging, job logs."""

from __future__ import annotations

import logging
import threading

import pytest

import gpo_vae as gv
from gpo_vae.errors import ConfigError
from gpo_vae.progress import PlainProgress, console_logging, job_log, no_progress, progress


def test_verbosity_is_the_package_loggers_level_and_override_puts_it_back():
    before = gv.settings.verbosity
    with gv.settings.override(verbosity="info", progress_bar=False):
        assert gv.settings.verbosity == logging.INFO
        assert logging.getLogger("gpo_vae.data.prepare").getEffectiveLevel() == logging.INFO
        assert not gv.settings.progress_bar
    assert gv.settings.verbosity == before and gv.settings.progress_bar
    assert "progress_bar=True" in repr(gv.settings)


@pytest.mark.parametrize("change, match", [
    ({"verbosity": "loud"}, r"^verbosity='loud' is not a level"),
    ({"progress_bar": "no"}, r"^progress_bar='no' must be True or False"),
    ({"seed": -1}, r"^seed=-1 must be >= 0"),
    ({"colour": 1}, r"^'colour' is not a setting"),
])
def test_bad_settings_are_one_line_errors(change, match):
    with pytest.raises(ConfigError, match=match), gv.settings.override(**change):
        pass
    assert gv.settings.progress_bar and gv.settings.seed is None


def test_progress_follows_the_setting_and_quiet_blocks():
    with gv.settings.override(progress_bar=False):
        assert not progress(range(3), desc="x").enabled
    with no_progress():
        assert not progress(range(3), desc="x").enabled
    bar = progress(range(3), desc="x")       # not a terminal here: plain lines
    assert isinstance(bar, PlainProgress) and bar.enabled


def test_the_command_line_shows_messages_on_stdout_and_warnings_on_stderr(capsys):
    log = logging.getLogger("gpo_vae.data.prepare")
    with console_logging():
        log.info("a message")
        log.warning("a doubt")
        logging.getLogger("gpo_vae.progress").info("a progress line")
    log.info("after: not shown")
    out, err = capsys.readouterr()
    assert out == "a message\n"
    assert err == "warning: a doubt\na progress line\n"


def test_a_jobs_lines_go_to_its_file_only_and_other_threads_are_untouched(tmp_path, capsys):
    log = logging.getLogger("gpo_vae.training.train")
    seen_elsewhere = []

    def other_thread():
        seen_elsewhere.append(progress(range(2), desc="y").enabled)
        log.info("from another thread")

    with console_logging(), job_log(tmp_path / "job" / "log.txt"):
        log.info("inside the job")
        assert not progress(range(2), desc="x").enabled
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    text = (tmp_path / "job" / "log.txt").read_text()
    assert "inside the job" in text and "another thread" not in text
    assert capsys.readouterr().out == "from another thread\n"
    assert seen_elsewhere == [True]


def test_verbosity_info_shows_messages_in_a_plain_python_session():
    """Python's logging drops info records when nothing handles them: setting the
    verbosity adds a plain stderr handler, once, unless logging is configured."""
    import subprocess
    import sys

    code = ("import logging, gpo_vae as gv; gv.settings.verbosity = 'info'; "
            "gv.settings.verbosity = 'info'; "
            "logging.getLogger('gpo_vae.data.prepare').info('preparing x')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stderr == "preparing x\n" and done.stdout == ""


@pytest.mark.parametrize("env,expected", [
    ({"OMP_NUM_THREADS": "1"}, "1"),                          # follows the OpenMP limit
    ({"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}, "2"),  # the user's own is kept
    ({"OMP_NUM_THREADS": "lots"}, None),                      # not a count: left alone
    ({}, None)])
def test_numba_threads_follow_omp_num_threads_when_only_that_is_set(env, expected):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    code = "import os, gpo_vae; print(os.environ.get('NUMBA_NUM_THREADS'))"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(expected)
