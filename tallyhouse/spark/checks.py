"""The reconciliation checks of the marts, run on Spark.

A check is written once, in the warehouse's SQL as PostgreSQL reads it. On Spark the checks
of the marts run through the same Great Expectations validations, over a SQL data source
that speaks to the Thrift server (SQLAlchemy ``hive://``, PyHive), with each query
translated to Spark's dialect by a SQL parser (sqlglot). The checks of the landing
(quarantine, manifest, integrity) read the control plane, PostgreSQL, on both engines.
"""

from __future__ import annotations

import logging

from tallyhouse.spark import server

# GX substitutes its batch for {batch}: kept as a name while the query is translated
_BATCH = "tallyhouse_gx_batch"


def transpiled(sql: str) -> str:
    """A check's PostgreSQL query in Spark's dialect ({batch} kept as it is)."""
    return _translated(sql.replace("{batch}", _BATCH)).replace(_BATCH, "{batch}")


def with_values(sql: str, params: dict | None = None) -> str:
    """A query written for PostgreSQL with ``:name`` parameters (the dashboards'), in Spark's
    dialect with each parameter written in as a literal by the parser: a text value is
    quoted and escaped as Spark reads it, a date is a DATE, a list an ARRAY (of STRING when
    empty), so no value is ever spliced in as text. A bare ``numeric`` (an exact count ratio)
    becomes DECIMAL(38, 10), not Spark's DECIMAL(10, 0)."""
    from sqlglot import exp

    def value(item):
        if isinstance(item, (list, tuple)):
            if not item:
                return exp.cast(exp.Array(expressions=[]), "ARRAY<STRING>", dialect="spark")
            return exp.Array(expressions=[value(v) for v in item])
        return exp.convert(item)

    def exact(node):
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.DECIMAL \
                and not node.expressions:
            return exp.DataType.build("DECIMAL(38, 10)", dialect="spark")
        return node

    values = {name: value(item) for name, item in (params or {}).items()}

    def bound(node):
        if isinstance(node, exp.Placeholder) and node.this:
            if node.this not in values:
                raise ValueError(f"no value for the parameter :{node.this}")
            return values[node.this].copy()
        return exact(node)

    return _translated(sql, bound)


def _translated(sql: str, extra=None) -> str:
    import sqlglot
    from sqlglot import exp

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    parsed = sqlglot.parse(sql, read="postgres")
    if len(parsed) != 1 or parsed[0] is None:
        raise ValueError("a check is one query")

    def spark_only(node):
        # quote_literal(x): the text in single quotes, quotes doubled (no such function)
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "quote_literal":
            value = node.expressions[0]
            return exp.func("concat", exp.Literal.string("'"),
                            exp.func("replace", value, exp.Literal.string("'"),
                                     exp.Literal.string("''")),
                            exp.Literal.string("'"))
        return extra(node) if extra else node

    return parsed[0].transform(spark_only).sql(dialect="spark")


def sqlalchemy_url(where: server.Endpoint | None = None) -> str:
    """The Thrift server's SQLAlchemy URL; a password travels in ``engine_kwargs``, never in
    a URL that might be shown."""
    found = where or server.endpoint()
    return f"hive://{found.user}@{found.host}:{found.port}/marts"


def engine_kwargs(where: server.Endpoint | None = None) -> dict:
    """SQLAlchemy's engine options for Spark: the warehouse's session settings and the
    server's authentication."""
    found = where or server.endpoint()
    return {"connect_args": {"configuration": server.session_configuration(),
                             **found.sign_in()}}


def typed(description, rows) -> list[tuple]:
    """Rows as Python values: PyHive hands a DATE over as its text."""
    import datetime as dt

    dates = [i for i, d in enumerate(description) if d[1] == "DATE_TYPE"]
    if not dates:
        return [tuple(row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for i in dates:
            if isinstance(values[i], str):
                values[i] = dt.date.fromisoformat(values[i])
        out.append(tuple(values))
    return out


def _fetch(sql: str, where: server.Endpoint | None) -> tuple[list[str], list[tuple]]:
    """A query's column names and every row, typed."""
    with server.connect(where or server.endpoint()) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        names = [d[0].split(".", 1)[-1] for d in cur.description]
        return names, typed(cur.description, cur.fetchall())


def fetch_dicts(sql: str, where: server.Endpoint | None = None) -> list[dict]:
    """Every row of a query on Spark, as dicts."""
    names, rows = _fetch(sql, where)
    return [dict(zip(names, row, strict=True)) for row in rows]


def fetch_rows(sql: str, where: server.Endpoint | None = None) -> list[tuple]:
    """Every row of a query on Spark, as tuples (names may repeat)."""
    return _fetch(sql, where)[1]
