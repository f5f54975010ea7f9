"""The morning digest of a run, the all-clear, the failed-run alert and the test message.

The digest answers what finance asks first: the verdict (breaks and money at stake per
currency, in the subject); the structural findings, first; what is new since the previous
digest and what is still open (and for how long); the largest breaks by amount with their
entity ids; the period's control totals per platform and currency; where the full report
is. Everything is read through :mod:`tallyhouse.reconciliation.facts`, as the report is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tallyhouse import db
from tallyhouse.money import amounts_line, format_amount, format_count, format_date, is_currency
from tallyhouse.notify.message import Attachment, Message, Section
from tallyhouse.notify.settings import Settings
from tallyhouse.reconciliation.facts import LOCAL_TZ, RunFacts, age_days
from tallyhouse.reconciliation.runner import BREAK_IDENTITY

LISTED = 10  # breaks listed per section of the digest
LARGEST = 5

DELIVERIES_DDL = """
create schema if not exists marts;
create table if not exists marts.rpt_notification_deliveries (
    run_id text,
    kind text not null,
    channel text not null,
    attempted_at timestamptz not null,
    delivered boolean not null,
    attempts integer not null,
    detail text
);
create index if not exists rpt_notification_deliveries_at_idx
    on marts.rpt_notification_deliveries (attempted_at);
