"""Running dbt against the database in use (profile from the environment)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tallyhouse import db, pseudonym
from tallyhouse.config import project_root


def dbt_env(url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(db.connection_parts(url or db.database_url()).as_env())
    env.update(pseudonym.session_env(env))
    env.update(engine_env())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env["DBT_PROFILES_DIR"] = str(project_root())
    env["DBT_PROJECT_DIR"] = str(project_root())
    return env


def engine_env(start: bool = True) -> dict[str, str]:
    """The profile's target for the engine in use and, on Spark, where its Thrift server
    listens (the local one is started unless ``start`` is false)."""
    from tallyhouse.engine import dbt_target, engine

    if engine() != "spark":
        return {"TALLYHOUSE_DBT_TARGET": dbt_target()}
    from tallyhouse.spark import server

    found = server.endpoint(start=start)
    return {"TALLYHOUSE_DBT_TARGET": "spark", **found.as_env(), **pseudonym.spark_session_env()}


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


@dataclass(frozen=True)
class DbtRun:
    """One dbt invocation: its exit code, output and the target folder it wrote."""

    returncode: int
    stdout: str
    stderr: str
    target_path: Path

    def artifact(self, name: str) -> dict:
        return json.loads((self.target_path / name).read_text())


def run_dbt(args: list[str], url: str | None = None, capture: bool = False,
            target_path: Path | None = None) -> DbtRun:
    """dbt outside Dagster (the tests, `tallyhouse forget`, the docs site). Every invocation
    writes its own target folder (``target/cli-<id>/`` unless given), seeded with the kept
    partial parse, so two builds at once never share compiled SQL, run results or the
    manifest — as dagster-dbt does for the job's builds."""
    if "--target-path" in args:
        target = Path(args[args.index("--target-path") + 1])
        args = list(args)
    else:
        target = target_path or project_root() / "target" / f"cli-{uuid.uuid4().hex[:12]}"
        args = [*args, "--target-path", str(target)]
    target.mkdir(parents=True, exist_ok=True)
    kept = project_root() / "target" / "partial_parse.msgpack"
    if kept.is_file() and not (target / kept.name).exists():
        shutil.copyfile(kept, target / kept.name)
    done = subprocess.run([dbt_executable(), *args], cwd=project_root(), env=dbt_env(url),
                          capture_output=capture, text=True, check=False)
    prune_invocation_dirs(pattern="cli-*")
    return DbtRun(done.returncode, done.stdout or "", done.stderr or "", target)


def prune_invocation_dirs(keep: int = 3, pattern: str = "dbt_models-*",
                          older_than_seconds: float = 600) -> int:
    """dagster-dbt gives every dbt invocation its own ``target/<step>-<run>-<id>/`` folder
    (~13 MB at 100 000 transactions), and so does run_dbt (``target/cli-<id>/``): keep the
    newest few, for looking into a recent run. A folder younger than ten minutes may be a
    build still running in another process: it stays. Another process pruning at the same
    time may remove a folder between the listing and its look: it is skipped, not an error
    (two test workers' builds failed on it)."""
    folders = []
    for folder in (project_root() / "target").glob(pattern):
        try:
            if folder.is_dir():
                folders.append((folder.stat().st_mtime, folder))
        except FileNotFoundError:
            continue
    folders.sort(reverse=True)
    now = time.time()
    removed = 0
    for modified, folder in folders[keep:]:
        if now - modified > older_than_seconds:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def keep_partial_parse(invocation_target: Path) -> None:
    """dagster-dbt seeds each invocation with ``target/partial_parse.msgpack``; dbt throws it
    away when it was written under another profile (``tallyhouse db`` parses without the
    run's connection) and parses the whole project again, seconds every run. Keep the one
    the build just wrote, made under the run's profile, for the next run (atomically: two
    runs never share an invocation folder)."""
    made = invocation_target / "partial_parse.msgpack"
    if not made.is_file():
        return
    kept = project_root() / "target" / "partial_parse.msgpack"
    spare = kept.with_name(f".partial_parse.{os.getpid()}.msgpack")
    shutil.copyfile(made, spare)
    os.replace(spare, kept)


def manifest_path() -> Path:
    return project_root() / "target" / "manifest.json"


def ensure_manifest() -> Path:
    """dagster-dbt reads target/manifest.json: parse the project when its files changed.

    The manifest is trusted only when ``target/manifest.project-hash`` holds the digest of
    the project files it was parsed from; any edit (or a manifest some other dbt command
    wrote meanwhile, which drops that file) parses again. Parsing needs no database: the
    profile's defaults are enough, so loading the definitions starts none.
    """
    from tallyhouse.build_state import project_hash

    stamp = project_root() / "target" / "manifest.project-hash"
    # Two processes (two runs started together, a run and the UI) must not parse into the
    # same target/ at once: the loser reads a half-written manifest. One parse at a time.
    lock_path = project_root() / "target" / ".parse.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = project_hash(with_key=False)
        if (manifest_path().exists() and stamp.exists()
                and stamp.read_text().strip() == wanted):
            return manifest_path()
        stamp.unlink(missing_ok=True)
        # the graph Dagster reads is the same on every engine: parsed with the default
        # target (a build on Spark parses again under its own profile)
        env = dict(os.environ, DBT_PROFILES_DIR=str(project_root()),
                   DBT_PROJECT_DIR=str(project_root()), DBT_SEND_ANONYMOUS_USAGE_STATS="false",
                   TALLYHOUSE_DBT_TARGET="default")
        done = subprocess.run([dbt_executable(), "parse", "--quiet"], cwd=project_root(),
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{done.stdout}\n{done.stderr}")
        stamp.write_text(wanted + "\n")
    return manifest_path()
