"""Reading uploaded zip and tar archives safely, entry by entry.

Refused entries (each reported, the rest still read): absolute paths, '..', symlinks and hard
links, devices, entries larger than one image may be, entries whose compression ratio marks a
zip bomb, and entries whose bytes exceed what their header declared. The whole archive is
refused (413) when its declared uncompressed total is over the archive limit.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from api.datasets.paths import path_problem
from api.kit.problems import Problem, TooLarge
from api.kit.settings import Settings


@dataclass
class ArchiveEntry:
    name: str
    stream: BinaryIO | None  # None when refused
    size: int
    refusal: str = ""


class LimitedReader:
    """Reads at most ``limit`` bytes from ``stream``; one byte more raises ValueError."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.limit, self.seen = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size if size > 0 else 1024 * 1024)
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise ValueError(f"entry holds more than the {self.limit} bytes it declared")
        return chunk


def _refused(name: str, size: int, reason: str) -> ArchiveEntry:
    return ArchiveEntry(name, None, size, reason)


def _check_entry(name: str, size: int, compressed: int | None, settings: Settings) -> str:
    problem = path_problem(name)
    if problem:
        return problem
    if size > settings.max_image_bytes:
        return f"larger than {settings.max_image_bytes} bytes"
    if compressed is not None and size > 1024 * 1024 and size / max(compressed, 1) > (
            settings.max_archive_ratio):
        return f"compression ratio over {settings.max_archive_ratio:g} (zip bomb)"
    return ""


def zip_entries(source: BinaryIO, settings: Settings) -> Iterator[ArchiveEntry]:
    with zipfile.ZipFile(source) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        total = sum(info.file_size for info in infos)
        if total > settings.max_archive_bytes:
            raise TooLarge(f"the archive expands to {total} bytes, over the "
                           f"{settings.max_archive_bytes}-byte limit")
        for info in infos:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                yield _refused(info.filename, info.file_size, "symbolic link")
                continue
            reason = _check_entry(info.filename, info.file_size, info.compress_size, settings)
            if reason:
                yield _refused(info.filename, info.file_size, reason)
                continue
            with archive.open(info) as stream:
                yield ArchiveEntry(info.filename, LimitedReader(stream, info.file_size),
                                   info.file_size)


def tar_entries(source: BinaryIO, settings: Settings) -> Iterator[ArchiveEntry]:
    compressed_total = source.seek(0, 2)
    source.seek(0)
    expanded = 0
    with tarfile.open(fileobj=source, mode="r:*") as archive:
        for member in _members_until_corrupt(archive):
            if member is None:
                yield _refused("(rest of the archive)", 0,
                               "the archive is truncated or corrupt from here on")
                return
            if member.isdir():
                continue
            if member.issym() or member.islnk():
                yield _refused(member.name, 0, "link")
                continue
            if not member.isfile():
                yield _refused(member.name, 0, "not a regular file")
                continue
            expanded += member.size
            if expanded > settings.max_archive_bytes or expanded > max(
                    settings.max_archive_ratio * compressed_total, settings.max_image_bytes):
                raise TooLarge(f"the archive expands past {expanded} bytes (limit "
                               f"{settings.max_archive_bytes}, ratio "
                               f"{settings.max_archive_ratio:g})")
            reason = _check_entry(member.name, member.size, None, settings)
            if reason:
                yield _refused(member.name, member.size, reason)
                continue
            stream = archive.extractfile(member)
            yield ArchiveEntry(member.name, LimitedReader(stream, member.size), member.size)


def _members_until_corrupt(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo | None]:
    """The archive's members; a final None when a header or the compression is broken."""
    while True:
        try:
            member = archive.next()
        except (tarfile.TarError, EOFError, OSError, zlib.error):
            yield None
            return
        if member is None:
            return
        yield member


def _is_tar(source: BinaryIO) -> bool:
    """True when a tar header (plain or gz/bz2/xz-compressed) opens the file."""
    source.seek(0)
    try:
        with tarfile.open(fileobj=source, mode="r:*") as archive:
            return archive.firstmember is not None or archive.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False
    finally:
        source.seek(0)


def archive_entries(source: BinaryIO, filename: str, settings: Settings
                    ) -> Iterator[ArchiveEntry]:
    """Entries of a zip or tar(.gz/.bz2/.xz) archive (a seekable file), by content."""
    source.seek(0)
    if zipfile.is_zipfile(source):
        source.seek(0)
        return zip_entries(source, settings)
    if _is_tar(source):
        return tar_entries(source, settings)
    source.seek(0)
    damaged = _damaged_kind(source.read(8))
    if damaged:
        raise Problem(f"{filename} looks like a {damaged} archive but is damaged or truncated "
                      "(did the upload stop early?): upload it again", status=422,
                      title="Unprocessable content", slug="validation-error")
    raise Problem(f"{filename} is neither a zip nor a tar archive", status=415,
                  title="Unsupported media type", slug="unsupported-media-type")


# How archives begin; one that begins so but cannot be opened was cut short or damaged.
ARCHIVE_SIGNATURES = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\x1f\x8b": "gzip",
                      b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


def _damaged_kind(head: bytes) -> str:
    return next((kind for signature, kind in ARCHIVE_SIGNATURES.items()
                 if head.startswith(signature)), "")
