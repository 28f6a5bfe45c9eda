"""The one runner for many trainings (gpo_vae.jobs): in this process, through redun's
local process pool, and clear errors for executors that are not defined."""

from __future__ import annotations

import pytest

from gpo_vae.errors import ConfigError
from gpo_vae.jobs import POOL_ENVS, job_environment, job_threads, redun_config, run_jobs

JOBS = [{"workers": 1}, {"workers": 2}, {"workers": 64}]


def test_one_local_worker_runs_the_jobs_here_in_order(tmp_path):
    assert run_jobs("gpo_vae.jobs:job_threads", JOBS, folder=tmp_path) == \
        [job_threads(**job) for job in JOBS]
    assert run_jobs("gpo_vae.jobs:job_threads", [], folder=tmp_path) == []
    assert not (tmp_path / ".redun").exists()      # no database for work done here


@pytest.mark.integration    # starts worker processes
def test_redun_workers_give_the_same_results_in_order(tmp_path):
    assert run_jobs("gpo_vae.jobs:job_threads", JOBS, folder=tmp_path, workers=2) == \
        [job_threads(**job) for job in JOBS]
    assert (tmp_path / ".redun" / "redun.db").is_file()


@pytest.mark.integration    # starts worker processes
def test_redun_workers_size_every_thread_pool_to_their_share(tmp_path):
    # numba's pool (started by scanpy) resized torch's OpenMP team to every core: two
    # jobs on two cores then ran 100x slower
    share = str(job_threads(2))
    jobs = [{"key": name} for name in POOL_ENVS]
    assert run_jobs("os:getenv", jobs, folder=tmp_path, workers=2) == [share] * len(jobs)


def test_the_job_environment_is_restored_and_keeps_a_smaller_user_setting(monkeypatch):
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "64")
    with job_environment(1):
        import os

        share = str(job_threads(1))
        assert os.environ["NUMBA_NUM_THREADS"] == share
        assert os.environ["OMP_NUM_THREADS"] == "1"              # the user's, smaller
        assert os.environ["MKL_NUM_THREADS"] == share            # not more than the share
    assert "NUMBA_NUM_THREADS" not in os.environ
    assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "64"


def test_executors_and_configs_are_checked_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"^executor='k8s' is not defined; choose one of "
                                          r"local"):
        redun_config(tmp_path, 2, "k8s")
    with pytest.raises(ConfigError, match=r"^redun_config='.*none.ini' not found"):
        redun_config(tmp_path, 2, "local", tmp_path / "none.ini")
    broken = tmp_path / "broken.ini"
    broken.write_text("[executors.k8s\ntype = k8s\n")
    with pytest.raises(ConfigError, match="is not a valid redun config"):
        redun_config(tmp_path, 2, "local", broken)
    with pytest.raises(ConfigError, match=r"^workers=0 must be at least 1"):
        run_jobs("gpo_vae.jobs:job_threads", JOBS, folder=tmp_path, workers=0)
    defined = tmp_path / "redun.ini"
    defined.write_text("[executors.batch]\ntype = local\nmax_workers = 3\n")
    assert "batch" in redun_config(tmp_path, 2, "batch", defined).get("executors")
