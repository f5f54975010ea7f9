"""Durable appends to landing files: fsynced before acknowledged, shared fsyncs, rotation.

One :class:`FeedWriter` per feed appends webhook bodies, one per line, to an *open* file
``landing/<source>/.<feed>-<stamp>-<tag>.open``. The leading dot hides it from the loader
and the sensor. A body is acknowledged only after the write that holds it has been
``fdatasync``-ed; requests that arrive while an fsync is under way wait for the next one
together (group commit), so one fsync acknowledges every body written since the last.

Every file operation of a writer (write + fsync, rotation) runs on the writer's own single
thread, in order: a rotation can never interleave with a write, so a body is never split
across files. Rotation closes the open file and renames it to
``landing/<source>/<feed>-received-<stamp>-<tag>.jsonl`` — a name the loader reads — when
it reaches a size or an age, and when the receiver stops.

After a crash (``kill -9``, power loss) the open file stays behind. :func:`recover` runs at
the next start: complete lines are kept and the file is renamed like a rotation; a torn last
line — a body that was being written and therefore never acknowledged, so the platform
delivers it again — is set aside under ``landing/<source>/.torn/`` with a note saying why.
A live receiver holds an exclusive ``flock`` on each open file, so a second receiver on the
same landing folder never recovers a file that is still being written.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

OPEN_SUFFIX = ".open"
TORN_FOLDER = ".torn"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def closed_name(open_name: str) -> str:
    """``.<feed>-<stamp>-<tag>.open`` → ``<feed>-received-<stamp>-<tag>.jsonl``."""
    feed, rest = open_name[1:-len(OPEN_SUFFIX)].split("-", 1)
    return f"{feed}-received-{rest}.jsonl"


def write_file_atomically(folder: Path, name: str, data: bytes) -> Path:
    """A whole file appears under ``name`` only once its bytes are on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    final = folder / name
    os.replace(temporary, final)
    fsync_dir(folder)
    return final


class FeedWriter:
    """Appends lines to one feed's open file; see the module docstring."""

    def __init__(self, folder: Path, feed: str, rotate_bytes: int, rotate_seconds: float):
        self.folder = folder
        self.feed = feed
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wr-{feed}")
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future] = []
        self._flushing = False
        self._fd: int | None = None
        self._open_path: Path | None = None
        self._opened_at = 0.0
        self._size = 0
        # figures for /healthz and the benchmark
        self.lines_written = 0
        self.fsyncs = 0
        self.files_closed = 0

    # -- event-loop side ---------------------------------------------------------------

    async def append(self, line: bytes) -> None:
        """Return once ``line`` (ending in a newline) is fsynced in the open file."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._pending.append(line)
        self._waiters.append(waiter)
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(self._executor, self._write_batch,
                                               b"".join(batch), len(batch))
                except Exception as exc:  # noqa: BLE001 - each waiter gets the failure
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flushing = False

    async def rotate_if_due(self) -> Path | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._rotate_if_due)

    async def close(self) -> Path | None:
        """Wait for pending appends, then rotate the open file (shutdown)."""
        while self._flushing or self._pending:
            await asyncio.sleep(0.005)
        loop = asyncio.get_running_loop()
        closed = await loop.run_in_executor(self._executor, self._rotate)
        self._executor.shutdown(wait=True)
        return closed

    # -- writer thread -----------------------------------------------------------------

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f".{self.feed}-{_stamp()}-{secrets.token_hex(4)}{OPEN_SUFFIX}"
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fsync_dir(self.folder)  # the file's name survives a crash before the first rotation
        self._fd, self._open_path, self._opened_at, self._size = fd, path, time.monotonic(), 0

    def _write_batch(self, data: bytes, lines: int) -> None:
        if self._fd is None:
            self._open()
        assert self._fd is not None
        try:
            _write_all(self._fd, data)
            os.fdatasync(self._fd)
        except OSError:
            # A short write (disk full) must not leave half a batch for the next one to be
            # glued to: cut the file back to the last acknowledged byte. Nobody is acked.
            try:
                os.ftruncate(self._fd, self._size)
                os.fdatasync(self._fd)
            except OSError:
                pass
            raise
        self._size += len(data)
        self.lines_written += lines
        self.fsyncs += 1
        if self._size >= self.rotate_bytes:
            self._rotate()

    def _rotate_if_due(self) -> Path | None:
        if self._fd is not None and time.monotonic() - self._opened_at >= self.rotate_seconds:
            return self._rotate()
        return None

    def _rotate(self) -> Path | None:
        if self._fd is None or self._open_path is None:
            return None
        fd, path = self._fd, self._open_path
        self._fd, self._open_path = None, None
        os.fsync(fd)
        final = self.folder / closed_name(path.name)
        os.replace(path, final)
        fsync_dir(self.folder)
        os.close(fd)  # releases the flock only once the file has its final name
        self.files_closed += 1
        return final

    @property
    def open_path(self) -> Path | None:
        return self._open_path


@dataclass
class Recovered:
    open_file: str
    kept_lines: int
    closed_as: str | None
    torn_bytes: int
    torn_file: str | None
    skipped_live: bool = False


TORN_REASON = ("the receiver stopped (a crash or kill) while this body was being written: it "
               "was never acknowledged, so the platform delivers it again; kept here only to "
               "be looked at")


def recover(landing: Path, sources: list[str]) -> list[Recovered]:
    """Close the open files a stopped receiver left behind (see the module docstring)."""
    results = []
    for source in sources:
        folder = landing / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f".*{OPEN_SUFFIX}")):
            results.append(_recover_one(folder, path))
    return results


def _recover_one(folder: Path, path: Path) -> Recovered:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:  # closed by its live receiver meanwhile
        return Recovered(path.name, 0, None, 0, None, skipped_live=True)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            still_there = os.stat(path).st_ino == os.fstat(fd).st_ino
        except (BlockingIOError, FileNotFoundError):
            still_there = False
        if not still_there:
            return Recovered(path.name, 0, None, 0, None, skipped_live=True)
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read()
        cut = data.rfind(b"\n") + 1
        torn = data[cut:]
        torn_file = None
        if torn:
            torn_folder = folder / TORN_FOLDER
            base = path.name[1:-len(OPEN_SUFFIX)]
            write_file_atomically(torn_folder, f"{base}.torn", torn)
            note = {"open_file": path.name, "offset": cut, "bytes": len(torn),
                    "reason": TORN_REASON, "set_aside_at": datetime.now(UTC).isoformat()}
            write_file_atomically(torn_folder, f"{base}.reason.json",
                                  json.dumps(note, indent=2).encode() + b"\n")
            torn_file = (torn_folder / f"{base}.torn").as_posix()
            os.ftruncate(fd, cut)
            os.fsync(fd)
        closed_as = None
        if cut:
            final = folder / closed_name(path.name)
            os.replace(path, final)
            closed_as = final.as_posix()
        else:
            path.unlink()
        fsync_dir(folder)
        return Recovered(path.name, data[:cut].count(b"\n"), closed_as, len(torn), torn_file)
    finally:
        os.close(fd)
