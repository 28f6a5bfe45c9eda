"""Atomic writes: a failed write leaves neither a partial file nor a temporary one."""

from __future__ import annotations

import pytest

from gpo_vae.io import atomic_path, write_json_atomic, write_text_atomic


def test_atomic_write_replaces_the_target(tmp_path):
    target = tmp_path / "sub" / "a.json"
    write_json_atomic(target, {"x": 1})
    write_json_atomic(target, {"x": 2})
    assert target.read_text().strip().endswith("}") and '"x": 2' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


def test_atomic_files_follow_the_umask_and_json_has_no_nan(tmp_path):
    import json
    import os
    import stat

    from gpo_vae.io import write_json_atomic

    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "m.json",
                                 {"a": float("nan"), "b": [1.5, float("inf")]})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5, None]}
    assert "NaN" not in path.read_text()


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_staged_folder_publishes_everything_on_success_and_nothing_on_failure(tmp_path):
    from gpo_vae.io import staged_folder

    out = tmp_path / "out"
    with staged_folder(out, last=("metrics.json",)) as stage:
        (stage / "plots").mkdir()
        (stage / "plots" / "a.png").write_text("png")
        (stage / "metrics.json").write_text("{}")
        assert not (out / "metrics.json").exists()
    assert (out / "plots" / "a.png").read_text() == "png"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "plots"]
    import pytest

    with pytest.raises(RuntimeError):
        with staged_folder(tmp_path / "failed") as stage:
            (stage / "metrics.json").write_text("{}")
            raise RuntimeError("killed")
    assert list((tmp_path / "failed").iterdir()) == []


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    import os

    from gpo_vae.io import remove_stale_temporaries

    dead = tmp_path / f".prepared_x.h5ad.tmp{_dead_pid()}-abc.h5ad"
    live = tmp_path / f".prepared_y.h5ad.tmp{os.getpid()}-abc.h5ad"
    stale_stage = tmp_path / f".staging.tmp{_dead_pid()}-xyz"
    for path in (dead, live):
        path.write_text("partial")
    stale_stage.mkdir()
    (tmp_path / "keep.h5ad").write_text("result")
    removed = remove_stale_temporaries(tmp_path)
    assert set(removed) == {dead, stale_stage}
    assert live.exists() and (tmp_path / "keep.h5ad").exists()


def test_output_folders_that_cannot_be_written_are_one_line_errors(tmp_path):
    import pytest

    from gpo_vae.errors import ConfigError
    from gpo_vae.io import require_writable_folder

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        require_writable_folder(a_file, "--out")
    with pytest.raises(ConfigError, match="lies inside the file"):
        require_writable_folder(a_file / "run", "--out")
    assert require_writable_folder(tmp_path / "new" / "run", "--out") == tmp_path / "new" / "run"
