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
