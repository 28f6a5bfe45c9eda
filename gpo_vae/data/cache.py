"""Cache of prepared data: an h5ad plus a JSON manifest, keyed by input and settings.

The key hashes the input file's bytes, the summary-statistics file's bytes and every
setting that changes the result, so a second run with the same inputs and settings
reuses the work, and any change prepares afresh. The manifest is written last: an
interrupted run leaves no manifest, so a half-written cache is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

#: Bump when preparation changes what it writes, so old caches are not reused.
PREPARE_VERSION = 2  # 2: deltaX per batch, no obsm["delta_x"]

# Settings that change only how batches are served, not what is prepared.
_LOADING_ONLY = {"batch_size", "num_workers", "cache_dir", "path", "summary_stats", "backend",
                 "backed", "pin_memory"}


def file_digest(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """BLAKE2b digest of a file's bytes (streamed; GB-sized files take seconds)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_key(data_settings: dict, input_digest: str, stats_digest: str | None) -> str:
    """Short hex key for the prepared data of these inputs and settings."""
    relevant = {k: v for k, v in sorted(data_settings.items()) if k not in _LOADING_ONLY}
    payload = json.dumps(
        {"version": PREPARE_VERSION, "input": input_digest, "stats": stats_digest,
         "settings": relevant}, sort_keys=True, default=str,
    )
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def cache_paths(cache_dir: str | os.PathLike, key: str) -> tuple[Path, Path]:
    """``(prepared h5ad, manifest json)`` for a key."""
    base = Path(cache_dir)
    return base / f"prepared_{key}.h5ad", base / f"prepared_{key}.json"


def read_manifest(manifest_path: Path, data_path: Path) -> dict | None:
    """The manifest if the cache entry is complete and readable, else None."""
    if not (manifest_path.is_file() and data_path.is_file()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != PREPARE_VERSION:
        return None
    return manifest
