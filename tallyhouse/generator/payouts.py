"""Payout statements: which sale is paid in which weekly payout."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.model import (
    Txn,
)
from tallyhouse.generator.state import (
    PAYOUT_WEEKDAY,
    PIX_SETTLEMENT_DAYS,
    GeneratorState,
)


class Payouts(GeneratorState):
    """Payout lines of approved sales, refunds and chargebacks."""

    # ------------------------------------------------------------------ payouts

    def next_payout_date(self, moment: datetime) -> date:
        day = moment.date() + timedelta(days=1)
        while day.weekday() != PAYOUT_WEEKDAY:
            day += timedelta(days=1)
        return day

    def payout_lines(self, txn: Txn) -> None:
        approved = txn.approved_at
        if approved is None:
            return
        if txn.platform == "pix":
            eligible = approved + timedelta(days=PIX_SETTLEMENT_DAYS)
            amount = txn.producer_net - txn.extra.get("giftcard_amount", 0)
        else:
            eligible = approved + timedelta(days=txn.warranty_days + 1)
            amount = txn.producer_net
        reversal_at = txn.refund_settled_at
        if reversal_at is not None and reversal_at <= eligible:
            return  # refunded before the money was released: never paid out
        payout_day = self.next_payout_date(eligible)
        eligible_at = eligible
        eligible = txn.platform == "hotmart" and payout_day < self.end.date()
        # A sale left unpaid must be overdue by the end date: released three weeks before.
        overdue = eligible and eligible_at.date() + timedelta(days=21) < self.end.date()
        if self._take_hook("payout_skip", txn.index, overdue):
            self.samples["payout_skipped"].append((txn, payout_day, amount))
            return
        reported = amount
        if self._take_hook("payout_mismatch", txn.index, eligible):
            reported = amount - 321
            self.samples["payout_mismatch"].append((txn, payout_day, amount, reported))
        self._write_payout(txn, payout_day, "sale", reported, clean_amount=amount)
        if reversal_at is not None:
            method = txn.extra.get("refund_method")
            if txn.platform == "pix" and method == "voucher":
                return  # voucher refunds move no money through the gateway
            line_type = "chargeback" if txn.refund_kind == "chargeback" else "refund"
            reversed_amount = txn.refund_amount if txn.platform == "pix" else txn.producer_net
            self._write_payout(txn, self.next_payout_date(reversal_at), line_type,
                               -reversed_amount)

    def _write_payout(self, txn: Txn, payout_day: date, line_type: str, amount: int,
                      clean_amount: int | None = None) -> None:
        if payout_day >= self.end.date():
            return
        payout_id = f"PO-{txn.platform.upper()}-{txn.currency}-{payout_day:%Y%m%d}"
        self.files.write_row("payouts", "payout_lines", payout_day, (
            payout_id, txn.platform, payout_day.isoformat(), line_type, txn.txn_id,
            txn.currency, render.money_text(amount)))
        self.truth.records["payout_lines"] += 1
        p = self.truth.payouts[txn.platform][txn.currency]
        p[f"{line_type}.count"] += 1
        p[f"{line_type}.amount"] += clean_amount if clean_amount is not None else amount
        p["lines"] += 1
        p["amount"] += clean_amount if clean_amount is not None else amount
