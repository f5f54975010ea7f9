"""Running tallyhouse unattended, as the person who installs it would: a quiet run with its
log file, backups that restore, `status` for monitoring, `up` / `down` with a supervisor that
restarts what dies, and `make dev` without an activated venv. Real processes on loopback
ports, one warehouse built once for the module."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from conftest import _scratch_database, query, snapshot_marts

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.xdist_group("operations")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """The installed command as a person runs it: no activated venv (PATH without it)."""
    return subprocess.run([str(BIN / "tallyhouse"), *args], cwd="/", env=env,
                          capture_output=True, text=True, timeout=timeout)


def status_json(env: dict[str, str]) -> dict:
    done = cli("status", "--json", env=env)
    assert done.stdout.startswith("{"), done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(done.stdout)


def plain_env(home: Path, url: str, **extra: str) -> dict[str, str]:
    keep = ("HOME", "LANG", "TMPDIR", "TALLYHOUSE_PSEUDONYM_KEY", "GX_ANALYTICS_ENABLED")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(PATH="/usr/bin:/bin", TALLYHOUSE_HOME=str(home),
               TALLYHOUSE_DATABASE_URL=url, **extra)
    return env


@pytest.fixture(scope="module")
def warehouse(pg_server, small_landing, tmp_path_factory):
    """The small landing run through `tallyhouse run` (quiet) once, in a home of its own."""
    home = tmp_path_factory.mktemp("ops") / "home"
    home.mkdir()
    shutil.copytree(small_landing, home / "landing")
    with _scratch_database(pg_server, "ops") as url:
        started = time.monotonic()
        done = cli("run", env=plain_env(home, url))
        yield {"home": home, "url": url, "run": done, "seconds": time.monotonic() - started}


def test_a_run_prints_progress_and_the_summary_and_logs_everything(warehouse):
    done = warehouse["run"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) < 60, done.stdout
    assert "Loaded this run:" in done.stdout and "All checks passed." in done.stdout
    progress = [line.split()[1] for line in lines if line[:8].strip().count(":") == 1
                and line.startswith("  ") and len(line.split()) > 2]
    assert {"load", "build", "check", "report"} <= set(progress), done.stdout
    assert "dbt build:" in done.stdout and " models" in done.stdout
    # nothing a user cannot act on
    for noise in ("AssetObservation", "dagster - INFO", "START sql", "WARNING"):
        assert noise not in done.stdout + done.stderr, noise
    log = Path(next(line.split("log:")[1].split()[0] for line in lines if "log:" in line))
    assert log.is_relative_to(warehouse["home"]), log
    text = log.read_text()
    # the whole stream is in the log: Dagster's lines, dbt's own, the report's path
    assert "dagster - INFO - tallyhouse" in text and "START sql" in text
    assert "Reconciliation report:" in text
    assert "Logging an `AssetObservation`" not in text


def test_backup_restores_into_an_empty_home_the_same_marts_and_report(warehouse, pg_server,
                                                                       tmp_path, monkeypatch):
    env = plain_env(warehouse["home"], warehouse["url"])
    made = cli("backup", "--to", str(tmp_path / "backups"), env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    folder = Path(made.stdout.strip().splitlines()[-1])
    assert folder.parent == tmp_path / "backups" and (folder / "warehouse.dump").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"warehouse.dump", "landing.tar", "reports.tar", "dagster.tar"} <= set(
        manifest["parts"])
    # the key comes from the environment here: it is never written into or beside the backup
    assert "pseudonym" not in " ".join(p.name for p in folder.parent.iterdir())
    assert os.environ["TALLYHOUSE_PSEUDONYM_KEY"] not in (folder / "manifest.json").read_text()

    with _scratch_database(pg_server, "restored") as url:
        home = tmp_path / "home2"
        # not while the home's services run (they hold the run history's files open): a
        # process of them carries the home's mark; a stale supervisor pid file does not count
        from tallyhouse_cli import services

        monkeypatch.setenv("TALLYHOUSE_HOME", str(home))
        pid_file = services.pid_path()
        pid_file.write_text(f"{os.getpid()}\n")  # alive, but no supervisor: not refused
        service = subprocess.Popen(["sleep", "60"],
                                   env={services.MARK_ENV: services.home_id()})
        try:
            busy = cli("restore", str(folder), env=plain_env(home, url))
            assert busy.returncode == 2 and "tallyhouse down" in busy.stdout, busy.stdout
            assert f"pids {service.pid}" in busy.stdout
            assert not (home / "landing").exists()
        finally:
            service.kill()
            service.wait()
        monkeypatch.delenv("TALLYHOUSE_HOME")
        restored = cli("restore", str(folder), env=plain_env(home, url))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert snapshot_marts(url) == snapshot_marts(warehouse["url"])
        reports = sorted(p for p in (warehouse["home"] / "reports").rglob("*") if p.is_file())
        assert reports
        for original in reports:
            copy = home / "reports" / original.relative_to(warehouse["home"] / "reports")
            assert copy.read_bytes() == original.read_bytes(), copy
        assert query(url, "select count(*) from raw._manifest") == \
            query(warehouse["url"], "select count(*) from raw._manifest")
        landed = sorted(p.relative_to(home) for p in (home / "landing").rglob("*") if p.is_file())
        assert landed == sorted(p.relative_to(warehouse["home"])
                                for p in (warehouse["home"] / "landing").rglob("*") if p.is_file())
        assert (home / ".tallyhouse" / "dagster" / "history" / "runs.db").is_file()
        # a second restore onto what is there now is refused without --force
        again = cli("restore", str(folder), env=plain_env(home, url))
        assert again.returncode == 2 and "empty" in again.stdout, again.stdout


def test_up_restarts_a_killed_service_and_down_leaves_nothing(warehouse):
    ports = {"receiver": free_port(), "ui": free_port(), "dashboards": free_port()}
    env = plain_env(warehouse["home"], warehouse["url"], TALLYHOUSE_HOTMART_HOTTOK="s3cret")
    args = ["--without", "docs", *(f"--port={n}={p}" for n, p in ports.items())]
    try:
        up = cli("up", *args, env=env, timeout=400)
        assert up.returncode == 0, up.stdout + up.stderr
        for name, port in ports.items():
            assert f"127.0.0.1:{port}" in up.stdout, name
        assert "daemon" in up.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['receiver']}/healthz") as answer:
            assert json.loads(answer.read())["platforms"]["hotmart"]["configured"]
        log = warehouse["home"] / ".tallyhouse" / "logs" / "receiver.log"
        assert log.is_file()
        assert "s3cret" not in (warehouse["home"] / ".tallyhouse" / "services" /
                                "supervisord.conf").read_text()

        # the daemon evaluates the sensor (a tick recorded), the schedule and sensor are on
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            states = automation_states(ports["ui"])
            if states.get("sensor_ticks"):
                break
            time.sleep(3)
        assert states.get("schedules") == {"daily_reconciliation": "RUNNING"}, states
        assert set(states["sensors"].values()) == {"RUNNING"} and states["sensor_ticks"], states
        # after a run and `up`, everything is well: the screen all green, exit 0
        found = status_json(env)
        assert found["ok"], found["problems"]
        screen = cli("status", env=env)
        assert screen.returncode == 0 and "all well" in screen.stdout, screen.stdout
        assert cli("status", "--live", env=env).returncode == 0
        # a stale feed is the data's health, not the services': `--live` stays 0
        query(warehouse["url"], "update raw._manifest set loaded_at = now() - interval "
                                "'20 days' where feed = 'payout_lines'")
        assert cli("status", env=env).returncode == 1
        assert cli("status", "--live", env=env).returncode == 0
        killed = found["services"]["services"]["receiver"]["pid"]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            entry = status_json(env)["services"]["services"]["receiver"]
            if entry["pid"] not in (None, killed) and entry["ok"]:
                break
            time.sleep(1)
        else:
            pytest.fail(f"the receiver was not restarted: {entry}")
        screen = cli("status", env=env)
        assert "receiver" in screen.stdout and "daemon" in screen.stdout, screen.stdout
        assert f"127.0.0.1:{ports['ui']}" in screen.stdout
    finally:
        down = cli("down", env=env, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    mark = None
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("TALLYHOUSE_SERVICES") and str(warehouse["home"]) == \
                    proc.environ().get("TALLYHOUSE_HOME"):
                mark = proc
        except psutil.Error:
            continue
    assert mark is None, f"left behind: {mark}"
    for port in ports.values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, port


def test_status_reports_a_stopped_receiver_and_a_stale_feed(warehouse):
    env = plain_env(warehouse["home"], warehouse["url"], TALLYHOUSE_HOTMART_HOTTOK="s3cret")
    # no delivery of payouts for 20 days (its window is 9)
    query(warehouse["url"], "update raw._manifest set loaded_at = now() - interval '20 days' "
                            "where feed = 'payout_lines'")
    found = status_json(env)
    assert found["database"]["up"] and found["runs"]["last"]["status"] == "SUCCESS"
    assert found["runs"]["last"]["checks"] == 23
    receiver = found["services"]["services"]["receiver"]
    assert not receiver["ok"] and receiver["state"] in ("stopped", "not started")
    assert found["feeds"]["feeds"]["payout_lines"]["stale"]
    assert not found["feeds"]["feeds"]["hotmart_webhooks"]["stale"]
    assert any("payout_lines" in p for p in found["problems"])
    assert any(p.startswith("services: receiver") for p in found["problems"])
    assert found["report"]["latest"].endswith("reconciliation.html")
    screen = cli("status", env=env)
    assert screen.returncode == 1
    assert "STALE" in screen.stdout and "FAIL" in screen.stdout, screen.stdout
    # a container's health check: the services are down, so it is not alive either
    live = cli("status", "--live", env=env)
    assert live.returncode == 1 and "receiver" in live.stdout


def test_make_dev_loads_the_definitions_without_an_activated_venv(tmp_path, database_url):
    """A fresh clone (no target/, no .tallyhouse), the venv made by `make install` and not
    activated: `make dev` serves the Dagster UI with the code location loaded."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(BIN.parent)
    stamp = BIN.parent / ".installed"
    if stamp.exists():  # the venv is installed: make must not install into it again
        before = stamp.stat().st_mtime - 60
        os.utime(clone / "pyproject.toml", (before, before))
    port = free_port()
    env = plain_env(tmp_path / "home", database_url, PYTHONPATH=str(clone))
    dev = subprocess.Popen(["make", "-o", ".venv/.installed", "dev", f"PORT={port}"],
                           cwd=clone, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        loaded = None
        while time.monotonic() < deadline and dev.poll() is None:
            try:
                loaded = location_status(port)
            except OSError:
                loaded = None
            if loaded and loaded[0] == "LOADED":
                break
            time.sleep(2)
        assert loaded == ("LOADED", "RepositoryLocation"), loaded
        assert (clone / "target" / "manifest.json").is_file()
    finally:
        try:
            os.killpg(dev.pid, signal.SIGTERM)
            dev.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=30)
        output = dev.stdout.read() if dev.stdout else ""
    assert "not found on PATH" not in output, output[-3000:]


