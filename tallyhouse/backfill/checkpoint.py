"""Where a backfill stands, so that a killed one resumes where it stopped.

A backfill is a fixed list of queries (its *plan*: per window, per feed, per status or date
basis, in order); the checkpoint says how far along that list it is — the query in hand,
its pages already landed and the cursor of the next one (Hotmart's ``page_token``, or the
next page number). It is rewritten atomically after every landed page and deleted when the
backfill completes, so a second backfill of the same period asks the API again (and lands
only what changed).

It lives in the landing folder it describes, ``landing/<source>/.backfill/<plan>.json``,
not in the database or in ``.tallyhouse/``: the checkpoint vouches for page files in that
folder, so it must live and die with them (a landing folder wiped or restored cannot keep a
checkpoint that claims pages it no longer has); it works for any ``--landing``; a backfill
needs no database (it runs while a run holds the warehouse, or before the database exists);
and the loaders, the sensor and ``tallyhouse forget`` pass over dot folders (the receiver
keeps its ``.torn/`` lines there the same way). It holds no credential and no personal data:
dates, statuses, page numbers and cursors.

A page landed but not yet noted (killed between the two) is fetched again on resume and
landed under a new name; its records are the same bytes and the loaders land them once.
``<platform>.lock`` (an flock) keeps two backfills of one platform from writing at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tallyhouse.backfill.pages import fsync_dir

STATE_FOLDER = ".backfill"
VERSION = 1


class Busy(Exception):
    """Another backfill of the platform holds its lock."""


@dataclass
class Checkpoint:
    plan_id: str
    plan: dict
    query_index: int = 0  # the query in hand (all before it are complete)
    query_key: str = ""  # that query, for a sanity check on resume
    pages_done: int = 0  # pages of that query already landed
    cursor: str | int | None = None  # what fetches its next page
    totals: dict = field(default_factory=dict)  # pages, records, files so far
    started_at: str = ""
    resumed: int = 0


def plan_id(plan: dict) -> str:
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def state_folder(landing_source: Path) -> Path:
    return landing_source / STATE_FOLDER


def checkpoint_path(landing_source: Path, pid: str) -> Path:
    return state_folder(landing_source) / f"{pid}.json"


def load(landing_source: Path, pid: str) -> Checkpoint | None:
    path = checkpoint_path(landing_source, pid)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("version") != VERSION:
        return None
    data.pop("version")
    return Checkpoint(**data)


def save(landing_source: Path, checkpoint: Checkpoint) -> None:
    folder = state_folder(landing_source)
    folder.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(landing_source, checkpoint.plan_id)
    temporary = folder / f".{path.name}.tmp"
    data = json.dumps({"version": VERSION, **asdict(checkpoint)}, sort_keys=True).encode()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_dir(folder)


def clear(landing_source: Path, pid: str) -> None:
    checkpoint_path(landing_source, pid).unlink(missing_ok=True)


def unfinished(landing_source: Path, platform: str) -> list[Checkpoint]:
    """Checkpoints of this platform's backfills that were stopped before they completed."""
    folder = state_folder(landing_source)
    found = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                checkpoint = load(landing_source, path.stem)
            except (ValueError, TypeError):
                continue
            if checkpoint and checkpoint.plan.get("platform") == platform:
                found.append(checkpoint)
    return found


class PlatformLock:
    """One backfill per platform and landing folder at a time (non-blocking flock)."""

    def __init__(self, landing_source: Path, platform: str):
        self.path = state_folder(landing_source) / f"{platform}.lock"
        self._fd: int | None = None

    def __enter__(self) -> PlatformLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 100).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Busy(f"another backfill of this platform is running (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
