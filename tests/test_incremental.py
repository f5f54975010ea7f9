"""Incremental correctness as a property: the same extracts delivered in several runs, in
many orders (by day, a feed held back, late days first, one feed at a time), give the
same marts as one run over all the files, row by row."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import _scratch_database, build, query, snapshot_marts

Part = Callable[[Path], int]  # which delivery (0, 1, ...) a landing file belongs to


def _day(path: Path) -> str:
    """The delivery day in a landing file's name (feed_2026-05-30.jsonl, also
    feed_2026-05-30_retry.jsonl); a file without one (feed_damaged.jsonl) comes last."""
    found = re.search(r"_(\d{4}-\d{2}-\d{2})", path.stem)
    return found.group(1) if found else "2026-05-31"


def _feed(path: Path) -> str:
    return max((feed for feed in FEED_ORDER if path.stem.startswith(feed + "_")), key=len)


FEED_ORDER = ["payout_lines", "giftcard_transactions", "giftcard_cards", "redemption_items",
              "redemption_orders", "loyalty_entries", "pix_orders", "pix_payments",
              "eduzz_webhooks", "kiwify_webhooks", "hotmart_webhooks"]

SPLITS: dict[str, Part] = {
    "three_periods": lambda p: 0 if _day(p) < "2026-05-11" else 1 if _day(p) < "2026-05-21"
    else 2,
    "pix_orders_held_back": lambda p: 1 if _feed(p) == "pix_orders" else 0,
    # a voucher credit is a ledger record: it changes a refund's method, not its transaction
    "vouchers_held_back": lambda p: 1 if _feed(p) == "giftcard_transactions" else 0,
    "late_days_first": lambda p: 0 if _day(p) >= "2026-05-20" else 1,
    "one_feed_at_a_time": lambda p: FEED_ORDER.index(_feed(p)),
    "payments_before_orders_by_day": lambda p: (
        (0 if _day(p) < "2026-05-15" else 2) + (1 if _feed(p) == "pix_orders" else 0)),
}


def _deliveries(landing: Path, root: Path, part: Part) -> list[Path]:
    parts: dict[int, Path] = {}
    for path in sorted(landing.rglob("*")):
        if path.is_file() and not path.name.startswith("_"):
            number = part(path)
            target = root / f"delivery-{number:02d}" / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            parts[number] = root / f"delivery-{number:02d}"
    return [parts[n] for n in sorted(parts)]


# Intermediate tables whose changes need not reach a mart in the demo data (a store
# order's later snapshot may change only its shipping state), compared too, without their
# load numbers (which differ between runs by design).
INTERMEDIATE = {"int_pix__orders_latest": "order_id, ordered_at, snapshot_at, order_status, "
                "order_total_amount, giftcard_amount, pix_amount, giftcard_id, payments::text, "
                "items::text, consultant_id, shipped_at, delivered_at"}


def snapshot(url: str) -> dict[str, str]:
    """The marts' digests and the intermediate tables' above."""
    import psycopg2

    digests = snapshot_marts(url)
    conn = psycopg2.connect(url, options="-c timezone=UTC")
    try:
        for table, columns in INTERMEDIATE.items():
            digests[table] = query(conn, f"select md5(string_agg(md5(row({columns})::text), "
                                         f"',' order by md5(row({columns})::text))) "
                                         f"from intermediate.{table}")[0][0]
    finally:
        conn.close()
    return digests


@pytest.fixture(scope="module")
def one_run(pg_server, small_landing):
    with _scratch_database(pg_server, "one") as url:
        build(url, small_landing)
        yield snapshot(url)


def micro_build(url: str, landing: Path) -> bool:
    """What a run does with a delivery: load it, then build only what is downstream of the
    feeds it delivered (the whole project the first time). Whether the build was narrowed."""
    import json

    import psycopg2

    from tallyhouse import ingest, micro_run
    from tallyhouse.config import project_root
    from tallyhouse.dbt import run_dbt

    (exists,) = query(url, "select to_regclass('raw._manifest') is not null")[0]
    before = query(url, "select coalesce(max(file_id), 0) from raw._manifest")[0][0] \
        if exists else None
    connection = psycopg2.connect(url)
    try:
        ingest.load_all(connection, landing)
    finally:
        connection.close()
    command = ["build"]
    if before is not None:
        feeds = tuple(name for (name,) in query(
            url, "select distinct feed from raw._manifest where file_id > %s", (before,))
            if name)
        selection = micro_run.select(
            json.loads((project_root() / "target" / "manifest.json").read_text()), feeds)
        if selection.skip_names:
            command += ["--exclude", " ".join(selection.skip_names),
                        "--indirect-selection", micro_run.INDIRECT_SELECTION]
    done = run_dbt(command, url=url, capture=True)
    assert done.returncode == 0, done.stdout[-4000:]
    return len(command) > 1


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_several_runs_give_the_marts_of_one_run(split, one_run, pg_server, small_landing,
                                                 tmp_path):
    """Each delivery a micro-run (only what is downstream of the feeds it delivered is
    built): the marts of one run over everything."""
    deliveries = _deliveries(small_landing, tmp_path, SPLITS[split])
    assert len(deliveries) >= 2
    with _scratch_database(pg_server, "split") as url:
        narrowed = [micro_build(url, delivery) for delivery in deliveries]
        if split == "one_feed_at_a_time":  # each feed alone: every later build is narrowed
            assert all(narrowed[1:]), narrowed
        marts = snapshot(url)
        differing = sorted(t for t in one_run if marts.get(t) != one_run[t])
        assert differing == [], (split, len(deliveries), differing)



@pytest.fixture(scope="module")
def damaged_landing(small_landing, tmp_path_factory) -> Path:
    """The demo extracts with damaged records (test_damaged's: values that do not cast,
    objects as strings, a ledger entry re-exported, every public example, records no model
    reads) and, weeks after the first statements, ledger records re-exported: a payout line
    with another amount, one with the same amount in other bytes, a points entry with other
    points."""
    from test_damaged import _damaged_landing

    landing = tmp_path_factory.mktemp("damaged") / "landing"
    _damaged_landing(small_landing, landing)
    payouts = sorted((landing / "payouts").glob("payout_lines_*.csv"))[0]
    header, line, same = payouts.read_text().splitlines()[:3]
    other = line.split(",")
    other[-1] = str(Decimal(other[-1]) + 1)
    (landing / "payouts" / "payout_lines_2026-05-29_reexport.csv").write_text(
        f"{header}\n{','.join(other)}\n{same}0\n")
    entries = sorted((landing / "loyalty").glob("loyalty_entries_*.csv"))[0]
    header, line = entries.read_text().splitlines()[:2]
    other = line.split(",")
    other[3] = str(int(other[3]) + 7)
    (landing / "loyalty" / "loyalty_entries_2026-05-29_reexport.csv").write_text(
        f"{header}\n{','.join(other)}\n")
    cards = sorted((landing / "giftcards").glob("giftcard_cards_*.jsonl"))[0]
    card = json.loads(cards.read_text().splitlines()[0])
    card["relationName"] = "someone.else@example.com"
    (landing / "giftcards" / "giftcard_cards_2026-05-29_reexport.jsonl").write_text(
        json.dumps(card) + "\n")
    return landing


@pytest.fixture(scope="module")
def one_run_damaged(pg_server, damaged_landing):
    with _scratch_database(pg_server, "one_damaged") as url:
        build(url, damaged_landing)
        issues = dict(query(url, "select feed, count(*) from marts.rpt_data_issues group by feed"))
        conflicts = {feed for (feed,) in query(
            url, "select feed from marts.rpt_data_issues where reason like 'conflicting%%'")}
        yield snapshot_marts(url), issues, conflicts, url


@pytest.mark.parametrize("split", ["one_feed_at_a_time", "three_periods"])
def test_damaged_deliveries_in_several_runs_give_the_marts_of_one_run(
        split, one_run_damaged, pg_server, damaged_landing, tmp_path):
    """The same with damaged records: the data issues (listed per feed, computed again only
    for the feeds a run loaded) and every other mart, as in one run."""
    one, issues, conflicts, _ = one_run_damaged
    # issues in platform and ledger feeds alike: what the split must carry over or recompute
    assert {"hotmart_webhooks", "payout_lines", "loyalty_entries"} <= set(issues), issues
    # re-exports set aside for records kept from an earlier delivery
    assert {"payout_lines", "loyalty_entries", "giftcard_cards"} <= conflicts, conflicts
    deliveries = _deliveries(damaged_landing, tmp_path, SPLITS[split])
    with _scratch_database(pg_server, "split_anomalies") as url:
        for delivery in deliveries:
            micro_build(url, delivery)
        marts = snapshot_marts(url)
        assert sorted(t for t in one if marts.get(t) != one[t]) == [], (split, len(deliveries))


def test_every_record_of_a_kind_no_model_reads_is_listed(one_run_damaged, damaged_landing):
    """Answers of the platforms' APIs dropped into the webhook folders (the public examples)
    are records of a kind no model reads: each is listed in rpt_data_issues with its file and
    line by a build from raw (which parses only what no staging table holds), and no record
    a model reads is; the runs that split the same landing list the same (above)."""
    *_, url = one_run_damaged
    rules = {
        "hotmart": lambda r: not (str(r.get("event", "")).startswith(("PURCHASE_", "CLUB_"))
                                  or r.get("event") in ("SUBSCRIPTION_CANCELLATION",
                                                        "SWITCH_PLAN")),
        "kiwify": lambda r: "order_id" not in r,
        "eduzz": lambda r: r.get("type") not in ("invoice", "invoice|contract", "contract",
                                                 "abandonment"),
    }
    expected = set()
    for platform, rule in rules.items():
        seen = set()  # raw keeps a record once per feed (its hash: the line's bytes)
        for path in sorted((damaged_landing / platform).glob(f"{platform}_webhooks*.jsonl")):
            for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
                record = json.loads(line) if line.strip() else None
                if isinstance(record, dict) and line not in seen and rule(record):
                    expected.add((f"{platform}_webhooks", f"{platform}/{path.name}", number))
                seen.add(line)
    listed = set(query(url, "select feed, source_file, source_line from marts.rpt_data_issues "
                            "where read_by = 'stg_platforms__unread_records'"))
    assert {feed for feed, _, _ in expected} == {"hotmart_webhooks", "kiwify_webhooks"}
    assert listed == expected


def test_every_table_built_whole_is_analyzed_before_it_is_read(one_run_damaged):
    """A table dbt built whole has planner statistics from its own post-hook, not from
    autovacuum a minute later: the models after it plan with them (a first build at a
    million transactions planned blind ran for over 13 minutes in one model)."""
    *_, url = one_run_damaged
    blind = query(url, "select schemaname || '.' || relname from pg_stat_user_tables "
                       "where schemaname in ('staging', 'intermediate', 'marts', 'restricted') "
                       "and relname not like '\\_%%' and last_analyze is null "
                       # the erasure log: tables of the warehouse's own, not models
                       "and relname not in ('erasures', 'erased_subjects')")
    built = query(url, "select count(*) from pg_stat_user_tables where schemaname = 'marts'")
    assert built[0][0] > 20 and blind == []


def test_a_conflicting_reexport_never_spells_out_a_person(one_run_damaged):
    """A gift card re-exported with another holder's e-mail is listed as a conflicting
    re-export in rpt_data_issues (an analysts' mart) without either e-mail."""
    *_, url = one_run_damaged
    reasons = [reason for (reason,) in query(
        url, "select reason from marts.rpt_data_issues where feed = 'giftcard_cards' "
             "and reason like 'conflicting%%'")]
    assert reasons and all("[person data]" in reason for reason in reasons), reasons
    assert query(url, "select count(*) from marts.rpt_data_issues "
                      "where concat(reason, raw_value, entity_id) like '%%@%%'")[0][0] == 0

def test_a_charge_moved_to_another_subscription_and_day_leaves_the_first(
        pg_server, small_landing, tmp_path):
    """A later event of a subscription charge that names another subscription, another
    order date and another product (the platform corrected them) moves the charge: a run
    for that event alone computes again both subscriptions, both days (the daily sales) and
    both products; a run for a still later event naming the first product again leaves
    the product of that one charge with no transaction: gone — the marts of one run over
    all of them."""
    import uuid

    charge, last_event_at = None, {}
    for path in sorted((small_landing / "hotmart").glob("hotmart_webhooks_*.jsonl")):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            data = event.get("data") or {}
            transaction = (data.get("purchase") or {}).get("transaction")
            if isinstance(event.get("creation_date"), int):
                last_event_at[transaction] = max(last_event_at.get(transaction, 0),
                                                 event["creation_date"])
            if (charge is None and event.get("event") == "PURCHASE_APPROVED"
                    and (data.get("subscription") or {}).get("subscriber")):
                charge = event
    assert charge, "the small landing has an approved subscription charge"
    left = charge["data"]["subscription"]["subscriber"]["code"]
    moved = json.loads(json.dumps(charge))
    moved["id"] = str(uuid.UUID(int=uuid.UUID(charge["id"]).int ^ 1))
    # the transaction's latest event: the subscription it names is the transaction's
    moved["creation_date"] = last_event_at[charge["data"]["purchase"]["transaction"]] + 60_000
    moved["data"]["subscription"]["subscriber"]["code"] = f"{left}9"
    moved["data"]["purchase"]["order_date"] -= 2 * 86_400_000  # two days before
    product = moved["data"]["product"]["name"]
    moved["data"]["product"]["name"] = "Produto de uma venda só"
    later = tmp_path / "later" / "hotmart" / "hotmart_webhooks_2026-06-01.jsonl"
    later.parent.mkdir(parents=True)
    later.write_text(json.dumps(moved) + "\n")
    back = json.loads(json.dumps(moved))
    back["id"] = str(uuid.UUID(int=uuid.UUID(charge["id"]).int ^ 2))
    back["creation_date"] += 60_000
    back["data"]["product"]["name"] = product
    latest = tmp_path / "latest" / "hotmart" / "hotmart_webhooks_2026-06-02.jsonl"
    latest.parent.mkdir(parents=True)
    latest.write_text(json.dumps(back) + "\n")
    both = tmp_path / "both"
    shutil.copytree(small_landing, both)
    shutil.copyfile(later, both / "hotmart" / later.name)
    shutil.copyfile(latest, both / "hotmart" / latest.name)

    def products(url: str) -> int:
        return query(url, "select count(*) from marts.dim_products "
                          "where name = 'Produto de uma venda só'")[0][0]

    def charges(url: str, code: str) -> int:
        return query(url, "select coalesce(sum(recurrences), 0) from marts.dim_subscriptions "
                          "where platform_subscription_id = %s", (code,))[0][0]

    with _scratch_database(pg_server, "moved_one") as url:
        build(url, both)
        one, one_left = snapshot_marts(url), charges(url, left)
    with _scratch_database(pg_server, "moved_split") as url:
        micro_build(url, small_landing)
        before = charges(url, left)
        assert micro_build(url, later.parent.parent), "a run for one hotmart file is narrowed"
        assert charges(url, f"{left}9") == 1
        assert charges(url, left) == one_left == before - 1
        assert products(url) == 1
        assert micro_build(url, latest.parent.parent)
        assert products(url) == 0
        marts = snapshot_marts(url)
    assert sorted(t for t in one if marts.get(t) != one[t]) == []


def test_an_event_id_redelivered_for_another_transaction_takes_nothing_from_the_first(
        pg_server, small_landing, tmp_path):
    """A webhook redelivered under an event id a transaction already has, naming another
    transaction (a re-export gone wrong), whose bytes sort before the first delivery's:
    the new transaction counts it, the first keeps its event — a run for that file alone
    gives the marts of one run over both, and the file reconciliation lists the id."""
    import hashlib

    lines: dict[str, list[bytes]] = {}
    for path in sorted((small_landing / "hotmart").glob("hotmart_webhooks_*.jsonl")):
        for line in path.read_bytes().splitlines():
            event = json.loads(line)
            transaction = ((event.get("data") or {}).get("purchase") or {}).get("transaction")
            if isinstance(transaction, str):
                lines.setdefault(transaction, []).append(line)
    # a transaction of one approval, its only event: it would be left with no event at all
    first = next(t for t, found in sorted(lines.items())
                 if len(found) == 1 and json.loads(found[0]).get("event") == "PURCHASE_APPROVED")
    original = lines[first][0]
    moved = json.loads(original)
    moved["data"]["purchase"]["transaction"] = f"{first}-REEXPORT"
    body = json.dumps(moved).encode()
    while hashlib.sha256(body).digest() >= hashlib.sha256(original).digest():
        body += b" "  # the same JSON; bytes whose hash comes first
    later = tmp_path / "later" / "hotmart" / "hotmart_webhooks_2026-06-01.jsonl"
    later.parent.mkdir(parents=True)
    later.write_bytes(body + b"\n")
    both = tmp_path / "both"
    shutil.copytree(small_landing, both)
    shutil.copyfile(later, both / "hotmart" / later.name)

    def transactions(url: str) -> list[str]:
        return [t for (t,) in query(url, "select platform_transaction_id from "
                                         "marts.fct_transactions where platform_transaction_id"
                                         " in (%s, %s) order by 1", (first, f"{first}-REEXPORT"))]

    def listed(url: str) -> list[str]:
        return [d for (d,) in query(url, "select detail from marts.rpt_file_breaks where "
                                         "check_name = 'conflicting_redeliveries' and detail "
                                         "like %s", (f"event {moved['id']} %",))]

    with _scratch_database(pg_server, "reexport_one") as url:
        build(url, both)
        one = snapshot_marts(url)
        assert transactions(url) == [first, f"{first}-REEXPORT"]
        (detail,) = listed(url)
        assert "naming different transactions" in detail
    with _scratch_database(pg_server, "reexport_split") as url:
        micro_build(url, small_landing)
        assert micro_build(url, later.parent.parent), "a run for one hotmart file is narrowed"
        assert transactions(url) == [first, f"{first}-REEXPORT"]
        assert listed(url) == [detail]
        marts = snapshot_marts(url)
    assert sorted(t for t in one if marts.get(t) != one[t]) == []


def test_a_late_payout_line_is_checked_by_a_run_for_it_alone(pg_server, small_landing,
                                                             tmp_path):
    """A statement line delivered late, for a payout already in the warehouse (the last
    payout date does not move), paying a transaction another amount than its net: a run
    for that file alone reports the mismatch (the payout breaks of the transactions a
    line was loaded for are computed again) — the marts of one run over both."""
    statements = sorted((small_landing / "payouts").glob("payout_lines_*.csv"))
    header = statements[0].read_text().splitlines()[0]
    columns = header.split(",")

    def sale_lines(statement: Path) -> list[dict[str, str]]:
        rows = statement.read_text().splitlines()[1:]
        return [line for line in (dict(zip(columns, row.split(","), strict=True)) for row in rows)
                if line["line_type"] == "sale"]

    # a line of the first payout, for a transaction a later payout paid
    first = sale_lines(statements[0])[0]
    other = next(line for line in sale_lines(statements[-1])
                 if line["platform"] == first["platform"]
                 and line["payout_id"] != first["payout_id"])
    late_line = {**other, "payout_id": first["payout_id"],
                 "payout_date": first["payout_date"], "amount": "0.01"}
    late = tmp_path / "late" / "payouts" / "payout_lines_2026-06-01_late.csv"
    late.parent.mkdir(parents=True)
    late.write_text(f"{header}\n{','.join(late_line[c] for c in columns)}\n")
    both = tmp_path / "both"
    shutil.copytree(small_landing, both)
    shutil.copyfile(late, both / "payouts" / late.name)

    def mismatches(url: str) -> int:
        return query(url, "select count(*) from marts.rpt_payout_breaks "
                          "where check_name = 'payout_amount_mismatch' "
                          "and platform_transaction_id = %s and payout_id = %s",
                     (other["platform_transaction_id"], first["payout_id"]))[0][0]

    with _scratch_database(pg_server, "late_line_one") as url:
        build(url, both)
        one = snapshot_marts(url)
        assert mismatches(url) == 1
        (last_payout,) = query(url, "select max(payout_date) from marts.fct_payouts")[0]
        assert str(last_payout) > first["payout_date"], "the late line is not the last payout"
    with _scratch_database(pg_server, "late_line_split") as url:
        micro_build(url, small_landing)
        assert mismatches(url) == 0
        assert micro_build(url, late.parent.parent), "a run for one payout file is narrowed"
        assert mismatches(url) == 1
        marts = snapshot_marts(url)
    assert sorted(t for t in one if marts.get(t) != one[t]) == []


def test_the_server_time_zone_changes_no_mart(one_run, pg_server, small_landing):
    """The business day is America/Sao_Paulo whatever the session's time zone: a warehouse
    on a server in São Paulo (or Tokyo) builds the marts of one in UTC."""
    import psycopg2

    for zone in ("America/Sao_Paulo", "Asia/Tokyo"):
        with _scratch_database(pg_server, "tz") as url:
            admin = psycopg2.connect(url)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute("select current_database()")
                cur.execute(f"alter database {cur.fetchone()[0]} set timezone = '{zone}'")
            admin.close()
            build(url, small_landing)
            marts = snapshot(url)
            assert sorted(t for t in one_run if marts.get(t) != one_run[t]) == [], zone
