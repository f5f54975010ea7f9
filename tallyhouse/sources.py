"""The landing folders tallyhouse reads and the raw tables they land in.

One *source* per landing folder (``landing/<source>/``); a source delivers one or
more *feeds* (a kind of file, told apart by the file-name prefix). Each feed lands
in one table ``raw.<feed>``. The Dagster loader asset of a source has the key
``[<source>, <feed>]`` per feed, which is also the dbt source key, so lineage joins
without a translator.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Feed:
    source: str
    name: str  # raw table name and file-name prefix
    fmt: str  # "jsonl" or "csv"
    columns: tuple[str, ...] = field(default=())  # CSV header, in order
    description: str = ""
    # JSON types a record of the feed may be; any other is quarantined at load time
    json_shapes: tuple[str, ...] = ("object",)
    # "delivered" (webhooks, exports, ledgers: files named as their sender likes) or "api"
    # (pages `tallyhouse backfill` fetched from a platform's API and names itself, see
    # tallyhouse/backfill/pages.py); an API feed is recognised by its name prefix only
    origin: str = "delivered"

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    @property
    def extension(self) -> str:
        return ".jsonl" if self.fmt == "jsonl" else ".csv"


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "platform" or "ledger"
    description: str
    feeds: tuple[Feed, ...]


LOYALTY_COLUMNS = (
    "entry_id", "account_id", "entry_type", "points", "vendor_id", "vendor_kind",
    "redemption_order_number", "authorization_id", "external_transaction_id", "occurred_at",
)
REDEMPTION_ORDER_COLUMNS = (
    "order_number", "company_id", "company_name", "loyalty_account_id", "account_manager_id",
    "account_manager_email", "account_manager_name", "total_points", "status", "created_at",
    "completed_at",
)
REDEMPTION_ITEM_COLUMNS = (
    "item_id", "order_number", "product_sku", "product_name", "product_type", "quantity",
    "points_per_item", "fulfillment_status",
)
PAYOUT_COLUMNS = (
    "payout_id", "platform", "payout_date", "line_type", "platform_transaction_id",
    "currency_code", "amount",
)

# The platforms' sales APIs, landed by `tallyhouse backfill` one file per page:
# <feed>-<first day>-<last day>-<filter>-p<page>-<fetched at>.jsonl (API_PAGE_NAME below).
# A sales feed's line is one element of the page's list, byte for byte as the API sent it;
# a summary feed's line wraps one whole answer with the request it answers.
API_PAGE_NAME = (r"^(?P<feed>[a-z_]+)-(?P<first_day>\d{8})-(?P<last_day>\d{8})-"
                 r"(?P<filter>[A-Za-z_]+)-p(?P<page>\d{5})-(?P<fetched_at>\d{8}T\d{12}Z)"
                 r"\.jsonl$")

SOURCES: tuple[Source, ...] = (
    Source("hotmart", "platform", "Hotmart webhook 2.0.0 events and sales API pages", (
        Feed("hotmart", "hotmart_webhooks", "jsonl",
             description="Hotmart webhook (v2) events: PURCHASE_*, SUBSCRIPTION_CANCELLATION, "
                         "SWITCH_PLAN, cart abandonment, member-area events"),
        Feed("hotmart", "hotmart_sales_history", "jsonl", origin="api",
             description="Hotmart sales API: GET /payments/api/v1/sales/history, one element "
                         "of items[] per line as returned (buyer, producer, product, purchase "
                         "with status, price, hotmart_fee), queried per transaction_status"),
        Feed("hotmart", "hotmart_sales_commissions", "jsonl", origin="api",
             description="Hotmart sales API: GET /payments/api/v1/sales/commissions, one "
                         "element of items[] per line as returned (transaction, commissions[] "
                         "by source), queried per transaction_status"),
        Feed("hotmart", "hotmart_sales_summary", "jsonl", origin="api",
             description="Hotmart sales API: GET /payments/api/v1/sales/summary per period and "
                         "transaction_status, one line per answer: {request, response} with the "
                         "answer's bytes as returned (total_items, total_value per currency)"),
    )),
    Source("kiwify", "platform", "Kiwify order webhooks and sales API pages", (
        Feed("kiwify", "kiwify_webhooks", "jsonl",
             description="Kiwify order webhooks (order_status, Commissions, Subscription, "
                         "TrackingParameters); abandoned carts arrive as a JSON array",
             json_shapes=("object", "array")),
        Feed("kiwify", "kiwify_sales", "jsonl", origin="api",
             description="Kiwify sales API: GET /v1/sales?view_full_sale_details=true, one "
                         "element of data[] per line as returned (status, payment breakdown in "
                         "cents, revenue_partners, affiliate_commission, updated_at)"),
    )),
    Source("eduzz", "platform", "Eduzz invoice postbacks and MyEduzz sales API pages", (
        Feed("eduzz", "eduzz_webhooks", "jsonl",
             description="Eduzz legacy webhook v2 invoice / contract / abandonment forms"),
        Feed("eduzz", "eduzz_sales", "jsonl", origin="api",
             description="MyEduzz API: GET /myeduzz/v1/sales, one element of items[] per line "
                         "as returned (snake_case status, money as {currency, value})"),
        Feed("eduzz", "eduzz_sales_summary", "jsonl", origin="api",
             description="MyEduzz API: GET /myeduzz/v1/sales/summary per period and status, one "
                         "line per answer: {request, response} with the answer's bytes as "
                         "returned (grossGain, netGain, fee, total … as {currency, value})"),
    )),
    Source("pix", "platform", "Own-store PIX payments (Braspag/Cielo) and VTEX orders", (
        Feed("pix", "pix_payments", "jsonl",
             description="Braspag sale query snapshots of PIX payments (status 12/2/11/10, split)"),
        Feed("pix", "pix_orders", "jsonl",
             description="Store orders with their payments (PIX and GiftCard) and totals"),
    )),
    Source("loyalty", "ledger", "Points-account entries", (
        Feed("loyalty", "loyalty_entries", "csv", LOYALTY_COLUMNS,
             "authorize (hold), confirm (debit), cancel (release), credit, expire"),
    )),
    Source("redemptions", "ledger", "Redemption portal orders and items (docs/ledgers.md)", (
        Feed("redemptions", "redemption_orders", "csv", REDEMPTION_ORDER_COLUMNS,
             "redemption orders: company, account manager, total points"),
        Feed("redemptions", "redemption_items", "csv", REDEMPTION_ITEM_COLUMNS,
             "redemption order items: product, PHYSICAL / VIRTUAL, points per item"),
    )),
    Source("giftcards", "ledger", "VTEX gift-card API: cards and their transactions", (
        Feed("giftcards", "giftcard_cards", "jsonl",
             description="gift cards as the VTEX Giftcard API returns them"),
        Feed("giftcards", "giftcard_transactions", "jsonl",
             description="gift-card transactions (Credit = voucher refund, Debit = redemption)"),
    )),
    Source("payouts", "ledger", "Platform settlement statements", (
        Feed("payouts", "payout_lines", "csv", PAYOUT_COLUMNS,
             "what each platform paid out to the producer, per transaction and payout"),
    )),
)

FEEDS: tuple[Feed, ...] = tuple(feed for source in SOURCES for feed in source.feeds)


def source_by_name(name: str) -> Source:
    for source in SOURCES:
        if source.name == name:
            return source
    raise KeyError(f"unknown source {name!r}; known: {', '.join(s.name for s in SOURCES)}")


def feed_for_file(source: Source, file_name: str) -> Feed | None:
    """The feed a delivered file belongs to: by name prefix (the longest that matches:
    ``eduzz_sales_summary-…`` is not ``eduzz_sales``), or the only delivered feed of its
    format (a webhook export named as its sender likes). API pages are named by tallyhouse
    and recognised by their prefix only."""
    base = file_name.rsplit("/", 1)[-1]
    if base.endswith(".gz"):  # compressed extracts are read as they are (streamed)
        base = base[:-3]
    matches = [feed for feed in source.feeds
               if base.startswith(feed.name) and base.endswith(feed.extension)]
    if matches:
        return max(matches, key=lambda feed: len(feed.name))
    delivered = [f for f in source.feeds if f.origin != "api"]
    candidates = [f for f in delivered if base.endswith(f.extension)]
    if len(candidates) == 1 and len(delivered) == 1:
        return candidates[0]
    return None
