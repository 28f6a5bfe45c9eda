"""gpo-vae download against a loopback server: fetch, resume, checksum, offline,
present files and --force. No test reaches the internet."""

from __future__ import annotations

import hashlib
import re

import pytest

import gpo_vae.download as dl
from gpo_vae.cli import main
from gpo_vae.download.fetch import DownloadError, fetch, part_path
from gpo_vae.download.registry import DATASETS, Dataset, Output, Source

BODY = bytes(range(256)) * 40  # 10,240 bytes
LARGE = bytes(range(256)) * 2000  # 512,000 bytes: several chunks of a transfer


def _source(url: str, body: bytes = BODY, checksum: str | None = "md5") -> Source:
    digest = None if checksum is None else f"md5:{hashlib.md5(body).hexdigest()}"
    return Source(url=url, filename="screen.h5ad", size=len(body), checksum=digest)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_fetch_writes_the_verified_file(server, tmp_path):
    server.files["/screen.h5ad"] = BODY
    out = fetch(_source(server.url("/screen.h5ad")), tmp_path / "screen.h5ad", quiet=True)
    assert out.read_bytes() == BODY
    assert _leftovers(tmp_path) == ["screen.h5ad"]  # no temporary or partial file


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.files["/screen.h5ad"] = LARGE
    server.cut["/screen.h5ad"] = 300_000
    source, target = _source(server.url("/screen.h5ad"), LARGE), tmp_path / "screen.h5ad"
    with pytest.raises(DownloadError, match="cannot download .*screen.h5ad"):
        fetch(source, target, quiet=True)
    assert not target.exists()  # nothing under the final name ...
    kept = part_path(target).stat().st_size  # ... the whole chunks kept for resuming
    assert 0 < kept <= 300_000
    fetch(source, target, quiet=True)
    assert target.read_bytes() == LARGE
    assert server.requests[-1] == ("/screen.h5ad", f"bytes={kept}-")
    assert _leftovers(tmp_path) == ["screen.h5ad"]


def test_checksum_mismatch_is_refused_and_nothing_kept(server, tmp_path):
    server.files["/screen.h5ad"] = BODY
    wrong = Source(url=server.url("/screen.h5ad"), filename="screen.h5ad", size=len(BODY),
                   checksum="md5:" + "0" * 32)
    with pytest.raises(DownloadError, match="wrong checksum") as info:
        fetch(wrong, tmp_path / "screen.h5ad", quiet=True)
    assert "\n" not in str(info.value)
    assert _leftovers(tmp_path) == []


def test_wrong_size_is_refused(server, tmp_path):
    server.files["/screen.h5ad"] = BODY
    wrong = Source(url=server.url("/screen.h5ad"), filename="screen.h5ad",
                   size=len(BODY) + 1, checksum=None)
    with pytest.raises(DownloadError, match="10,240 bytes instead of 10,241"):
        fetch(wrong, tmp_path / "screen.h5ad", quiet=True)
    assert _leftovers(tmp_path) == []


def test_unreachable_host_is_one_line_naming_the_url(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}/screen.h5ad"
    with pytest.raises(DownloadError) as info:
        fetch(_source(url), tmp_path / "screen.h5ad", quiet=True)
    message = str(info.value)
    assert url in message and "by hand" in message and "\n" not in message
    assert not (tmp_path / "screen.h5ad").exists()


@pytest.fixture
def fake_registry(server, monkeypatch):
    """A registry entry ``tiny`` served by the loopback server."""
    server.files["/screen.h5ad"] = BODY
    entry = Dataset(name="tiny", description="a tiny file",
                    outputs=(Output("tiny/screen.h5ad", _source(server.url("/screen.h5ad"))),),
                    licence="CC0", citation="none", page="http://127.0.0.1/")
    monkeypatch.setitem(DATASETS, "tiny", entry)
    return entry


def test_present_file_is_not_fetched_again_and_force_fetches(server, fake_registry,
                                                             tmp_path):
    assert dl.download("tiny", tmp_path, quiet=True) == [tmp_path / "tiny/screen.h5ad"]
    assert len(server.requests) == 1
    dl.download(["tiny"], tmp_path, quiet=True)
    assert len(server.requests) == 1  # present and verified: no request
    dl.download(["tiny"], tmp_path, force=True, quiet=True)
    assert len(server.requests) == 2


def test_corrupt_present_file_is_fetched_again(server, fake_registry, tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny/screen.h5ad").write_bytes(b"truncated")
    dl.download("tiny", tmp_path, quiet=True)
    assert (tmp_path / "tiny/screen.h5ad").read_bytes() == BODY


def test_cli_download_and_offline_error(server, fake_registry, tmp_path, capsys,
                                        monkeypatch, closed_port):
    assert main(["download", "tiny", "--dir", str(tmp_path), "--quiet"]) == 0
    assert "ok: " in capsys.readouterr().out
    offline = Dataset(name="offline", description="", licence="", citation="", page="",
                      outputs=(Output("x.h5ad", _source(
                          f"http://127.0.0.1:{closed_port}/x.h5ad")),))
    monkeypatch.setitem(DATASETS, "offline", offline)
    assert main(["download", "offline", "--dir", str(tmp_path), "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"error: cannot download http://127\.0\.0\.1:\d+/x\.h5ad .*", err)
    assert "Traceback" not in err and not (tmp_path / "x.h5ad").exists()


def test_unknown_name_is_refused_before_any_work(tmp_path, capsys):
    assert main(["download", "rpe1", "nope", "--dir", str(tmp_path)]) != 0
    assert "unknown data set 'nope'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_extract_member_of_an_archive(server, monkeypatch, tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("summary_stats/summary_stats_adamson.csv")
        info.size = len(b"a,b\n1,2\n")
        tar.addfile(info, io.BytesIO(b"a,b\n1,2\n"))
    server.files["/stats.tar.gz"] = buffer.getvalue()
    source = Source(url=server.url("/stats.tar.gz"), filename="stats.tar.gz", size=None,
                    checksum=None, checksum_note="test")
    monkeypatch.setitem(DATASETS, "stats", Dataset(
        name="stats", description="", licence="", citation="", page="",
        outputs=(Output("summary_stats_adamson.csv", source,
                        "extract:summary_stats_adamson.csv"),)))
    (out,) = dl.download("stats", tmp_path, quiet=True)
    assert out.read_bytes() == b"a,b\n1,2\n"
    dl.download("stats", tmp_path, quiet=True)
    assert len(server.requests) == 1  # converted output present: nothing fetched
