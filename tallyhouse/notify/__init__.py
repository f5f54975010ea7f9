"""Telling finance: the digest after a run, the all-clear, the failed-run alert, a test.

``send_digest`` reads what the run stored (:mod:`tallyhouse.reconciliation.facts`), sends
the digest to every configured channel (:mod:`tallyhouse.notify.settings`), and records
each delivery in ``marts.rpt_notification_deliveries`` — shown in the next report, and the
reference for "new since the previous digest". Nothing here raises for a delivery: a
channel that cannot be reached is recorded, and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tallyhouse import db
from tallyhouse.notify.deliver import Delivery, deliver
from tallyhouse.notify.digest import (
    DELIVERIES_DDL,
    breaks_csv_bytes,
    build_digest,
    failure_alert,
    previous_digest,
    test_message,
)
from tallyhouse.notify.message import Message
from tallyhouse.notify.settings import Settings, from_env

__all__ = ["Outcome", "send_digest", "send_failure_alert", "send_test", "digest_for",
           "from_env", "Settings", "Delivery", "Message"]


@dataclass
class Outcome:
    message: Message | None
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: str = ""  # why nothing was sent

    @property
    def ok(self) -> bool:
        return all(d.delivered for d in self.deliveries)


def digest_for(url: str, run_id: str, settings: Settings | None = None,
               report: Path | None = None) -> Message:
    """The digest of a run, as it would be sent (no delivery, nothing recorded)."""
    from tallyhouse.reconciliation.facts import read

    settings = settings or from_env()
    facts = read(url, run_id)
    if report is None:
        from tallyhouse.reconciliation.report import run_folder

        candidate = run_folder(facts.run_at) / "reconciliation.html"
        report = candidate if candidate.exists() else None
    return build_digest(facts, settings, previous_digest(url, run_id), report,
                        breaks_csv_bytes(facts))


def send_digest(url: str, run_id: str, settings: Settings | None = None,
                report: Path | None = None) -> Outcome:
    settings = settings or from_env()
    if not settings.channels():
        return Outcome(None, skipped="no channel configured")
    message = digest_for(url, run_id, settings, report)
    if message.kind == "all_clear" and not settings.all_clear:
        return Outcome(message, skipped="the books agree and the all-clear is off")
    deliveries = deliver(message, settings)
    record(url, message, deliveries)
    return Outcome(message, deliveries)


def send_failure_alert(run_id: str, step: str, error: str, when: datetime | None = None,
                       url: str | None = None, settings: Settings | None = None,
                       report: Path | None = None) -> Outcome:
    """The failed-run alert; recorded when the database can be reached (it may be what
    failed)."""
    settings = settings or from_env()
    if not settings.channels():
        return Outcome(None, skipped="no channel configured")
    message = failure_alert(run_id, step, error, when or datetime.now(UTC), settings, report)
    deliveries = deliver(message, settings)
    if url:
        try:
            record(url, message, deliveries)
        except Exception:  # noqa: BLE001 - the database may be what failed
            pass
    return Outcome(message, deliveries)


def send_test(settings: Settings | None = None, url: str | None = None) -> Outcome:
    settings = settings or from_env()
    if not settings.channels():
        return Outcome(None, skipped="no channel configured")
    message = test_message(settings)
    deliveries = deliver(message, settings)
    if url:
        try:
            record(url, message, deliveries)
        except Exception:  # noqa: BLE001 - a test needs no database
            pass
    return Outcome(message, deliveries)


def record(url: str, message: Message, deliveries: list[Delivery]) -> None:
    """One row per channel in marts.rpt_notification_deliveries (reasons already free of
    secrets: they are made from status codes and exception types, then redacted)."""
    if not deliveries:
        return
    now = datetime.now(UTC)
    with db.cursor(url) as cur:
        cur.execute(DELIVERIES_DDL)
        for d in deliveries:
            cur.execute("insert into marts.rpt_notification_deliveries (run_id, kind, channel, "
                        "attempted_at, delivered, attempts, detail) values (%s, %s, %s, %s, "
                        "%s, %s, %s)", (message.run_id, message.kind, d.channel, now,
                                        d.delivered, d.attempts, d.detail))
