"""The run history's storage: Dagster's SQLite files, written without opening a database
file per event (tallyhouse/dagster_storage.py) — and still whole after a kill."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tallyhouse import dagster_storage


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """The project's own instance (its committed dagster.yaml) on a fresh state folder."""
    monkeypatch.setenv("TALLYHOUSE_HOME", str(tmp_path / "home"))
    from orchestration.run import dagster_home

    storage = dagster_home()
    with dg.DagsterInstance.get() as opened:
        yield opened, storage


@dg.asset
def tallied() -> int:
    return 1


@dg.asset_check(asset=tallied)
def tallied_is_one() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _connections_opened(action) -> int:
    opened = []

    def count(*_args) -> None:
        opened.append(1)

    event.listen(Engine, "connect", count)
    try:
        action()
    finally:
        event.remove(Engine, "connect", count)
    return len(opened)


def test_the_project_instance_keeps_its_history_where_it_did(instance):
    opened, storage = instance
    assert isinstance(opened.event_log_storage, dagster_storage.PooledSqliteEventLogStorage)
    result = dg.materialize([tallied, tallied_is_one], instance=opened)
    assert result.success
    # Dagster's own layout: the run's events in history/runs/<run id>.db, the index beside
    assert (storage / "history" / "runs" / f"{result.run_id}.db").is_file()
    assert (storage / "history" / "runs" / "index.db").is_file()
    assert (storage / "history" / "runs.db").is_file()
    latest = opened.get_latest_materialization_event(dg.AssetKey("tallied"))
    assert latest is not None and latest.run_id == result.run_id
    checks = opened.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("tallied"), "tallied_is_one"), limit=5)
    assert [c.run_id for c in checks] == [result.run_id]
    # the stock storage reads the same files: nothing a user's Dagster could not open
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    stock = SqliteEventLogStorage(str(storage / "history" / "runs"))
    assert len(stock.get_logs_for_run(result.run_id)) == \
        len(opened.all_logs(result.run_id)) > 5


def test_events_are_stored_without_a_connection_each(instance):
    """A run stores hundreds of events: the stock SQLite event log opened (and synced) the
    database file for each; this one keeps its connections."""
    opened, storage = instance
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    assets = [dg.AssetMaterialization(f"asset_{n}") for n in range(40)]

    def report(target) -> None:
        for materialization in assets:
            target.report_runless_asset_event(materialization)

    pooled = _connections_opened(lambda: report(opened))
    (storage / "stock").mkdir()
    with dg.DagsterInstance.local_temp(str(storage / "stock")) as stock_instance:
        assert type(stock_instance.event_log_storage) is SqliteEventLogStorage
        stock = _connections_opened(lambda: report(stock_instance))
    assert stock >= len(assets) * 2  # the run's file and the index, per event
    assert pooled <= 4, pooled
    assert opened.get_latest_materialization_event(dg.AssetKey("asset_39")) is not None
    with opened.event_log_storage.index_connection() as conn:
        assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"


def _open_files(folder) -> int:
    """Files of this folder open in this process."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder))
        except OSError:
            pass
    return count


def test_a_reader_of_many_runs_keeps_a_few_files_open(instance):
    opened, storage = instance
    runs = [dg.materialize([tallied], instance=opened).run_id for _ in range(12)]
    gc.disable()  # the files of a forgotten engine are closed by it, not by the collector
    try:
        for run_id in runs:  # the UI reading the history of each run
            assert opened.all_logs(run_id)
        assert len(opened.event_log_storage._engines) <= dagster_storage.KEEP_ENGINES
        # a database file, its write-ahead log and its shared memory per engine kept
        assert _open_files(storage / "history" / "runs") <= \
            3 * dagster_storage.KEEP_ENGINES
    finally:
        gc.enable()


def test_the_ui_sees_a_run_s_events_as_they_are_stored(instance):
    """The webserver follows a run's log by watching its file; the run's process writes it
    through storage of its own (two storages on the same folder, as the two processes)."""
    from dagster._core.events.log import EventLogEntry

    opened, storage = instance
    folder = str(storage / "history" / "runs")
    writer = dagster_storage.PooledSqliteEventLogStorage(folder)
    watcher = dagster_storage.PooledSqliteEventLogStorage(folder)
    run_id = "live-log-run"
    seen: list[str] = []

    def entry(n: int) -> EventLogEntry:
        return EventLogEntry(error_info=None, level=20, user_message=f"line {n}",
                             run_id=run_id, timestamp=time.time())

    writer.store_event(entry(0))  # the run's file exists before the UI opens it
    watcher.watch(run_id, None, lambda event, _cursor: seen.append(event.user_message))
    try:
        for n in range(1, 21):
            writer.store_event(entry(n))
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while len(seen) < 21 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen == [f"line {n}" for n in range(21)]
    finally:
        watcher.end_watch(run_id, seen.append)
        watcher.dispose()
        writer.dispose()


def test_an_event_stored_before_a_kill_is_in_the_history(instance, tmp_path):
    """Killed (SIGKILL) right after storing: the committed event is there, the files open."""
    opened, storage = instance
    script = tmp_path / "store_then_die.py"
    script.write_text(textwrap.dedent("""
        import os, signal
        import dagster as dg
        from orchestration.run import dagster_home

        dagster_home()
        instance = dg.DagsterInstance.get()
        for n in range(5):
            instance.report_runless_asset_event(dg.AssetMaterialization(f"before_kill_{n}"))
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    done = subprocess.run([sys.executable, str(script)], env=os.environ.copy(),
                          capture_output=True, text=True, cwd=os.getcwd(), check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    for n in range(5):
        assert opened.get_latest_materialization_event(
            dg.AssetKey(f"before_kill_{n}")) is not None
    # and the history goes on: a run after the kill is stored and read back
    assert dg.materialize([tallied], instance=opened).success
