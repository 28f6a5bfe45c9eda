"""The one runner for many trainings (gpo_vae.jobs): in this process, through redun's
local process pool, and clear errors for executors that are not defined."""

from __future__ import annotations

import pytest

from gpo_vae.errors import ConfigError
from gpo_vae.jobs import job_threads, redun_config, run_jobs

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
