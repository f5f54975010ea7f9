"""The marts of one landing, built on PostgreSQL and on Spark, compared row by row.

Each value is put in a form both engines give the same way: amounts as exact decimals
(10.50 = 10.5, never a float), times in UTC, dates as dates, arrays as lists, JSON as its
parsed value. The rows of a mart are compared as multisets (no order), and a difference
names the mart, how many rows each side has and the first rows one side has that the other
lacks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg2

from tallyhouse.spark import server

# run history the job writes (PostgreSQL's, not dbt's): not part of the compared marts
NOT_MARTS = ("rpt_reconciliation_", "rpt_notification_")


@dataclass
class Difference:
    table: str
    postgres_rows: int
    spark_rows: int
    only_postgres: list[tuple] = field(default_factory=list)
    only_spark: list[tuple] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"{self.table}: PostgreSQL {self.postgres_rows} rows, Spark {self.spark_rows}"]
        lines += [f"  only in PostgreSQL: {row}" for row in self.only_postgres[:3]]
        lines += [f"  only in Spark:      {row}" for row in self.only_spark[:3]]
        return "\n".join(lines)


def _value(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return value.normalize() if value == value else "NaN"
    if isinstance(value, float):
        return Decimal(repr(value)).normalize()
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return json.dumps([_value(v) if not isinstance(v, Decimal) else str(v) for v in value],
                          sort_keys=True, default=str)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{" and text[-1:] in "]}":
            try:
                return json.dumps(json.loads(text), sort_keys=True, default=str)
            except ValueError:
                return value
        return value
    return str(value)


def _row(values) -> tuple:
    return tuple(_value(v) for v in values)


def mart_tables(database_url: str) -> list[str]:
    """The tables and views dbt built in PostgreSQL's ``marts``."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("select table_name from information_schema.tables "
                    "where table_schema = 'marts' order by table_name")
        return [name for (name,) in cur.fetchall() if not name.startswith(NOT_MARTS)]


def compare(database_url: str, where: server.Endpoint | None = None,
            tables: list[str] | None = None) -> list[Difference]:
    """Every mart of both engines compared; the differences (none when equal)."""
    where = where or server.endpoint()
    names = tables or mart_tables(database_url)
    found: list[Difference] = []
    pg = psycopg2.connect(database_url, options="-c timezone=UTC")
    try:
        with server.connect(where) as spark:
            spark_cur = spark.cursor()
            for name in names:
                with pg.cursor() as cur:
                    cur.execute(f'select * from marts."{name}"')
                    columns = [d.name for d in cur.description]
                    pg_rows = Counter(_row(r) for r in cur.fetchall())
                spark_cur.execute(f"select {', '.join(f'`{c}`' for c in columns)} "
                                  f"from marts.`{name}`")
                spark_rows = Counter(_row(r) for r in spark_cur.fetchall())
                if pg_rows != spark_rows:
                    found.append(Difference(
                        name, sum(pg_rows.values()), sum(spark_rows.values()),
                        sorted((pg_rows - spark_rows).elements(), key=repr)[:5],
                        sorted((spark_rows - pg_rows).elements(), key=repr)[:5]))
    finally:
        pg.close()
    return found
