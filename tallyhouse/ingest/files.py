"""Delivered files as a loader reads them: which files a source folder holds, confined to the
landing folder, read line by line with every line and the expansion of a compressed file
bounded (``Limits``), and the checks a line must pass to be landed as text."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tallyhouse.sources import Source

COPY_CHUNK_LINES = 2_000


COPY_READ_SIZE = 1 << 20


QUARANTINE_TEXT_LIMIT = 100_000  # characters of a bad record kept for inspection


@dataclass(frozen=True)
class Limits:
    """What one delivered record or file may be, so that no file can stop the books.

    A record (a line) longer than ``record_bytes`` is quarantined with its file, line and
    size, never held in memory whole; a file that expands past ``expanded_bytes`` or, once
    past ``ratio_floor_bytes``, to more than ``expansion_ratio`` times its compressed size
    (a decompression bomb) is rejected whole and recorded once. Settings:
    TALLYHOUSE_MAX_RECORD_BYTES, TALLYHOUSE_MAX_EXPANDED_BYTES, TALLYHOUSE_MAX_EXPANSION_RATIO.
    """

    record_bytes: int = 32 << 20
    expanded_bytes: int = 16 << 30
    expansion_ratio: float = 200.0
    ratio_floor_bytes: int = 256 << 20

    @classmethod
    def from_env(cls) -> Limits:
        import os

        def number(name: str, default, kind=int):
            raw = os.environ.get(name)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not a number") from exc
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {raw!r}")
            return value

        base = cls()
        return cls(record_bytes=number("TALLYHOUSE_MAX_RECORD_BYTES", base.record_bytes),
                   expanded_bytes=number("TALLYHOUSE_MAX_EXPANDED_BYTES", base.expanded_bytes),
                   expansion_ratio=number("TALLYHOUSE_MAX_EXPANSION_RATIO",
                                          base.expansion_ratio, float),
                   ratio_floor_bytes=min(base.ratio_floor_bytes,
                                         number("TALLYHOUSE_MAX_RECORD_BYTES",
                                                base.record_bytes) * 8))


@dataclass(frozen=True)
class Oversized:
    """A line longer than the record limit: its first bytes and its whole size."""

    head: bytes
    size: int

    def reason(self, limits: Limits) -> str:
        return (f"record of {self.size:,} bytes exceeds the limit of {limits.record_bytes:,} "
                "bytes per record (TALLYHOUSE_MAX_RECORD_BYTES): not landed")


class FileRejected(Exception):
    """The file as a whole cannot be read as its feed (e.g. a wrong CSV header)."""


class Delivered:
    """A delivered file's lines, from a plain or a gzip (``.gz``) file, streamed with every
    line bounded (``Limits.record_bytes``): an over-long line comes out as :class:`Oversized`
    and is read past in blocks, never held whole.

    A damaged compressed stream, or one that expands past the limits, stops the file, not
    the run: it is rejected whole."""

    READ_BLOCK = 1 << 20

    def __init__(self, path: Path, limits: Limits | None = None):
        self.path = path
        self.limits = limits or Limits.from_env()
        self.compressed = path.name.endswith(".gz")
        self.size = path.stat().st_size if self.compressed else 0
        self.expanded = 0
        # the bytes actually read are hashed on the way: a file that changed after it was
        # hashed (still being written) is told from the one the manifest describes
        self._raw = _Hashing(path.open("rb"))
        # buffered: readline on the raw stream would read (and hash) one byte at a time
        # (a 100 000-transaction load went from 24 s to 6 min); every byte the buffer reads
        # ahead is hashed once, where it is read
        self._handle = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed \
            else io.BufferedReader(self._raw, buffer_size=1 << 20)

    def __enter__(self) -> Delivered:
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()
        self._raw.close()

    def verify(self, sha: str) -> None:
        """The bytes read were the file whose sha256 is ``sha`` (to its end): else the file
        changed while it was read, and nothing of it may be recorded."""
        self._raw.read_to_end()
        if self._raw.hexdigest() != sha:
            raise FileChanged("the file changed while it was read (still being written?): "
                              "not loaded this time; the next run loads it")

    def _count(self, data: bytes) -> None:
        self.expanded += len(data)
        limits = self.limits
        if self.expanded > limits.expanded_bytes:
            raise FileRejected(
                f"the file expands past {limits.expanded_bytes:,} bytes "
                "(TALLYHOUSE_MAX_EXPANDED_BYTES): rejected whole, not loaded")
        if (self.compressed and self.expanded > limits.ratio_floor_bytes
                and self.expanded > limits.expansion_ratio * max(self.size, 1)):
            raise FileRejected(
                f"the compressed file ({self.size:,} bytes) expands to more than "
                f"{limits.expansion_ratio:g} times its size ({self.expanded:,} bytes read so "
                "far; TALLYHOUSE_MAX_EXPANSION_RATIO): rejected whole as a decompression "
                "bomb, not loaded")

    def __iter__(self) -> Iterator[bytes | Oversized]:
        limit = self.limits.record_bytes
        try:
            while True:
                line = self._handle.readline(limit + 1)
                if not line:
                    return
                self._count(line)
                if len(line) <= limit or line.endswith(b"\n"):
                    yield line
                    continue
                head, size = line[:QUARANTINE_TEXT_LIMIT], len(line)
                while not line.endswith(b"\n"):
                    line = self._handle.readline(self.READ_BLOCK)
                    if not line:
                        break
                    self._count(line)
                    size += len(line)
                yield Oversized(head, size)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"the file cannot be read to its end: {exc}") from exc


class FileChanged(Exception):
    """The file is not the bytes it was hashed as: it is being written. Loaded later."""


class _Hashing(io.RawIOBase):
    """A read-only file that hashes what is read from it."""

    def __init__(self, handle):
        self._handle = handle
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        count = self._handle.readinto(target)
        if count:
            self._digest.update(memoryview(target)[:count])
        return count or 0

    def read_to_end(self) -> None:
        for block in iter(lambda: self._handle.read(1 << 20), b""):
            self._digest.update(block)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        self._handle.close()
        super().close()


def not_a_regular_file(path: Path) -> str | None:
    """Why a delivered path is not a file to read (a directory, a FIFO, a device, a socket
    — also through a link), or None. Such a path is never opened: reading a device or a
    FIFO would never end."""
    import stat

    try:
        mode = path.stat().st_mode  # follows links
    except OSError as exc:
        return f"refused, not read: cannot read its status ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"refused, not read: {kind}, not a regular file"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def landing_files(landing: Path, source: Source) -> list[Path]:
    folder = landing / source.name
    if not folder.is_dir():
        return []
    # A name starting with a dot, or a dot folder, is not delivered yet or not for loading:
    # the receiver's open files, its set-aside torn lines, editors' temporary files.
    # links are listed too (a link out of the landing folder is refused when loaded), and
    # anything else that is not a folder (a FIFO, a device, a socket: refused, never read)
    return sorted(p for p in folder.rglob("*") if (p.is_symlink() or not p.is_dir())
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def outside_landing(landing: Path, path: Path) -> str | None:
    """Why a delivered path may not be read (it leads outside the landing folder), or None."""
    try:
        real = path.resolve(strict=True)
        real.relative_to(landing.resolve(strict=True))
    except ValueError:
        return ("refused, not read: a link to a file outside the landing folder "
                f"(to {path.resolve()})")
    except OSError as exc:
        return f"refused, not read: cannot resolve its real path ({exc.strerror})"
    return None


class IterStream(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks, for COPY FROM STDIN."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = memoryview(b"")
        self._offset = 0
        # a file that cannot be read to its end ends the COPY early; raised after it
        self.failure: FileRejected | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while self._offset >= len(self._buffer):
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except FileRejected as exc:
                self.failure = exc
                return 0
            self._offset = 0
        size = min(len(target), len(self._buffer) - self._offset)
        target[:size] = self._buffer[self._offset:self._offset + size]
        self._offset += size
        return size


def copy_escape(value: bytes) -> bytes:
    """Escape a value for COPY's text format."""
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"\t" in value:
        value = value.replace(b"\t", b"\\t")
    if b"\r" in value:
        value = value.replace(b"\r", b"\\r")
    if b"\n" in value:
        value = value.replace(b"\n", b"\\n")
    return value


def kept_text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return text[:QUARANTINE_TEXT_LIMIT]


def line_problem(raw: bytes) -> str | None:
    """Why a physical line cannot be landed as text, or None."""
    if b"\x00" in raw:
        return "NUL byte in record"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 encoding at byte {exc.start}: {exc.reason}"
    return None
