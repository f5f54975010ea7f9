"""The reconciliation report: ``reports/<run date>/reconciliation.html`` and ``breaks.csv``.

Written from ``marts.rpt_reconciliation_summary`` / ``_breaks`` for one run, for a reader
who is not an engineer: what was checked, what passed, every break with its amount at
stake, totals per platform and currency, and what changed since the previous run.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tallyhouse import db
from tallyhouse.config import business_time_zone, reports_dir
from tallyhouse.money import format_amount
from tallyhouse.reconciliation.runner import stakes

LOCAL_TZ = ZoneInfo(business_time_zone())
TEMPLATES = Environment(loader=PackageLoader("tallyhouse.reconciliation", "templates"),
                        autoescape=select_autoescape(["html", "j2"]),
                        undefined=StrictUndefined, keep_trailing_newline=True)
FAMILIES = {
    1: "Nothing lost between the files and the marts",
    2: "Money formulas, fees and commissions",
    3: "Statuses",
    4: "Platforms against payout statements",
    5: "Loyalty points",
    6: "Gift cards and PIX",
    7: "Further finance checks",
}
BREAKS_SHOWN_PER_CHECK = 200
CSV_COLUMNS = ("run_id", "run_at", "check_name", "invariant", "severity", "break_kind",
               "entity_type", "entity_id", "platform", "unit", "currency_code", "expected",
               "actual", "difference", "amount_at_stake", "detail", "feed")


@dataclass
class Written:
    html_path: Path
    csv_path: Path
    checks: int
    failed_checks: int
    breaks: int


# Where a spreadsheet may begin a cell inside a value: after a separator of either CSV flavour
# (Excel in pt-BR splits on ";"), a tab or a line break (a reader that ignores the quotes).
CELL_BREAK = re.compile(r"\r\n|[,;\t\r\n]")
FORMULA_STARTS = ("=", "+", "-", "@")  # after NFKC: full-width ＝ ＋ － ＠ are these too
CONTROL_STARTS = ("\t", "\r", "\n", "\0")
LEADING_NOISE = re.compile(r'^[\s"]+')  # spaces and quotes a spreadsheet may skip or unquote
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _starts_formula(rest: str, segment: str) -> bool:
    """A cell that began here (``rest``: the text from here on, ``segment``: up to the next
    separator) would be a formula: a tab, line break or NUL first; or, after spaces and
    quotes, in NFKC form, = + - @."""
    if rest.startswith(CONTROL_STARTS):
        return True
    return LEADING_NOISE.sub("", unicodedata.normalize("NFKC", segment)).startswith(
        FORMULA_STARTS)


def spreadsheet_safe(value) -> object:
    """A CSV cell no spreadsheet will run, whether it splits on "," or ";" (or tabs and
    line breaks): every piece of a text that would start a formula as a cell of its own
    (= + - @ or their full-width forms, after spaces or quotes; or a tab / line break) gets
    a leading apostrophe, and nothing else changes.

    The apostrophe is the mark spreadsheets themselves use for "text": one visible
    character, the value still readable and searchable. Quoting cannot do it: a quote is no
    quote to a reader that splits on the other separator. Numbers stay numbers: a negative
    amount (-12.50) is not a formula and stays usable as an amount; "x;-5" is neutralised,
    as a reader that splits on ";" carries that cell on to its next ";"."""
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)) \
            or (isinstance(value, Decimal) and value.is_finite()):
        return value  # an amount stays a number ("-Infinity" would be text, checked below)
    text = str(value)
    if NUMBER.fullmatch(text.strip(" ")):
        return value  # a whole cell that is a number ("-12.50"); a piece of one is not
    starts = [0, *(cut.end() for cut in CELL_BREAK.finditer(text))]
    ends = [cut.start() for cut in CELL_BREAK.finditer(text)] + [len(text)]
    out, done = [], 0
    for start, end in zip(starts, ends, strict=True):
        if _starts_formula(text[start:], text[start:end]):
            out.append(text[done:start] + "'")
            done = start
    return "".join(out) + text[done:]


def run_folder(run_at: datetime, root: Path | None = None) -> Path:
    return (root or reports_dir()) / run_at.astimezone(LOCAL_TZ).date().isoformat()


def write_report(url: str, run_id: str, root: Path | None = None) -> Written:
    with db.cursor(url) as cur:
        cur.execute("select check_name, invariant, severity, checked_table, description, "
                    "passed, break_count, error, duration_seconds, run_at, carried_over_from "
                    "from marts.rpt_reconciliation_summary where run_id = %s "
                    "order by invariant, check_name", (run_id,))
        summary = [dict(zip([d.name for d in cur.description], r, strict=True))
                   for r in cur.fetchall()]
        if not summary:
            raise LookupError(f"no reconciliation checks stored for run {run_id}")
        run_at = summary[0]["run_at"]
        cur.execute(f"select {', '.join(CSV_COLUMNS)} from marts.rpt_reconciliation_breaks "
                    "where run_id = %s order by invariant, check_name, "
                    "amount_at_stake desc nulls last, entity_id", (run_id,))
        breaks = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        cur.execute("select run_id, max(run_at) from marts.rpt_reconciliation_summary "
                    "where run_at < %s group by run_id order by 2 desc limit 1", (run_at,))
        previous = cur.fetchone()
        before: dict[str, dict] = {}
        if previous:
            cur.execute("select check_name, passed, break_count "
                        "from marts.rpt_reconciliation_summary where run_id = %s",
                        (previous[0],))
            before_stakes = stakes(cur, previous[0], by=("check_name",))
            before = {name: {"passed": passed, "breaks": count,
                             "stakes": before_stakes.get((name,), {})}
                      for name, passed, count in cur.fetchall()}
        now = {"total": stakes(cur, run_id),
               "per_check": stakes(cur, run_id, by=("check_name",))}
        cur.execute("select platform, unit, sum(breaks), sum(amount_at_stake) "
                    "from marts.rpt_reconciliation_stakes where run_id = %s "
                    "group by 1, 2 order by 1, 2", (run_id,))
        now["per_platform"] = cur.fetchall()
        cur.execute("select platform, currency_code, count(*), "
                    "sum(offer_price) filter (where has_been_approved) "
                    "from marts.fct_transactions group by 1, 2 order by 1, 2")
        books = cur.fetchall()

    folder = run_folder(run_at, root)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "breaks.csv"  # cells through spreadsheet_safe: data is never a formula
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in breaks:
            writer.writerow([spreadsheet_safe(row[c]) for c in CSV_COLUMNS])
    html_path = folder / "reconciliation.html"
    html_path.write_text(
        TEMPLATES.get_template("reconciliation.html.j2").render(
            context(run_id, run_at, summary, breaks, previous, before, now, books, folder)),
        encoding="utf-8")
    failed = [s for s in summary if not s["passed"]]
    return Written(html_path, csv_path, len(summary), len(failed), len(breaks))


FAILED_MARK = "<!-- tallyhouse: latest run failed -->"


def mark_failed_run(run_id: str, step: str, error: str, root: Path | None = None,
                    now: datetime | None = None) -> Path:
    """Say in today's report that the latest run failed (and when, and where), so that an
    earlier report does not look current. The next successful run writes it anew."""
    from datetime import UTC

    now = now or datetime.now(UTC)
    folder = run_folder(now, root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reconciliation.html"
    local = now.astimezone(LOCAL_TZ)
    banner = FAILED_MARK + TEMPLATES.get_template("failed_run.html.j2").render(
        local=f"{local:%d/%m/%Y at %H:%M}", time_zone=business_time_zone(), run_id=run_id,
        step=step, error=error.splitlines()[0][:300] if error else "").strip()
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if FAILED_MARK in text:  # one banner, the latest failure
            start = text.index(FAILED_MARK)
            text = text[:start] + text[text.index("</div>", start) + len("</div>"):]
        text = text.replace("<body>", "<body>" + banner, 1)
    else:
        text = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
                "Reconciliation report — latest run failed</title></head><body>"
                f"{banner}<p>No reconciliation report was written today.</p></body></html>\n")
    path.write_text(text, encoding="utf-8")
    return path


def not_covered(breaks: list[dict], structural: set[str]) -> str:
    """What the figures do not cover, in a sentence: transactions whose status or method is
    not known (and their money per currency), records left out or partly read, files that
    do not reconcile."""
    found = [b for b in breaks if b["check_name"] in structural]
    transactions = {(b["platform"], b["entity_id"]) for b in found
                    if b["entity_type"] == "transaction"}
    money: dict[str, Decimal] = {}
    seen: set = set()
    for b in found:
        key = (b["platform"], b["entity_id"], b["currency_code"])
        if b["entity_type"] == "transaction" and b["currency_code"] and key not in seen \
                and b["amount_at_stake"] is not None:
            seen.add(key)
            money[b["currency_code"]] = money.get(b["currency_code"], Decimal(0)) \
                + Decimal(b["amount_at_stake"])
    left_out = {b["entity_id"] for b in found if b["break_kind"] == "record_left_out"}
    unreadable = {b["entity_id"] for b in found if b["break_kind"] == "value_unreadable"}
    files = {b["entity_id"] for b in found if b["break_kind"] == "file_not_reconciled"}
    parts = []
    if transactions:
        amounts = ", ".join(format_amount(v, c) for c, v in sorted(money.items()))
        parts.append(f"{len(transactions):,} transaction(s)"
                     + (f" worth {amounts}" if amounts else "")
                     + " carry a status or payment method the seeds do not map, or are missing")
    if left_out:
        parts.append(f"{len(left_out):,} delivered record(s) could not be placed and are not "
                     "in the marts")
    if unreadable:
        parts.append(f"{len(unreadable):,} record(s) have values that could not be read "
                     "(left empty)")
    if files:
        parts.append(f"{len(files):,} file(s) do not reconcile")
    return ("The figures do not cover: " + "; ".join(parts) + "."
            if parts else "See the structural checks below.")


def _amounts(totals: dict) -> list[str]:
    return [format_amount(v, u) for u, v in sorted(totals.items())]


def _change(old: dict | None, count: int) -> str:
    if old is None:
        return "new check"
    if old["breaks"] == count:
        return "unchanged"
    return f"{count - old['breaks']:+d} break(s)"


def _result(check: dict) -> tuple[str, str]:
    if check["passed"]:
        return "pass", "passed"
    if check["error"]:
        return "fail", f"could not run: {check['error']}"
    if check["severity"] == "ERROR":
        return "fail", f"FAILED: {check['break_count']} break(s)"
    return "finding", f"{check['break_count']} break(s)"


def context(run_id, run_at, summary, breaks, previous, before, now, books, folder) -> dict:
    """Everything the report template shows, formatted for a reader in the business time
    zone; amounts at stake come from the view ``marts.rpt_reconciliation_stakes``."""
    local = run_at.astimezone(LOCAL_TZ)
    failed = [s for s in summary if not s["passed"]]
    structural = [s for s in failed if s["severity"] == "ERROR"]
    by_check: dict[str, list[dict]] = {}
    for row in breaks:
        by_check.setdefault(row["check_name"], []).append(row)
    per_check = now["per_check"]

    if structural:
        verdict = ("bad", f"{len(structural)} structural finding(s): "
                          + not_covered(breaks, {s['check_name'] for s in structural})
                          + " Every other figure below is complete.")
    elif failed:
        verdict = ("warn", f"{len(failed)} of {len(summary)} checks found {len(breaks)} "
                           "break(s). The books do not fully agree; each break is listed "
                           "below with the amount at stake.")
    else:
        verdict = ("ok", f"All {len(summary)} checks passed: the books agree. No break found.")

    compared = None
    if previous:
        rows = []
        for s in summary:
            old = before.get(s["check_name"])
            if old is None or old["breaks"] or s["break_count"]:
                rows.append({
                    "check": s["check_name"],
                    "breaks_before": "—" if old is None else old["breaks"],
                    "stakes_before": _amounts(old["stakes"] if old else {}),
                    "breaks_now": s["break_count"],
                    "stakes_now": _amounts(per_check.get((s["check_name"],), {})),
                    "change": _change(old, s["break_count"]),
                })
        compared = {"id": previous[0], "rows": rows,
                    "local": f"{previous[1].astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}"}

    checks = []
    for s in summary:
        result_class, result = _result(s)
        checks.append({
            "family": f"{s['invariant']}. {FAMILIES.get(s['invariant'], '')}",
            "name": s["check_name"], "table": s["checked_table"],
            "description": s["description"], "result": result, "result_class": result_class,
            "stakes": _amounts(per_check.get((s["check_name"],), {})),
        })

    sections = []
    for s in summary:
        rows = by_check.get(s["check_name"], [])
        if not rows:
            continue
        shown = []
        for row in rows[:BREAKS_SHOWN_PER_CHECK]:
            unit = row["currency_code"] or row["unit"]
            shown.append({
                "what": row["break_kind"].replace("_", " "),
                "entity_type": row["entity_type"], "entity_id": row["entity_id"],
                "platform": row["platform"],
                "expected": format_amount(row["expected"], unit),
                "actual": format_amount(row["actual"], unit),
                "difference": format_amount(row["difference"], unit),
                "stake": format_amount(row["amount_at_stake"], unit),
                "detail": row["detail"],
            })
        sections.append({"check": s["check_name"], "description": s["description"],
                         "count": len(rows), "rows": shown})

    return {
        "run": {"id": run_id, "date": f"{local:%Y-%m-%d}",
                "local": f"{local:%d/%m/%Y at %H:%M}", "time_zone": business_time_zone()},
        "verdict": {"kind": verdict[0], "text": verdict[1]},
        "carried_over_from": sorted({s["carried_over_from"] for s in summary
                                     if s.get("carried_over_from")}),
        "total_stakes": _amounts(now["total"]),
        "previous": compared,
        "per_platform": [
            {"platform": platform, "unit": unit, "breaks": count,
             "stake": format_amount(amount, unit) if amount is not None else "—"}
            for platform, unit, count, amount in now["per_platform"]],
        "checks": checks,
        "sections": sections,
        "books": [{"platform": platform, "currency": currency, "transactions": f"{count:,}",
                   "approved": format_amount(approved or 0, currency)}
                  for platform, currency, count, approved in books],
        "folder": str(folder),
    }
