"""The ground truth document (_truth.json) and the run summary."""

from __future__ import annotations

import json

from tallyhouse.generator import render
from tallyhouse.generator.state import (
    GeneratorState,
)


class TruthDocument(GeneratorState):
    """What the generated world holds, for tests to compare the marts with."""

    # ------------------------------------------------------------------ outputs

    def _write_outputs(self, seconds: float, clean_transactions: int) -> dict:
        truth = self._truth_document(seconds, clean_transactions)
        (self.cfg.out / "_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
        if self.cfg.anomalies:
            (self.cfg.out / "_anomalies.json").write_text(
                json.dumps({"seed": self.cfg.seed, "anomalies": self.anomalies}, indent=2,
                           ensure_ascii=False))
        return {"seconds": seconds, "files": len(self.files.files()),
                "records": sum(self.files.records.values()), "transactions": clean_transactions,
                "anomalies": len(self.anomalies)}

    def _truth_document(self, seconds: float, transactions: int) -> dict:
        def money_map(values: dict, money_keys: tuple[str, ...]) -> dict:
            out = {}
            for key, value in sorted(values.items()):
                is_money = key.endswith(money_keys)
                out[key] = render.money_text(value) if is_money else value
            return out

        money_suffixes = ("amount", "price", "offer_price")
        return {
            "generator": {
                "seed": self.cfg.seed, "transactions": transactions,
                "start": self.start.date().isoformat(),
                "end_exclusive": self.end.date().isoformat(), "anomalies": self.cfg.anomalies,
                "seconds": round(seconds, 1),
            },
            "definitions": {
                "scope": "Describes the data as generated before any --anomalies injection. "
                         "Only what was delivered by the end date counts.",
                "money": "Decimal strings in the transaction's currency; never summed across "
                         "currencies.",
                "final_status": "Normalized status of the delivered event with the latest "
                                "event time.",
                "approved": "Transactions the platform reported approved at some point "
                            "(approved, complete, disputed, refunded or partially refunded).",
                "refund": "Refunds and partial refunds delivered; chargeback = dispute lost.",
                "payouts": "Statement lines per platform and currency; PIX sale lines pay the "
                           "master's share of the PIX part (producer net minus gift-card part).",
                "records": "Distinct records per feed (exact re-deliveries excluded).",
            },
            "sales": {
                platform: {cur: money_map(values, money_suffixes)
                           for cur, values in sorted(by_cur.items())}
                for platform, by_cur in sorted(self.truth.sales.items())
            },
            "payouts": {
                platform: {cur: money_map(values, money_suffixes)
                           for cur, values in sorted(by_cur.items())}
                for platform, by_cur in sorted(self.truth.payouts.items())
            },
            "subscriptions": {k: dict(v) for k, v in sorted(self.truth.subscriptions.items())},
            "platform_events": {k: dict(v)
                                for k, v in sorted(self.truth.platform_events.items())},
            "customers": len(self.truth.customers),
            "final_status_by_product": {k: dict(sorted(v.items()))
                                        for k, v in sorted(self.truth.products.items())},
            "points": dict(sorted(self.truth.points.items())) | {
                "balance_points": sum(c["credits"] - c["confirmed"] for c in self.companies),
                "accounts": len(self.companies),
            },
            "redemptions": dict(sorted(self.truth.redemptions.items())),
            "giftcards": money_map(self.truth.giftcards, money_suffixes),
            "pix": money_map(self.truth.pix, money_suffixes),
            "records": dict(sorted(self.truth.records.items())),
        }