def _graphql(port: int, text: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["data"]


def automation_states(port: int) -> dict | None:
    """The schedules' and sensors' states as the daemon keeps them, and the sensor ticks."""
    text = ("{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { "
            "... on RepositoryLocation { repositories { "
            "schedules { name scheduleState { status } } "
            "sensors { name sensorState { status ticks(limit: 5) { status } } } } } "
            "... on PythonError { message } } } } } }")
    try:
        entries = _graphql(port, text)["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, TypeError) as exc:
        return {"error": repr(exc)}
    repos = [r for e in entries for r in (e["locationOrLoadError"] or {}).get("repositories", [])]
    if not repos:
        return {"error": "no repository loaded", "entries": entries}
    return {"schedules": {s["name"]: s["scheduleState"]["status"]
                          for r in repos for s in r["schedules"]},
            "sensors": {s["name"]: s["sensorState"]["status"]
                        for r in repos for s in r["sensors"]},
            "sensor_ticks": [t["status"] for r in repos for s in r["sensors"]
                             for t in s["sensorState"]["ticks"]]}


def location_status(port: int) -> tuple[str, str] | None:
    graphql = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
               "locationOrLoadError { __typename } } } } }")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": graphql}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        entries = json.loads(answer.read())["data"]["workspaceOrError"]["locationEntries"]
    if not entries or not entries[0]["locationOrLoadError"]:
        return None
    return entries[0]["loadStatus"], entries[0]["locationOrLoadError"]["__typename"]


def test_prune_moves_only_files_loaded_long_ago_into_the_archive(warehouse):
    home = warehouse["home"]
    # the payouts feed's files were loaded 20 days ago (the status test may not have run on
    # this worker: said here again); every other file was loaded today
    query(warehouse["url"], "update raw._manifest set loaded_at = now() - interval '20 days' "
                            "where feed = 'payout_lines'")
    env = plain_env(home, warehouse["url"], TALLYHOUSE_ARCHIVE_LANDING_DAYS="10")
    before = sorted(p.relative_to(home / "landing") for p in (home / "landing").rglob("*")
                    if p.is_file())
    dry = cli("prune", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert sorted(p.relative_to(home / "landing") for p in (home / "landing").rglob("*")
                  if p.is_file()) == before
    done = cli("prune", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    archive = home / "landing" / ".archive"
    moved = sorted(p.relative_to(archive) for p in archive.rglob("*") if p.is_file())
    assert moved and all(p.parts[0] == "payouts" for p in moved), (moved, dry.stdout)
    after = sorted(p.relative_to(home / "landing") for p in (home / "landing").rglob("*")
                   if p.is_file())
    # nothing deleted: every file is where it was or in the archive, under the same path
    assert sorted([*(p for p in after if p.parts[0] != ".archive"), *moved]) == before
    assert f"moved to {archive}: {len(moved)}" in done.stdout
    # the loaders and the sensor do not see the archive: nothing new to load
    from orchestration.defs.sensors.new_landing_files import new_files

    known = {name for (name,) in query(warehouse["url"], "select file_name from raw._manifest")}
    assert new_files(home / "landing", known) == []


def test_a_key_kept_in_a_file_is_backed_up_beside_and_restored_with_key(warehouse, pg_server,
                                                                         tmp_path):
    """A home whose pseudonym key is its own file (no key in the environment): the backup
    writes the key beside the folder (mode 600, never inside); restore refuses a wrong key
    file and puts the right one back, so customer keys stay what they were."""
    secret = os.environ["TALLYHOUSE_PSEUDONYM_KEY"]
    key_path = warehouse["home"] / ".tallyhouse" / "pseudonym.key"
    env = plain_env(warehouse["home"], warehouse["url"])
    env.pop("TALLYHOUSE_PSEUDONYM_KEY", None)
    key_path.write_text(secret + "\n")
    try:
        made = cli("backup", "--to", str(tmp_path / "backups"), "--no-prune", env=env)
    finally:
        key_path.unlink()
    assert made.returncode == 0, made.stdout + made.stderr
    folder = Path(made.stdout.strip().splitlines()[-1])
    beside = folder.with_name(folder.name + ".pseudonym.key")
    assert beside.read_text().strip() == secret
    assert beside.stat().st_mode & 0o077 == 0
    assert secret not in made.stdout + made.stderr
    assert not any(secret.encode() in p.read_bytes() for p in folder.rglob("*")
                   if p.is_file() and p.stat().st_size < 50 << 20)

    wrong = tmp_path / "wrong.key"
    wrong.write_text("not-the-key\n")
    with _scratch_database(pg_server, "rekeyed") as url:
        home = tmp_path / "home3"
        restore_env = plain_env(home, url)
        restore_env.pop("TALLYHOUSE_PSEUDONYM_KEY", None)
        refused = cli("restore", str(folder), "--key", str(wrong), env=restore_env)
        assert refused.returncode == 2 and "not the pseudonym key" in refused.stdout, \
            refused.stdout + refused.stderr
        assert query(url, "select count(*) from pg_namespace where nspname = 'marts'") == \
            [(0,)]
        done = cli("restore", str(folder), "--key", str(beside), env=restore_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (home / ".tallyhouse" / "pseudonym.key").read_text().strip() == secret
        assert "not the one of this backup" not in done.stdout
        assert secret not in done.stdout + done.stderr
        assert snapshot_marts(url) == snapshot_marts(warehouse["url"])


def test_prune_keeps_the_newest_backups_and_drops_old_reports_logs_and_runs(warehouse,
                                                                            tmp_path):
    """Each retention setting acts on what is older than it and on nothing newer."""
    import sqlite3

    home = warehouse["home"]
    env = plain_env(home, warehouse["url"], TALLYHOUSE_KEEP_BACKUPS="2",
                    TALLYHOUSE_KEEP_REPORTS_DAYS="30", TALLYHOUSE_KEEP_LOGS_DAYS="7",
                    TALLYHOUSE_KEEP_RUNS_DAYS="10", TALLYHOUSE_ARCHIVE_LANDING_DAYS="0")
    backups = home / "backups"
    names = [f"tallyhouse-2026110{d}T043000Z" for d in range(1, 5)]
    for name in names:
        (backups / name).mkdir(parents=True)
        (backups / name / "manifest.json").write_text("{}")
    (backups / f"{names[0]}.pseudonym.key").write_text("k\n")
    old_report = home / "reports" / "2020-01-31"
    old_report.mkdir(parents=True)
    (old_report / "reconciliation.html").write_text("old")
    current = sorted(p.name for p in (home / "reports").iterdir() if p.name != "2020-01-31")
    logs = home / ".tallyhouse" / "logs"
    old_log = logs / "run-20200101T000000Z.log"
    old_log.write_text("old run")
    month_ago = time.time() - 30 * 86400
    os.utime(old_log, (month_ago, month_ago))
    fresh_logs = sorted(p.name for p in logs.glob("run-*.log") if p != old_log)
    # the module's run, as if it had ended 20 days ago
    runs_db = home / ".tallyhouse" / "dagster" / "history" / "runs.db"
    with sqlite3.connect(runs_db) as history:
        history.execute("update runs set create_timestamp = datetime('now', '-20 days')")
        (runs_before,) = history.execute("select count(*) from runs").fetchone()
    assert runs_before >= 1

    done = cli("prune", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in backups.iterdir()) == names[2:]
    assert not old_report.exists()
    assert sorted(p.name for p in (home / "reports").iterdir()) == current
    assert not old_log.exists()
    assert sorted(p.name for p in logs.glob("run-*.log")) == fresh_logs
    with sqlite3.connect(runs_db) as history:
        assert history.execute("select count(*) from runs").fetchone() == (0,)
    assert f"Dagster runs: {runs_before}" in done.stdout, done.stdout


def test_a_verbose_run_streams_the_whole_log(warehouse):
    done = cli("run", "--verbose", env=plain_env(warehouse["home"], warehouse["url"]))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    streamed = done.stdout + done.stderr
    assert "dagster - INFO - tallyhouse" in streamed and "Loaded this run:" in done.stdout
