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

from tallyhouse.config import business_time_zone, reports_dir
from tallyhouse.money import format_amount, format_count, format_date, is_currency
from tallyhouse.reconciliation.facts import ControlTotal, Period, RunFacts, age_days
from tallyhouse.reconciliation.facts import read as read_facts

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


def write_report(url: str, run_id: str, root: Path | None = None,
                 period: Period | None = None) -> Written:
    """The run's report and breaks.csv, from what the run stored (``facts.read``)."""
    facts = read_facts(url, run_id, period)
    folder = run_folder(facts.run_at, root)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "breaks.csv"  # cells through spreadsheet_safe: data is never a formula
    write_breaks_csv(facts.breaks, csv_path)
    html_path = folder / "reconciliation.html"
    html_path.write_text(
        TEMPLATES.get_template("reconciliation.html.j2").render(context(facts, folder)),
        encoding="utf-8")
    return Written(html_path, csv_path, len(facts.summary), len(facts.failed), len(facts.breaks))


def write_breaks_csv(breaks: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in breaks:
            writer.writerow([spreadsheet_safe(row[c]) for c in CSV_COLUMNS])


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
    return [format_amount(totals[u], u) for u in sorted(
        totals, key=lambda u: (u != "BRL", not is_currency(u), u))]


def _change(old: dict | None, count: int) -> str:
    if old is None:
        return "new check"
    if old["breaks"] == count:
        return "unchanged"
    if count == 0:
        return "resolved"
    return f"{count - old['breaks']:+d} break(s)"


def _result(check: dict) -> tuple[str, str]:
    if check["passed"]:
        return "pass", "passed"
    if check["error"]:
        return "fail", f"could not run: {check['error']}"
    if check["severity"] == "ERROR":
        return "fail", f"FAILED: {format_count(check['break_count'])} break(s)"
    return "finding", f"{format_count(check['break_count'])} break(s)"


def verdict(facts: RunFacts) -> tuple[str, str]:
    summary, breaks = facts.summary, facts.breaks
    if facts.structural:
        return ("bad", f"{len(facts.structural)} structural finding(s): "
                + not_covered(breaks, {s['check_name'] for s in facts.structural})
                + " Every other figure below is complete.")
    if facts.failed:
        return ("warn", f"{len(facts.failed)} of {len(summary)} checks found "
                f"{format_count(len(breaks))} break(s). The books do not fully agree; each "
                "break is listed below with the amount at stake.")
    return ("ok", f"All {len(summary)} checks passed: the books agree. No break found.")


def control_rows(totals: list[ControlTotal]) -> list[dict]:
    """Control totals as the report and the digest show them, each amount in its currency."""
    return [{
        "platform": platform_name(t.platform), "currency": t.currency,
        "sales": format_count(t.sales),
        "gross": format_amount(t.gross, t.currency),
        "fees": format_amount(-t.fees, t.currency),
        "commissions": format_amount(-t.commissions, t.currency),
        "refunds": format_amount(-t.refunded, t.currency),
        "refund_count": format_count(t.refunds),
        "net": format_amount(t.net, t.currency),
        "payouts": format_amount(t.paid_out, t.currency) if t.payouts else "—",
    } for t in totals]


def context(facts: RunFacts, folder: Path) -> dict:
    """Everything the report template shows, formatted for a reader in the business time
    zone (pt-BR numbers, each amount in its own currency); amounts at stake come from the
    view ``marts.rpt_reconciliation_stakes``."""
    local = facts.local
    by_check: dict[str, list[dict]] = {}
    for row in facts.breaks:
        by_check.setdefault(row["check_name"], []).append(row)
    per_check = facts.stakes_per_check
    kind, text = verdict(facts)

    compared = None
    if facts.previous:
        rows = []
        for s in facts.summary:
            old = facts.before.get(s["check_name"])
            if old is None or old["breaks"] or s["break_count"]:
                rows.append({
                    "check": s["check_name"],
                    "breaks_before": "—" if old is None else format_count(old["breaks"]),
                    "stakes_before": _amounts(old["stakes"] if old else {}),
                    "breaks_now": format_count(s["break_count"]),
                    "stakes_now": _amounts(per_check.get((s["check_name"],), {})),
                    "change": _change(old, s["break_count"]),
                })
        new = sum(1 for b in facts.breaks
                  if (b.get("first_seen_at") or b["run_at"]) >= facts.run_at)
        compared = {"id": facts.previous[0], "rows": rows,
                    "local": f"{facts.previous[1].astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}",
                    "new": format_count(new),
                    "still_open": format_count(len(facts.breaks) - new)}

    checks = []
    for s in facts.summary:
        result_class, result = _result(s)
        checks.append({
            "family": f"{s['invariant']}. {FAMILIES.get(s['invariant'], '')}",
            "name": s["check_name"], "table": s["checked_table"],
            "description": s["description"], "result": result, "result_class": result_class,
            "stakes": _amounts(per_check.get((s["check_name"],), {})),
        })

    sections = []
    for s in facts.summary:
        rows = by_check.get(s["check_name"], [])
        if not rows:
            continue
        shown = []
        for row in rows[:BREAKS_SHOWN_PER_CHECK]:
            side = row["shown"]
            shown.append({
                "what": row["break_kind"].replace("_", " "),
                "entity_type": row["entity_type"], "entity_id": row["entity_id"],
                "platform": platform_name(row["platform"]),
                "expected": side["expected"], "actual": side["actual"],
                "difference": side["difference"], "stake": side["amount_at_stake"],
                "detail": row["detail"], "note": side["note"],
                "open_since": open_since(row, facts.run_at),
            })
        sections.append({"check": s["check_name"], "description": s["description"],
                         "count": len(rows), "count_text": format_count(len(rows)),
                         "rows": shown})

    period = facts.period
    return {
        "run": {"id": facts.run_id, "date": f"{local:%Y-%m-%d}",
                "local": f"{local:%d/%m/%Y at %H:%M}", "time_zone": business_time_zone()},
        "verdict": {"kind": kind, "text": text},
        "carried_over_from": sorted({s["carried_over_from"] for s in facts.summary
                                     if s.get("carried_over_from")}),
        "total_stakes": _amounts(facts.stakes_total),
        "previous": compared,
        "per_platform": [
            {"platform": platform_name(platform), "unit": unit, "breaks": format_count(count),
             "stake": format_amount(amount, unit) if amount is not None else "—"}
            for platform, unit, count, amount in facts.per_platform],
        "checks": checks,
        "sections": sections,
        "period": {"day": period.day_label, "month": period.month_label,
                   "day_rows": control_rows(facts.day_totals),
                   "month_rows": control_rows(facts.month_totals),
                   "data_up_to": format_date(facts.data_up_to) if facts.data_up_to else None},
        "deliveries": [{
            "when": f"{d['attempted_at'].astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}",
            "kind": d["kind"], "channel": CHANNEL_NAMES.get(d["channel"], d["channel"]),
            "delivered": d["delivered"], "attempts": d["attempts"], "detail": d["detail"] or "",
        } for d in facts.deliveries],
        "folder": str(folder),
    }


def open_since(row: dict, now: datetime) -> str:
    """``new``, or the day a break was first seen and its age: ``28/11/2026 (5 d)``."""
    first = row.get("first_seen_at") or row["run_at"]
    if first >= now:
        return "new"
    return f"{format_date(first.astimezone(LOCAL_TZ))} ({age_days(row, now)} d)"


PLATFORM_NAMES = {"hotmart": "Hotmart", "kiwify": "Kiwify", "eduzz": "Eduzz", "pix": "PIX",
                  "giftcards": "Gift cards", "loyalty": "Loyalty", "payouts": "Payouts",
                  "redemptions": "Redemptions", "—": "—"}
CHANNEL_NAMES = {"email": "e-mail", "slack": "Slack", "teams": "Teams",
                 "gchat": "Google Chat"}


def platform_name(code: str | None) -> str:
    if code is None:
        return "—"
    return PLATFORM_NAMES.get(code, code.replace("_", " ").capitalize())
