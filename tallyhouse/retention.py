"""How long things are kept, and `tallyhouse prune` that applies it.

| what | setting (environment) | default | what happens past it |
|---|---|---|---|
| backups | ``TALLYHOUSE_KEEP_BACKUPS`` | 14 | older backups (and their key files) are deleted |
| reports | ``TALLYHOUSE_KEEP_REPORTS_DAYS`` | 400 | ``reports/<date>/`` folders older are deleted |
| run history | ``TALLYHOUSE_KEEP_RUNS_DAYS`` | 90 | older Dagster runs and their logs are deleted |
| logs | ``TALLYHOUSE_KEEP_LOGS_DAYS`` | 30 | older dbt logs, dbt target folders, run logs |
| loaded landing files | ``TALLYHOUSE_ARCHIVE_LANDING_DAYS`` | 30 | moved to ``landing/.archive/`` |

0 keeps forever. A landing file is moved only when ``raw._manifest`` says it was loaded (or was
a byte-identical duplicate of a loaded file) that many days ago *and* it is still the file
that was read (same size and modification time): nothing unread ever leaves ``landing/``, and
nothing is deleted from it. ``landing/.archive/<source>/…`` keeps the paths, so ``tallyhouse
forget`` finds the files there too, and a backup holds them with the landing folder; the
loaders and the sensor never look into a dot folder.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tallyhouse import db
from tallyhouse.config import default_landing_dir, project_root, reports_dir, state_dir

ARCHIVE = ".archive"

SETTINGS = {
    # attribute: (environment variable, default, what it keeps)
    "backups": ("TALLYHOUSE_KEEP_BACKUPS", 14, "newest backups"),
    "reports_days": ("TALLYHOUSE_KEEP_REPORTS_DAYS", 400, "days of reports"),
    "runs_days": ("TALLYHOUSE_KEEP_RUNS_DAYS", 90, "days of Dagster run history"),
    "logs_days": ("TALLYHOUSE_KEEP_LOGS_DAYS", 30, "days of dbt and run logs"),
    "landing_days": ("TALLYHOUSE_ARCHIVE_LANDING_DAYS", 30,
                     "days before a loaded landing file moves to landing/.archive/"),
}


@dataclass(frozen=True)
class Retention:
    backups: int = 14
    reports_days: int = 400
    runs_days: int = 90
    logs_days: int = 30
    landing_days: int = 30

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Retention:
        env = os.environ if env is None else env
        values = {}
        for attribute, (name, default, _what) in SETTINGS.items():
            text = env.get(name, "").strip()
            try:
                values[attribute] = max(0, int(text)) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a whole number (0 keeps forever), not "
                                 f"{text!r}") from None
        return cls(**values)

    def lines(self) -> list[str]:
        lines = []
        for attribute, (name, _default, what) in SETTINGS.items():
            value = getattr(self, attribute)
            lines.append(f"{name}={value} ({what if value else 'kept forever'})")
        return lines


@dataclass
class Pruned:
    backups: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    runs: int = 0
    freed_bytes: int = 0


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _remove(path: Path, done: list[Path], result: Pruned, dry_run: bool) -> None:
    result.freed_bytes += _size(path)
    done.append(path)
    if dry_run:
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prune_backups(root: Path, keep: int, result: Pruned, dry_run: bool) -> None:
    if not keep or not root.is_dir():
        return
    folders = sorted((p for p in root.glob("tallyhouse-*") if p.is_dir()),
                     key=lambda p: p.name, reverse=True)
    for folder in folders[keep:]:
        _remove(folder, result.backups, result, dry_run)
        key = folder.with_name(folder.name + ".pseudonym.key")
        if key.exists():
            _remove(key, result.backups, result, dry_run)


def prune_reports(root: Path, days: int, result: Pruned, dry_run: bool,
                  today: date | None = None) -> None:
    if not days or not root.is_dir():
        return
    cutoff = (today or date.today()) - timedelta(days=days)
    for folder in sorted(root.iterdir()):
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if folder.is_dir() and day < cutoff:
            _remove(folder, result.reports, result, dry_run)


def prune_logs(days: int, result: Pruned, dry_run: bool) -> None:
    """dbt's rotated logs (``logs/dbt.log.N``), dbt's per-invocation target folders and the
    runs' own log files, older than ``days``. The current dbt.log rotates itself."""
    if not days:
        return
    cutoff = time.time() - days * 86400
    root = project_root()
    candidates = [*(root / "logs").glob("dbt.log.*"),
                  *(p for pattern in ("dbt_models-*", "cli-*")
                    for p in (root / "target").glob(pattern) if p.is_dir()),
                  *(state_dir() / "logs").glob("run-*.log")]
    for path in sorted(candidates):
        try:
            if path.stat().st_mtime < cutoff:
                _remove(path, result.logs, result, dry_run)
        except FileNotFoundError:
            continue


def archive_landing(url: str, landing: Path, days: int, result: Pruned, dry_run: bool) -> None:
    """Move landing files loaded more than ``days`` ago, unchanged since, into
    ``landing/.archive/`` (same relative path). Nothing unread moves; nothing is deleted."""
    if not days or not landing.is_dir():
        return
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._manifest') is not null")
        if not cur.fetchone()[0]:
            return
        cur.execute("""
            select file_name, size_bytes, mtime_ns, erased_size, erased_mtime_ns
            from raw._manifest
            where status in ('loaded', 'duplicate_file')
              and loaded_at < now() - make_interval(days => %s)
        """, (days,))
        loaded: dict[str, set[tuple[int, int | None]]] = {}
        for name, size, mtime, erased_size, erased_mtime in cur.fetchall():
            loaded.setdefault(name, set()).add((size, mtime))
            if erased_size is not None:
                loaded[name].add((erased_size, erased_mtime))
        # a name loaded recently (a newer delivery under it) is not archived
        cur.execute("select distinct file_name from raw._manifest "
                    "where loaded_at >= now() - make_interval(days => %s)", (days,))
        recent = {name for (name,) in cur.fetchall()}
    archive = landing / ARCHIVE
    for name, versions in sorted(loaded.items()):
        if name in recent:
            continue
        path = landing / name
        if not path.is_file() or path.is_symlink() or any(
                part.startswith(".") for part in Path(name).parts):
            continue
        stat = path.stat()
        if not any(size == stat.st_size and (mtime is None or mtime == stat.st_mtime_ns)
                   for size, mtime in versions):
            continue  # not the file that was read: it stays
        target = archive / name
        if target.exists():
            continue
        result.archived.append(name)
        if dry_run:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def prune(url: str | None, retention: Retention, landing: Path | None = None,
          backups_root: Path | None = None, dry_run: bool = False,
          prune_runs: Callable[[int, bool], int] | None = None,
          say: Callable[[str], None] = lambda _m: None) -> Pruned:
    """Apply the retention. Landing files move under the run lock (no run reads them
    meanwhile); ``prune_runs(days, dry_run)`` deletes Dagster runs (given by the caller:
    the core does not import the orchestration)."""
    from tallyhouse.backup import backups_dir
    from tallyhouse.runlock import run_lock

    result = Pruned()
    prune_backups(backups_root or backups_dir(), retention.backups, result, dry_run)
    prune_reports(reports_dir(), retention.reports_days, result, dry_run)
    prune_logs(retention.logs_days, result, dry_run)
    if url and retention.landing_days:
        with run_lock(url, "prune", wait=True, say=say):
            archive_landing(url, landing or default_landing_dir(), retention.landing_days,
                            result, dry_run)
    if prune_runs is not None and retention.runs_days:
        result.runs = prune_runs(retention.runs_days, dry_run)
    return result
