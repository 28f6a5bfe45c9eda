"""The prepared-data cache (gpo_vae/data/cache.py): keys that follow the settings and the
input bytes, the manifest round trip, and incomplete entries read as misses."""

from __future__ import annotations

import json

import pytest

from gpo_vae.data import cache
from gpo_vae.io import write_json_atomic

SETTINGS = {"preset": "simulated", "split": "cells", "seed": 0, "min_cells": 5,
            "batch_size": 128, "num_workers": 0, "cache_dir": "/a", "path": "/in.h5ad"}


def test_file_digest_follows_the_bytes_not_the_name(tmp_path):
    a, b, c = tmp_path / "a.h5ad", tmp_path / "b.h5ad", tmp_path / "c.h5ad"
    a.write_bytes(b"\x00counts" * 1000)
    b.write_bytes(b"\x00counts" * 1000)
    c.write_bytes(b"\x00counts" * 999 + b"\x00countz")
    assert cache.file_digest(a) == cache.file_digest(b)
    assert cache.file_digest(a) != cache.file_digest(c)
    assert len(cache.file_digest(a)) == 32                    # 16-byte BLAKE2b, hex
    # streaming in small chunks gives the same digest as one read
    assert cache.file_digest(a, chunk=7) == cache.file_digest(a)


def test_key_is_stable_and_changes_with_settings_and_inputs():
    key = cache.cache_key(SETTINGS, "digest", None)
    assert key == cache.cache_key(dict(reversed(SETTINGS.items())), "digest", None)
    assert len(key) == 16 and int(key, 16) >= 0
    for name, value in [("split", "perturbations"), ("seed", 1), ("min_cells", 6),
                        ("new_setting", True)]:
        assert cache.cache_key({**SETTINGS, name: value}, "digest", None) != key, name
    assert cache.cache_key(SETTINGS, "other digest", None) != key
    assert cache.cache_key(SETTINGS, "digest", "stats digest") != key


def test_loading_only_settings_leave_the_key_alone():
    key = cache.cache_key(SETTINGS, "digest", None)
    for name, value in [("batch_size", 64), ("num_workers", 4), ("cache_dir", "/b"),
                        ("path", "/moved.h5ad"), ("summary_stats", "/s.csv"),
                        ("backend", "gpu")]:
        assert cache.cache_key({**SETTINGS, name: value}, "digest", None) == key, name


def test_key_changes_with_the_prepare_version(monkeypatch):
    key = cache.cache_key(SETTINGS, "digest", None)
    monkeypatch.setattr(cache, "PREPARE_VERSION", cache.PREPARE_VERSION + 1)
    assert cache.cache_key(SETTINGS, "digest", None) != key


def test_cache_paths_name_the_key(tmp_path):
    data, manifest = cache.cache_paths(tmp_path, "abc123")
    assert data == tmp_path / "prepared_abc123.h5ad"
    assert manifest == tmp_path / "prepared_abc123.json"


def _entry(tmp_path, manifest: dict | None = None):
    data, manifest_path = cache.cache_paths(tmp_path, "k")
    data.write_bytes(b"prepared")
    content = {"version": cache.PREPARE_VERSION, "key": "k", "n_cells": 12,
               "cells_per_split": {"train": 8, "val": 2, "test": 2}, "settings": SETTINGS}
    write_json_atomic(manifest_path, content if manifest is None else manifest)
    return data, manifest_path, content


def test_manifest_round_trip(tmp_path):
    data, manifest_path, written = _entry(tmp_path)
    assert cache.read_manifest(manifest_path, data) == written


@pytest.mark.parametrize("damage", ["no manifest", "no data", "truncated manifest",
                                    "empty manifest", "old version", "no version",
                                    "not an object"])
def test_an_incomplete_or_stale_entry_is_a_miss(tmp_path, damage):
    data, manifest_path, written = _entry(tmp_path)
    if damage == "no manifest":
        manifest_path.unlink()
    elif damage == "no data":
        data.unlink()
    elif damage == "truncated manifest":
        text = manifest_path.read_text()
        manifest_path.write_text(text[: len(text) // 2])
    elif damage == "empty manifest":
        manifest_path.write_text("")
    elif damage == "old version":
        manifest_path.write_text(json.dumps({**written, "version": cache.PREPARE_VERSION - 1}))
    elif damage == "no version":
        manifest_path.write_text(json.dumps({k: v for k, v in written.items()
                                             if k != "version"}))
    elif damage == "not an object":
        manifest_path.write_text("[1, 2]")
    assert cache.read_manifest(manifest_path, data) is None


def test_a_folder_in_place_of_the_files_is_a_miss(tmp_path):
    data, manifest_path = cache.cache_paths(tmp_path, "k")
    data.mkdir()
    manifest_path.mkdir()
    assert cache.read_manifest(manifest_path, data) is None
