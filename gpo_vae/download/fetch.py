"""Fetching one remote file: resumable, verified, under a temporary name until complete.

:func:`fetch` hands the verification to pooch (``pooch.retrieve`` with the registry's
checksum: a file that fails it is deleted, never renamed into place) and does the
transfer itself so that an interrupted download resumes: the bytes go to
``.<name>.part`` beside the target and a later call asks the server for the rest with an
HTTP ``Range`` header. Google Drive files go through gdown (which resumes the same way).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gpo_vae.download.registry import Source
from gpo_vae.errors import GpoVaeError, InputFileError
from gpo_vae.progress import progress

logger = logging.getLogger("gpo_vae.download")

#: Bytes read per chunk (an interruption loses at most the chunk in flight), and seconds
#: to wait for a server before giving up.
CHUNK = 1 << 16
TIMEOUT = 60


class DownloadError(GpoVaeError):
    """A download failed: unreachable host, refused request, wrong size or checksum."""


def part_path(target: Path) -> Path:
    """Where the bytes of an unfinished download of ``target`` are kept for resuming."""
    return target.with_name(f".{target.name}.part")


def verified(path: Path, source: Source) -> bool:
    """Whether ``path`` is a complete copy of ``source`` (size and checksum, where the
    registry has them)."""
    import pooch

    if not path.is_file():
        return False
    if source.size is not None and path.stat().st_size != source.size:
        return False
    if source.checksum is None:
        return True
    algorithm, expected = source.checksum.split(":", 1)
    return pooch.file_hash(str(path), alg=algorithm) == expected.lower()


def _transfer(url: str, output_file: str, *, resume_from: Path, quiet: bool) -> None:
    """Stream ``url`` into ``resume_from`` (appending to what it holds), then move it to
    ``output_file`` (pooch's temporary name). Leaves ``resume_from`` on failure."""
    import requests

    have = resume_from.stat().st_size if resume_from.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
        if have and response.status_code == 416:  # the part is already complete
            os.replace(resume_from, output_file)
            return
        response.raise_for_status()
        if have and response.status_code != 206:  # server ignored Range: start again
            have = 0
        total = int(response.headers.get("Content-Length", 0)) + have or None
        if have:
            logger.info("resuming %s at %s bytes", resume_from.name[1:-5], f"{have:,}")
        with open(resume_from, "ab" if have else "wb") as handle, \
                progress(desc=f"downloading {Path(output_file).name}", total=total,
                         unit="bytes", enabled=not quiet) as bar:
            bar.update(have)
            for chunk in response.iter_content(CHUNK):
                handle.write(chunk)
                bar.update(len(chunk))
    os.replace(resume_from, output_file)


def _google_drive(file_id: str, output_file: str, *, resume_from: Path, quiet: bool) -> None:
    import gdown

    result = gdown.download(id=file_id, output=str(resume_from), quiet=quiet, resume=True)
    if result is None:
        raise OSError(f"Google Drive refused file {file_id} (quota or permission)")
    os.replace(resume_from, output_file)


def fetch(source: Source, target: str | os.PathLike, *, quiet: bool = False) -> Path:
    """Download ``source`` to ``target``, verified; resume an interrupted earlier try.

    The file appears under ``target`` only once it is complete and its size and checksum
    (where published) match; a mismatch deletes it and raises :class:`DownloadError`, an
    unreachable host raises it with the URL and the partial bytes are kept for the next
    try. An existing ``target`` is replaced (callers check :func:`verified` first).

    Examples
    --------
    >>> from gpo_vae.download.registry import dataset
    >>> source = dataset("rpe1").outputs[0].source
    >>> fetch(source, "datasets/rpe1_raw_singlecell_01.h5ad")  # doctest: +SKIP
    """
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # our own progress lines say it
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(target)
    staging = target.with_name(f".{target.name}.download")
    staging.unlink(missing_ok=True)

    def downloader(url: str, output_file: str, _pooch) -> None:
        if source.google_drive_id:
            _google_drive(source.google_drive_id, output_file, resume_from=part, quiet=quiet)
        else:
            _transfer(url, output_file, resume_from=part, quiet=quiet)

    try:
        pooch.retrieve(source.url, known_hash=source.checksum, fname=staging.name,
                       path=str(target.parent), downloader=downloader, progressbar=False)
    except ValueError as exc:  # pooch: checksum mismatch (the file is already deleted)
        part.unlink(missing_ok=True)
        raise DownloadError(f"{source.url} arrived with the wrong checksum "
                            f"({str(exc).splitlines()[0][:100]}); nothing was kept, run "
                            "the command again") from None
    except Exception as exc:  # requests, gdown, OSError: many types, one message
        raise DownloadError(f"cannot download {source.url} ({_reason(exc)}); check the "
                            "connection and run the command again (a partial download "
                            "resumes), or fetch the file by hand and put it at "
                            f"{target}") from None
    if source.size is not None and staging.stat().st_size != source.size:
        size = staging.stat().st_size
        staging.unlink()
        raise DownloadError(f"{source.url} arrived with {size:,} bytes instead of "
                            f"{source.size:,}; nothing was kept, run the command again")
    os.chmod(staging, 0o644)
    os.replace(staging, target)
    return target


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:120]}"


def require_file(path: Path, what: str) -> Path:
    """``path`` when it exists; a one-line error naming ``what`` otherwise."""
    if not path.is_file():
        raise InputFileError(f"{what} {str(path)!r} is missing; run the download again")
    return path
