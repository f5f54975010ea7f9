"""The semantic layer from the command line: MetricFlow over the warehouse in use.

The metrics, semantic models and saved queries are defined once, in the dbt project
(``models/semantic/``); ``tallyhouse metrics`` asks MetricFlow for them against the embedded
PostgreSQL or ``TALLYHOUSE_DATABASE_URL``, like ``mf`` run in the project folder would.

Two additions over plain ``mf``:

* short dimension names: ``platform``, ``product``, ``currency``, ``payment_method``,
  ``status``, ``day`` / ``week`` / ``month`` / ``year`` resolve to the one dimension of the
  asked metrics that they name (``transaction__platform``, ``product__product_name``,
  ``metric_time__month`` …); qualified names pass through unchanged;
* money is never summed across currencies: a money metric asked for without a currency
  (``--group-by currency`` or ``--currency BRL``) is grouped by currency as well, and the
  answer says so.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from decimal import Decimal

from tallyhouse import db, readers
from tallyhouse.dbt import dbt_env, ensure_manifest

# metrics whose values are money (never added across currencies)
MONEY_METRICS = frozenset({
    "gross_revenue", "producer_net", "platform_fees", "partner_commissions", "refunded_amount",
    "order_value", "average_ticket", "monthly_recurring_amount",
})

# short names analysts type → the element name of the dimension (or the metric_time grain)
SHORT_NAMES = {
    "product": "product_name",
    "currency": "currency_code",
    "business_day": "metric_time__day",
    "day": "metric_time__day",
    "week": "metric_time__week",
    "month": "metric_time__month",
    "quarter": "metric_time__quarter",
    "year": "metric_time__year",
}


class MetricsError(Exception):
    """A query that cannot or must not run, said in words an analyst can act on."""

    def __init__(self, message: str):
        # MetricFlow's messages can carry a Python traceback: the analyst gets the words
        if "Traceback (most recent call last)" in message:
            before, _, after = message.partition("Traceback (most recent call last)")
            last = [line for line in after.strip().splitlines() if line.strip()][-1:]
            message = " ".join([before.strip(), *last]).strip()
        super().__init__(message)


@dataclass
class Answer:
    columns: list[str]
    rows: list[tuple]
    sql: str | None = None
    note: str | None = None  # what was added to the question, said to the user


_CONFIG = None


def _engine():
    """MetricFlow's engine on the project, connected to the warehouse in use (built once per
    process)."""
    global _CONFIG
    if _CONFIG is None:
        # the semantic manifest is written by the same parse that writes the manifest
        ensure_manifest()
        # MetricFlow's own adapter connects as the analyst too (it only writes SQL here), and
        # never with the pseudonym key's pads (PGOPTIONS)
        os.environ.update({k: v for k, v in dbt_env().items()
                           if k.startswith(("TALLYHOUSE_", "DBT_"))})
        os.environ.update(db.connection_parts(readers.reader_conninfo()).as_env())
        from dbt_metricflow.cli.cli_configuration import CLIConfiguration

        config = CLIConfiguration()
        config.setup(configure_file_logging=False)
        _CONFIG = config
    return _CONFIG.mf


def metric_names() -> list[tuple[str, str]]:
    """(name, description) of every metric."""
    return sorted((m.name, " ".join((m.description or "").split()))
                  for m in _engine().list_metrics())


def _dimensions(metrics: list[str]) -> list[str]:
    try:
        return [d.dunder_name for d in _engine().simple_dimensions_for_metrics(metrics)]
    except Exception as error:  # an unknown metric: MetricFlow names it and suggests others
        raise MetricsError(str(error).strip()) from error


def resolve(metrics: list[str], group_by: list[str]) -> list[str]:
    """Short dimension names → the qualified name MetricFlow knows for these metrics."""
    if not group_by:
        return []
    known = None
    resolved = []
    for name in group_by:
        name = name.strip()
        wanted = SHORT_NAMES.get(name, name)
        if "__" in wanted:
            resolved.append(wanted)
            continue
        if known is None:
            known = _dimensions(metrics)
        matches = sorted({q for q in known if q.split("__")[-1] == wanted})
        if len(matches) == 1:
            resolved.append(matches[0])
        elif len(matches) > 1:
            raise MetricsError(f"'{name}' could be any of {', '.join(matches)}: say which.")
        else:
            resolved.append(name)  # MetricFlow says what it knows instead
    return resolved


def _currency_dimension(metrics: list[str]) -> str | None:
    for name in _dimensions(metrics):
        if name.endswith("__currency_code"):
            return name
    return None


def query(metrics: list[str] | None = None, group_by: list[str] | None = None,
          where: list[str] | None = None, order: list[str] | None = None,
          limit: int | None = None, currency: str | None = None,
          saved_query: str | None = None, explain: bool = False) -> Answer:
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    metrics = [m.strip() for m in (metrics or []) if m.strip()]
    where = list(where or [])
    group = resolve(metrics, list(group_by or [])) if metrics else list(group_by or [])
    if currency:
        if not currency.isalpha() or len(currency) != 3:
            raise MetricsError(f"--currency takes an ISO 4217 code such as BRL, not {currency!r}")
        dimension = _currency_dimension(metrics) if metrics else None
        if dimension is None:
            raise MetricsError("--currency: these metrics have no currency dimension")
        where.append(f"{{{{ Dimension('{dimension}') }}}} = '{currency.upper()}'")
    money = sorted(set(metrics) & MONEY_METRICS)
    note = None
    if money and not any(g.endswith("currency_code") for g in group) \
            and not any("currency_code" in w for w in where):
        dimension = _currency_dimension(metrics)
        if dimension is None:
            raise MetricsError(
                f"{', '.join(money)} {'is' if len(money) == 1 else 'are'} money and never "
                "added across currencies, and these metrics share no currency dimension: "
                "ask for them separately.")
        # grouped by currency as well, and said so: never one total over BRL and USD
        group.append(dimension)
        note = (f"grouped by {dimension} as well: {', '.join(money)} "
                f"{'is' if len(money) == 1 else 'are'} money, never added across currencies "
                "(--currency XXX for one)")
    request = MetricFlowQueryRequest.create(
        saved_query_name=saved_query, metric_names=metrics or None,
        group_by_names=group or None, where_constraints=where or None,
        # rows in the order of the groups unless asked otherwise
        order_by_names=order or (group if metrics and all("__" in g for g in group)
                                 else None) or None, limit=limit)
    try:
        sql = _engine().explain(mf_request=request).sql_statement.without_descriptions.sql
    except Exception as error:  # MetricFlow's own messages name the unknown metric or group
        raise MetricsError(str(error).strip()) from error
    # the manifest names the database it was parsed against; the warehouse in use may be
    # another database (TALLYHOUSE_DATABASE_URL): schema-qualified names work in both
    sql = re.sub(r'"[^"]+"\.("marts"\.)', r"\1", sql)
    if explain:
        return Answer([], [], sql, note)
    # MetricFlow's own result table turns numeric into float: the SQL it writes is run here
    # instead, so money comes back exact (Decimal), as the warehouse computed it — and as the
    # analyst, read-only, one statement: a --where is text a person typed
    try:
        found = readers.run_read_only(sql, readers.reader_conninfo())
    except readers.NotBuilt as error:
        raise MetricsError("the marts are not built in this warehouse yet: run `tallyhouse "
                           f"run` first ({error})") from error
    except readers.RefusedQuery as error:
        raise MetricsError(str(error)) from error
    columns, rows = found.columns, found.rows
    return Answer(columns, rows, sql, note)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        # shown to 4 decimals at most (an average); --csv keeps every digit
        if value.as_tuple().exponent < -4:
            value = value.quantize(Decimal("0.0001"))
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, datetime.datetime) and value.time() == datetime.time(0):
        return value.date().isoformat()  # metric_time at a day grain or coarser
    return str(value)


def format_table(answer: Answer) -> str:
    """A plain text table: money with two decimals and thousands separators, shares with
    four decimals, exactly as the warehouse returned them (never through float)."""
    if not answer.rows:
        return "(no rows)"
    cells = [[_cell(v) for v in row] for row in answer.rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(answer.columns)]
    numeric = [all(isinstance(row[i], (int, float, Decimal)) or row[i] is None
                   for row in answer.rows) for i in range(len(answer.columns))]
    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()
    out = [line(answer.columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)
