"""The reconciliation report: ``reports/<run date>/reconciliation.html`` and ``breaks.csv``.

Written from ``marts.rpt_reconciliation_summary`` / ``_breaks`` for one run, for a reader
who is not an engineer: what was checked, what passed, every break with its amount at
stake, totals per platform and currency, and what changed since the previous run.
"""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tallyhouse import db
from tallyhouse.config import business_time_zone, reports_dir
from tallyhouse.money import format_amount
from tallyhouse.reconciliation.runner import stakes

LOCAL_TZ = ZoneInfo(business_time_zone())
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



FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(value) -> object:
    """A CSV cell a spreadsheet will not run: text that starts like a formula (``=``, ``+``,
    ``-``, ``@``, a tab or line break, or their full-width forms) gets a leading apostrophe.
    Numbers stay numbers (a negative amount is not a formula)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


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
            cur.execute("select s.check_name, s.passed, s.break_count, "
                        "(select jsonb_object_agg(unit, total) from (select coalesce("
                        "b.currency_code, b.unit) as unit, sum(b.amount_at_stake) as total "
                        "from marts.rpt_reconciliation_breaks as b where b.run_id = s.run_id "
                        "and b.check_name = s.check_name and b.amount_at_stake is not null "
                        "group by 1) as t) from marts.rpt_reconciliation_summary as s "
                        "where s.run_id = %s", (previous[0],))
            before = {name: {"passed": passed, "breaks": count, "stakes": by_unit or {}}
                      for name, passed, count, by_unit in cur.fetchall()}
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
        _render(run_id, run_at, summary, breaks, previous, before, books, folder),
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
    banner = (f"{FAILED_MARK}<div class='verdict bad' id='latest-run-failed' style='padding:1rem;"
              "border:2px solid #c23b3b;background:#fde4e4;border-radius:8px'>"
              f"<strong>The latest run failed</strong> on {local:%d/%m/%Y at %H:%M} (São Paulo "
              f"time), run <code>{_e(run_id)}</code>, at step <code>{_e(step)}</code>: "
              f"{_e(error.splitlines()[0][:300] if error else '')}. "
              "Nothing below is from that run: it is the last report written, if any.</div>")
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


def _money_list(totals: dict) -> str:
    if not totals:
        return "—"
    return "<br>".join(html.escape(format_amount(v, u)) for u, v in sorted(totals.items()))


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _carried_note(summary: list[dict]) -> str:
    origins = sorted({s["carried_over_from"] for s in summary if s.get("carried_over_from")})
    if not origins:
        return ""
    return ('<p class="meta" id="carried-over">Nothing was loaded or rebuilt since run '
            f'<code>{_e(", ".join(origins))}</code>: the check results below are carried '
            "over from it, not computed again.</p>")


def _render(run_id, run_at, summary, breaks, previous, before, books, folder) -> str:
    local = run_at.astimezone(LOCAL_TZ)
    failed = [s for s in summary if not s["passed"]]
    structural = [s for s in failed if s["severity"] == "ERROR"]
    by_check: dict[str, list[dict]] = {}
    for row in breaks:
        by_check.setdefault(row["check_name"], []).append(row)
    total_stakes = stakes(breaks)

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

    parts = [f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Reconciliation report — {local:%Y-%m-%d}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d2733; line-height: 1.4; padding: 0 1rem; }}
h1 {{ margin-bottom: 0.2rem; }} .meta {{ color: #5b6675; }}
.verdict {{ padding: 1rem 1.2rem; border-radius: 8px; font-size: 1.15rem; margin: 1rem 0; }}
.ok {{ background: #e4f6e8; border: 1px solid #3c9a50; }}
.warn {{ background: #fff4dc; border: 1px solid #d19a1c; }}
.bad {{ background: #fde4e4; border: 1px solid #c23b3b; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }}
th, td {{ border-bottom: 1px solid #dde2e8; padding: 0.35rem 0.5rem; text-align: left;
         vertical-align: top; }}
th {{ background: #f3f5f8; }} td.num {{ text-align: right; white-space: nowrap; }}
.pass {{ color: #2d7a3e; font-weight: 600; }} .fail {{ color: #b02a2a; font-weight: 600; }}
.finding {{ color: #a86b00; font-weight: 600; }} code {{ font-size: 0.85rem; }}
</style></head><body>
<h1>Reconciliation report</h1>
<p class="meta">Run on {local:%d/%m/%Y at %H:%M} ({_e(business_time_zone())} time; every
day in this report is a business day there) ·
run id <code>{_e(run_id)}</code></p>
<div class="verdict {verdict[0]}" id="verdict">{_e(verdict[1])}</div>
{_carried_note(summary)}
<p>Total amount at stake: <strong>{_money_list(total_stakes)}</strong>
 (per currency; points are loyalty points, never converted).</p>
<p>Every break is also in <a href="breaks.csv">breaks.csv</a> and in the table
<code>marts.rpt_reconciliation_breaks</code>; Great Expectations' own pages are in
<a href="data_docs/index.html">data_docs/</a>.</p>
"""]

    # comparison with the previous run
    parts.append("<h2>Compared with the previous run</h2>")
    if not previous:
        parts.append("<p>This is the first recorded run.</p>")
    else:
        prev_local = previous[1].astimezone(LOCAL_TZ)
        rows = []
        for s in summary:
            old = before.get(s["check_name"])
            now_stakes = stakes(by_check.get(s["check_name"], []))
            if old is None:
                change = "new check"
            elif old["breaks"] == s["break_count"]:
                change = "unchanged"
            elif s["break_count"] > old["breaks"]:
                change = f"+{s['break_count'] - old['breaks']} break(s)"
            else:
                change = f"{s['break_count'] - old['breaks']} break(s)"
            if old is None or old["breaks"] or s["break_count"]:
                rows.append(
                    f"<tr><td>{_e(s['check_name'])}</td>"
                    f"<td class='num'>{'—' if old is None else old['breaks']}</td>"
                    f"<td class='num'>{_money_list(old['stakes'] if old else {})}</td>"
                    f"<td class='num'>{s['break_count']}</td>"
                    f"<td class='num'>{_money_list(now_stakes)}</td><td>{_e(change)}</td></tr>")
        parts.append(f"<p>Previous run: {prev_local:%d/%m/%Y %H:%M} (<code>{_e(previous[0])}"
                     "</code>).</p>")
        if rows:
            parts.append("<table id='comparison'><tr><th>Check</th><th>Breaks before</th>"
                         "<th>At stake before</th><th>Breaks now</th><th>At stake now</th>"
                         "<th>Change</th></tr>" + "".join(rows) + "</table>")
        else:
            parts.append("<p>No break in either run.</p>")

    # totals per platform and currency
    parts.append("<h2>Amount at stake per platform and currency</h2>")
    per_platform: dict[tuple, list] = {}
    for row in breaks:
        key = (row["platform"] or "—", row["currency_code"] or row["unit"] or "—")
        per_platform.setdefault(key, []).append(row)
    if per_platform:
        parts.append("<table id='totals'><tr><th>Platform</th><th>Unit</th><th>Breaks</th>"
                     "<th>Amount at stake</th></tr>")
        for (platform, unit), rows in sorted(per_platform.items()):
            amounts = [r["amount_at_stake"] for r in rows if r["amount_at_stake"] is not None]
            stake = format_amount(sum(amounts, Decimal(0)), unit) if amounts else "—"
            parts.append(f"<tr><td>{_e(platform)}</td><td>{_e(unit)}</td>"
                         f"<td class='num'>{len(rows)}</td>"
                         f"<td class='num'>{_e(stake)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>Nothing at stake.</p>")

    # what was checked
    parts.append("<h2>What was checked</h2><table id='checks'><tr><th>Family</th>"
                 "<th>Check</th><th>What it means</th><th>Result</th><th>At stake</th></tr>")
    for s in summary:
        if s["passed"]:
            result = "<span class='pass'>passed</span>"
        elif s["error"]:
            result = f"<span class='fail'>could not run: {_e(s['error'])}</span>"
        elif s["severity"] == "ERROR":
            result = f"<span class='fail'>FAILED: {s['break_count']} break(s)</span>"
        else:
            result = f"<span class='finding'>{s['break_count']} break(s)</span>"
        parts.append(
            f"<tr><td>{s['invariant']}. {_e(FAMILIES.get(s['invariant'], ''))}</td>"
            f"<td><code>{_e(s['check_name'])}</code><br><small>{_e(s['checked_table'])}"
            f"</small></td><td>{_e(s['description'])}</td><td>{result}</td>"
            f"<td class='num'>{_money_list(stakes(by_check.get(s['check_name'], [])))}"
            "</td></tr>")
    parts.append("</table>")

    # the breaks
    parts.append("<h2>Breaks</h2>")
    if not breaks:
        parts.append("<p id='no-breaks'>No break: nothing to review.</p>")
    for s in summary:
        rows = by_check.get(s["check_name"], [])
        if not rows:
            continue
        parts.append(f"<h3 id='check-{_e(s['check_name'])}'>{_e(s['check_name'])} — "
                     f"{len(rows)} break(s)</h3><p>{_e(s['description'])}</p>"
                     "<table class='breaks'><tr><th>What</th><th>Entity</th><th>Platform</th>"
                     "<th>Expected</th><th>Actual</th><th>Difference</th><th>At stake</th>"
                     "<th>Detail</th></tr>")
        for row in rows[:BREAKS_SHOWN_PER_CHECK]:
            unit = row["currency_code"] or row["unit"]
            parts.append(
                f"<tr><td>{_e(row['break_kind'].replace('_', ' '))}</td>"
                f"<td>{_e(row['entity_type'])} <code>{_e(row['entity_id'])}</code></td>"
                f"<td>{_e(row['platform'])}</td>"
                f"<td class='num'>{_e(format_amount(row['expected'], unit))}</td>"
                f"<td class='num'>{_e(format_amount(row['actual'], unit))}</td>"
                f"<td class='num'>{_e(format_amount(row['difference'], unit))}</td>"
                f"<td class='num'>{_e(format_amount(row['amount_at_stake'], unit))}</td>"
                f"<td>{_e(row['detail'])}</td></tr>")
        parts.append("</table>")
        if len(rows) > BREAKS_SHOWN_PER_CHECK:
            parts.append(f"<p>First {BREAKS_SHOWN_PER_CHECK} of {len(rows)} shown; all are in "
                         "breaks.csv.</p>")

    # the books covered, for scale
    parts.append("<h2>Books covered by this run</h2><table id='books'><tr><th>Platform</th>"
                 "<th>Currency</th><th>Transactions</th><th>Approved sales (offer price)</th>"
                 "</tr>")
    for platform, currency, count, approved in books:
        parts.append(f"<tr><td>{_e(platform)}</td><td>{_e(currency)}</td>"
                     f"<td class='num'>{count:,}</td>"
                     f"<td class='num'>{_e(format_amount(approved or 0, currency))}</td></tr>")
    parts.append(f"</table><p class='meta'>Report folder: {_e(folder)}</p></body></html>\n")
    return "".join(parts)
