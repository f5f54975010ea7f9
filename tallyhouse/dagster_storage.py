"""Dagster's run history on SQLite, without opening a database file per event.

Dagster's SQLite event log creates a SQLAlchemy engine, opens the file, commits with a full
sync and throws the engine away for every event it stores — and every event of an asset or
a check is stored twice (the run's file and the cross-run index). A run of this project
stores about 1 200 events even when nothing is new (each model, each dbt test as an asset
check, planned then reported), so that bookkeeping was more than half of a run that had
nothing to do: measured at 100 000 transactions, 13.1 s for a no-op run, 6.2 s with this
storage.

This storage is Dagster's own (same files, same layout under the state folder, same
schema), with two changes, both in how a connection is made:

- an engine per database file is kept (a few, the most recently used) with a small pool,
  instead of one engine per statement;
- SQLite's ``synchronous=NORMAL`` in WAL mode (the mode Dagster sets): a commit is atomic
  and survives the process being killed; a power cut can lose the last events written
  (each file on its own: a run's status may then say more than its events, or the
  cross-run index less than a run's file), never corrupt a file. Nothing in tallyhouse
  decides from Dagster's events: the warehouse's own state (manifest, build state, run
  lock) is in PostgreSQL.

Because the files' connections stay open, an event lands in the file's write-ahead log and
the file itself changes only at SQLite's checkpoints; the UI follows a run live by watching
the file, so each stored event touches it.

The instance file (orchestration/dagster_home/dagster.yaml) names it as custom storage.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

# engines kept open: the run being written, the cross-run index, a few runs being read
KEEP_ENGINES = 8


def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=1, max_overflow=-1,
                           connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                         "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _normal_sync(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    return engine


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, its engines kept between statements (module docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        # set first: Dagster's __init__ already connects (a new folder's index is migrated)
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine_for(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = self._engines[shard] = _engine(self.conn_string_for_shard(shard))
                while len(self._engines) > KEEP_ENGINES:
                    # no connection of this storage is out here (_db_lock is held
                    # around every use): the idle ones are closed, their files let go
                    _, oldest = self._engines.popitem(last=False)
                    oldest.dispose()
            self._engines.move_to_end(shard)
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event(self, event) -> None:
        super().store_event(event)
        # The UI follows a run's log live by watching its file (<run id>.db) change. With
        # the connections kept, an event is written to the file's write-ahead log and the
        # file itself changes only at SQLite's checkpoints: touch it, as the stock storage's
        # closing of its connection after every event did (no sync, one system call).
        try:
            os.utime(self.path_for_shard(event.run_id))
        except OSError:
            pass

    def wipe(self) -> None:
        self._forget_all_engines()
        super().wipe()

    def dispose(self) -> None:
        self._forget_all_engines()
        super().dispose()

    def _forget_all_engines(self) -> None:
        with self._engines_lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.dispose()


class TallyhouseSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, events, schedules under one folder) with the pooled
    event log."""

    def __init__(self, base_dir: str, inst_data=None):
        # DagsterSqliteStorage's own layout, the event log swapped (its __init__ would open
        # the stock event log first)
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> TallyhouseSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