"""


@dataclass(frozen=True)
class PreviousDigest:
    run_id: str
    run_at: datetime
    keys: frozenset


def identity(row: dict) -> tuple:
    return tuple(row.get(name) for name in BREAK_IDENTITY)


def previous_digest(url: str, run_id: str) -> PreviousDigest | None:
    """The last run whose digest (or all-clear) reached at least one channel, and its breaks."""
    with db.cursor(url) as cur:
        cur.execute(DELIVERIES_DDL)
        cur.execute("""
            select d.run_id, max(s.run_at)
            from marts.rpt_notification_deliveries as d
            join marts.rpt_reconciliation_summary as s on s.run_id = d.run_id
            where d.kind in ('digest', 'all_clear') and d.delivered and d.run_id <> %s
            group by d.run_id order by max(d.attempted_at) desc limit 1""", (run_id,))
        found = cur.fetchone()
        if not found:
            return None
        cur.execute(f"select {', '.join(BREAK_IDENTITY)} from marts.rpt_reconciliation_breaks "
                    "where run_id = %s", (found[0],))
        keys = frozenset(tuple(row) for row in cur.fetchall())
    return PreviousDigest(found[0], found[1], keys)


def day_label(facts: RunFacts) -> str:
    return f"{facts.local:%d/%m}"


def subject_of(facts: RunFacts) -> str:
    """``tallyhouse 02/12: 26 breaks, R$ 4.213,50 + US$ 20,50 at stake`` or
    ``tallyhouse 02/12: the books agree``."""
    if not facts.breaks and not any(s["error"] for s in facts.summary):
        return f"tallyhouse {day_label(facts)}: the books agree"
    count = len(facts.breaks)
    text = f"tallyhouse {day_label(facts)}: {format_count(count)} break{'s' if count != 1 else ''}"
    if facts.structural:
        text += f" ({len(facts.structural)} structural)"
    errors = [s for s in facts.summary if s["error"]]
    if errors:
        text += f", {len(errors)} check(s) could not run"
    money = facts.money_stakes()
    if money:
        text += f", {amounts_line(money)} at stake"
    return text


def _break_line(row: dict, now: datetime, with_age: bool = True) -> str:
    from tallyhouse.reconciliation.report import platform_name

    side = row["shown"]
    stake = side["amount_at_stake"] if side["amount_at_stake"] != "—" else ""
    what = row["break_kind"].replace("_", " ")
    kind = ENTITY_WORDS.get(row["entity_type"], row["entity_type"].replace("_", " "))
    entity = f"{platform_name(row['platform'])} {kind} {row['entity_id']}"
    parts = [p for p in (stake, f"{what} ({row['check_name']})", entity) if p]
    line = " · ".join(parts)
    if with_age:
        age = age_days(row, now)
        first = row.get("first_seen_at") or row["run_at"]
        if first < now:
            line += f" · open {age} d (since {format_date(first.astimezone(LOCAL_TZ))})"
    return line


def _money_first(rows: list[dict]) -> list[dict]:
    """Money breaks by amount at stake, largest first; then points and records."""
    return sorted(rows, key=lambda r: (
        not is_currency(r["currency_code"] or r["unit"]) or r["amount_at_stake"] is None,
        -(Decimal(r["amount_at_stake"]) if r["amount_at_stake"] is not None else Decimal(0)),
        r["check_name"], str(r["entity_id"])))


ENTITY_WORDS = {"pix_order": "order", "redemption_order": "redemption order",
                "gift_card": "gift card"}


def _material(row: dict, minimum: Decimal | None) -> bool:
    """Shown in chat: structural findings, breaks without an amount (points, records) and
    money breaks at or above the threshold (in their own currency's units)."""
    if minimum is None or row["severity"] == "ERROR":
        return True
    unit = row["currency_code"] or row["unit"]
    if not is_currency(unit) or row["amount_at_stake"] is None:
        return True
    return Decimal(row["amount_at_stake"]) >= minimum


def control_table(totals) -> list[list[str]]:
    """One period's control totals per platform and currency (e-mail)."""
    from tallyhouse.reconciliation.report import platform_name

    rows = [["Platform", "Cur.", "Sales", "Gross", "Fees + comm.", "Refunds", "Net",
             "Payouts"]]
    for t in totals:
        c = t.currency
        rows.append([platform_name(t.platform), c, format_count(t.sales),
                     format_amount(t.gross, c), format_amount(-(t.fees + t.commissions), c),
                     format_amount(-t.refunded, c), format_amount(t.net, c),
                     format_amount(t.paid_out, c)])
    return rows if len(rows) > 1 else []


def control_lines(facts: RunFacts) -> list[str]:
    """The control totals in a line per platform and currency (chat)."""
    from tallyhouse.reconciliation.report import platform_name

    day = {(t.platform, t.currency): t for t in facts.day_totals}
    out = []
    for m in facts.month_totals:
        c, d = m.currency, day.get((m.platform, m.currency))
        out.append(f"{platform_name(m.platform)} {c}: day {format_count(d.sales if d else 0)} "
                   f"sales, net {format_amount(d.net if d else 0, c)} · month gross "
                   f"{format_amount(m.gross, c)}, net {format_amount(m.net, c)}, payouts "
                   f"{format_amount(m.paid_out, c)}")
    return out


def build_digest(facts: RunFacts, settings: Settings, before: PreviousDigest | None,
                 report: Path | None = None, breaks_csv: bytes | None = None) -> Message:
    from tallyhouse.reconciliation.report import not_covered

    now = facts.run_at
    subject = subject_of(facts)
    clean = subject.endswith("the books agree")
    intro = (f"Run of {facts.local:%d/%m/%Y at %H:%M} ({LOCAL_TZ.key}), "
             f"run {facts.run_id[:8]}.")
    sections: list[Section] = []
    chat: list[Section] = []
    minimum = settings.min_amount

    def both(title: str, rows: list[dict], lines_for, more: str = "",
             limit: int = LISTED) -> None:
        lines = [lines_for(r) for r in rows[:limit]]
        if len(rows) > limit:
            lines.append(f"… and {format_count(len(rows) - limit)} more (all in the report)")
        sections.append(Section(title + more, lines))
        kept = [r for r in rows if _material(r, minimum)]
        hidden = len(rows) - len(kept)
        chat_lines = [lines_for(r) for r in kept[:limit]]
        if len(kept) > limit:
            chat_lines.append(f"… and {format_count(len(kept) - limit)} more")
        if hidden:
            chat_lines.append(f"{format_count(hidden)} below {format_count(minimum)} at stake "
                              "not listed (all in the report)")
        chat.append(Section(title + more, chat_lines))

    # structural findings first: what the figures do not cover
    if facts.structural:
        names = {s["check_name"] for s in facts.structural}
        rows = _money_first([b for b in facts.breaks if b["check_name"] in names])
        sections.append(Section("Structural findings: " + not_covered(facts.breaks, names)))
        chat.append(Section(sections[-1].title))
        both(f"{format_count(len(rows))} structural break(s)", rows,
             lambda r: _break_line(r, now))
    errors = [s for s in facts.summary if s["error"]]
    if errors:
        section = Section("Checks that could not run",
                          [f"{s['check_name']}: {s['error']}" for s in errors])
        sections.append(section)
        chat.append(section)

    if not clean:
        money = [b for b in facts.breaks if b["severity"] != "ERROR"]
        if before is None:
            new, still_open, resolved = money, [], 0
            since = " (first digest)"
        else:
            new = [b for b in money if identity(b) not in before.keys]
            still_open = [b for b in money if identity(b) in before.keys]
            current = {identity(b) for b in facts.breaks}
            resolved = len([k for k in before.keys if k not in current])
            since = (f" since the previous digest "
                     f"({before.run_at.astimezone(LOCAL_TZ):%d/%m %H:%M})")
        both(f"New: {format_count(len(new))} break(s){since}", _money_first(new),
             lambda r: _break_line(r, now, with_age=False))
        if still_open:
            oldest = max(age_days(b, now) for b in still_open)
            both(f"Still open: {format_count(len(still_open))} break(s), the oldest "
                 f"{oldest} day(s)", _money_first(still_open), lambda r: _break_line(r, now))
        if resolved:
            section = Section(f"Resolved since the previous digest: {format_count(resolved)} "
                              "break(s)")
            sections.append(section)
            chat.append(section)
        largest = [b for b in _money_first(facts.breaks)
                   if b["amount_at_stake"] is not None
                   and is_currency(b["currency_code"] or b["unit"])
                   and b["shown"]["amount_at_stake"] != "—"]
        both("Largest breaks by amount", largest, lambda r: _break_line(r, now),
             limit=LARGEST)
        at_stake = Section("At stake (per currency; points are loyalty points)",
                           [amounts_line(facts.stakes_total, " · ") or "nothing measurable"])
        sections.append(at_stake)
        chat.append(at_stake)

    period = facts.period
    title = (f"The books: {period.day_label} and month to date ({period.month_label}), "
             "per platform and currency")
    day_table, month_table = control_table(facts.day_totals), control_table(facts.month_totals)
    if month_table:
        sections.append(Section(f"The books of {period.day_label}, per platform and currency",
                                table=day_table or None,
                                lines=[] if day_table else ["no sale, refund or payout"]))
        sections.append(Section(f"Month to date ({period.month_label})", table=month_table))
        chat.append(Section(title, control_lines(facts)))
    else:
        nothing = Section(title, ["no sale, refund or payout in the period"
                                  + (f" (the latest order date is "
                                     f"{format_date(facts.data_up_to)})"
                                     if facts.data_up_to else "")])
        sections.append(nothing)
        chat.append(nothing)

    failures = [d for d in facts.deliveries if not d["delivered"]]
    if failures:
        from tallyhouse.reconciliation.report import CHANNEL_NAMES

        section = Section("Not delivered since the previous run", [
            f"{d['kind']} to {CHANNEL_NAMES.get(d['channel'], d['channel'])} at "
            f"{d['attempted_at'].astimezone(LOCAL_TZ):%d/%m %H:%M}: {d['detail']}"
            for d in failures])
        sections.append(section)
        chat.append(section)

    attachments = []
    if breaks_csv is not None and facts.breaks:
        attachments.append(Attachment("breaks.csv", breaks_csv, "text/csv"))
    tone = "bad" if facts.structural or errors else ("ok" if clean else "warn")
    return Message(kind="all_clear" if clean else "digest", run_id=facts.run_id,
                   subject=subject, intro=intro, sections=sections, chat_sections=chat,
                   link=report_link(report, settings), attachments=attachments, tone=tone)


def report_link(report: Path | None, settings: Settings) -> str | None:
    """``TALLYHOUSE_REPORT_URL``/<run date>/reconciliation.html when the reports folder is
    served, else the report's path on the server."""
    if report is None:
        return None
    if settings.report_url:
        return f"{settings.report_url}/{report.parent.name}/{report.name}"
    return str(report)


def breaks_csv_bytes(facts: RunFacts) -> bytes:
    import csv

    from tallyhouse.reconciliation.report import CSV_COLUMNS, spreadsheet_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in facts.breaks:
        writer.writerow([spreadsheet_safe(row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def failure_alert(run_id: str, step: str, error: str, when: datetime,
                  settings: Settings, report: Path | None = None) -> Message:
    local = when.astimezone(LOCAL_TZ)
    first_line = (error or "failed").splitlines()[0][:300]
    return Message(
        kind="alert", run_id=run_id, tone="bad",
        subject=f"tallyhouse {local:%d/%m}: the run FAILED at step {step} ({local:%H:%M})",
        intro=f"Run {run_id[:8]} failed on {local:%d/%m/%Y at %H:%M} ({LOCAL_TZ.key}).",
        sections=[Section("What failed", [f"step {step}: {first_line}"]),
                  Section("What it means", [
                      "Nothing was checked or reported by this run: the latest report says so "
                      "at the top. The figures are those of the last run that completed.",
                      "The full log is in .tallyhouse/logs/ on the server (or the Dagster UI)."])],
        link=report_link(report, settings), link_label="Latest report")


def test_message(settings: Settings) -> Message:
    return Message(
        kind="test", run_id=None, tone="ok",
        subject="tallyhouse: test message, this channel receives the digest",
        intro="Sent by `tallyhouse notify --test`.",
        sections=[Section("Configured channels", [", ".join(settings.channels()) or "none"]),
                  Section("What comes here", [
                      "after every scheduled run: the verdict, new and still-open breaks, the "
                      "largest breaks by amount, the period's control totals",
                      "an alert when a run fails, with the step and the time"])])
