"""Fetch an archive over HTTP(S), verify it, and extract it safely.

``fetch`` resumes a partial download (``<archive>.part`` and an HTTP ``Range``
request), verifies the archive's digests before anything is extracted, and extracts into
a temporary folder inside the destination, moving the result into place only once every
member has passed the checks: a refused or corrupt archive leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from conveyor._optional import require
from conveyor.errors import DataLossError, InvalidArgumentError, UnavailableError

__all__ = ["digests_to_check", "extract", "fetch", "verify"]

_CHUNK = 1 << 20
_ATTEMPTS = 3  # tries per download; each one resumes where the last one stopped
_TIMEOUT = 60.0  # seconds without data before a connection counts as lost


def digests_to_check(default_md5: str, md5: str | None, sha256: str | None) -> dict[str, str]:
    """The digests to verify, by algorithm: those given, else the published MD5.

    Raises:
        InvalidArgumentError: a digest is not hexadecimal of its algorithm's length.
    """
    given = {name: value for name, value in (("md5", md5), ("sha256", sha256)) if value}
    digests = given or {"md5": default_md5}
    for name, value in digests.items():
        size = hashlib.new(name).digest_size * 2
        if not re.fullmatch(f"[0-9a-fA-F]{{{size}}}", value):
            raise InvalidArgumentError(f"{name} must be {size} hexadecimal digits, got {value!r}")
    return {name: value.lower() for name, value in digests.items()}


def fetch(
    url: str,
    data_dir: Path,
    archive: str,
    digests: Mapping[str, str],
    expected: Iterable[str],
    progress: bool,
) -> Path:
    """Download *url* into *data_dir* as *archive* unless every path of *expected*
    (relative to *data_dir*) already exists; verify, extract, remove the archive.

    Returns:
        *data_dir*.

    Raises:
        ImportError: ``progress=True`` without tqdm (the ``datasets`` extra).
        UnavailableError: the download failed; run again to resume it.
        DataLossError: a wrong digest (the archive is removed), an unsafe member, or a
            member of *expected* missing from the archive (nothing is extracted).
    """
    wanted = list(expected)
    if all((data_dir / name).is_file() for name in wanted):
        return data_dir
    bar = require("tqdm", "download(progress=True)").tqdm if progress else None
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / archive
    if not path.is_file():
        _download(url, path, bar)
    verify(path, digests)
    extract(path, data_dir, wanted)
    path.unlink()
    return data_dir


def _download(url: str, path: Path, bar: Callable[..., Any] | None) -> None:
    """Fetch *url* into ``<path>.part``, resuming it, then rename it to *path*."""
    part = path.with_name(path.name + ".part")
    for attempt in range(1, _ATTEMPTS + 1):
        offset = part.stat().st_size if part.exists() else 0
        try:
            _request(url, part, offset, bar)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # the range starts at the end: nothing is left
                break
            raise UnavailableError(f"downloading {url} failed: HTTP {e.code} {e.reason}") from e
        except (OSError, http.client.HTTPException) as e:
            if attempt == _ATTEMPTS:
                have = part.stat().st_size if part.exists() else 0
                raise UnavailableError(
                    f"downloading {url} failed after {_ATTEMPTS} attempts ({e!r}); "
                    f"{have} bytes are kept in {part}, and calling again resumes from there"
                ) from e
    os.replace(part, path)


def _request(url: str, part: Path, offset: int, bar: Callable[..., Any] | None) -> None:
    """One request: the bytes from *offset* on, appended to *part*; a server that does
    not honour the range sends everything, and *part* starts again from zero."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        resumed = offset > 0 and response.status == 206
        if resumed and not _starts_at(response, offset):
            part.unlink()  # not the range asked for: start again from zero
            raise http.client.HTTPException(f"{url} sent a range other than bytes={offset}-")
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with part.open("r+b" if resumed else "wb") as out:
            out.seek(start)
            out.truncate()
            meter = (
                None
                if bar is None
                else bar(total=total, initial=start, unit="B", unit_scale=True, desc=part.stem)
            )
            try:
                _copy(response, out, meter)
            finally:
                if meter is not None:
                    meter.close()
        if total is not None and part.stat().st_size != total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def _starts_at(response: Any, offset: int) -> bool:
    """Whether a 206 response's ``Content-Range`` starts at *offset*."""
    found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return found is not None and int(found.group(1)) == offset


def _copy(source: BinaryIO, out: BinaryIO, meter: Any) -> None:
    while chunk := source.read(_CHUNK):
        out.write(chunk)
        if meter is not None:
            meter.update(len(chunk))


def verify(path: Path, digests: Mapping[str, str]) -> None:
    """Check *path* against *digests*; remove it if one differs.

    Raises:
        DataLossError: a digest differs; the message names the file and both digests.
    """
    hashes = {name: hashlib.new(name) for name in digests}
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashes.values():
                h.update(chunk)
    for name, expected in digests.items():
        actual = hashes[name].hexdigest()
        if actual != expected:
            path.unlink()
            raise DataLossError(
                f"{path} has the wrong {name} checksum: expected {expected}, got {actual}; "
                "the file was removed and nothing was extracted"
            )


def _refusal(member: tarfile.TarInfo) -> str | None:
    """Why *member* may not be extracted, or ``None``."""
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "a path with '..'"
    if member.issym() or member.islnk():
        return "a link"
    if not (member.isfile() or member.isdir()):
        return "a device, fifo or other special file"
    return None


def extract(archive: Path, data_dir: Path, expected: Iterable[str]) -> None:
    """Extract the tar *archive* into *data_dir*, all or nothing.

    Every member is checked first; then the archive is extracted into a temporary folder
    inside *data_dir* (``filter="data"``), and its top-level entries replace those of
    the same names in *data_dir*.

    Raises:
        DataLossError: a member is absolute, has ``..``, is a link, device or fifo, or a
            path of *expected* is not in the archive; the message names the member.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            _extract(tar, archive, data_dir, list(expected))
    except tarfile.TarError as e:
        raise DataLossError(f"{archive} is not a readable tar archive: {e}") from e


def _extract(tar: tarfile.TarFile, archive: Path, data_dir: Path, expected: list[str]) -> None:
    members = tar.getmembers()
    for member in members:
        why = _refusal(member)
        if why is not None:
            raise DataLossError(
                f"{archive} was not extracted: its member {member.name!r} is {why} "
                "(the archive is kept for inspection)"
            )
    names = {os.path.normpath(m.name) for m in members if m.isfile()}
    absent = [name for name in expected if os.path.normpath(name) not in names]
    if absent:
        raise DataLossError(f"{archive} was not extracted: it lacks {', '.join(absent)}")
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".extract-") as scratch:
        new, old = Path(scratch, "new"), Path(scratch, "old")
        old.mkdir()
        if hasattr(tarfile, "data_filter"):
            tar.extractall(new, filter="data")
        else:  # Python < 3.11.4: the checks above are the filter
            tar.extractall(new)
        for entry in sorted(new.iterdir()):
            target = data_dir / entry.name
            if target.exists() or target.is_symlink():
                target.rename(old / entry.name)  # removed with the scratch folder
            entry.rename(target)
