"""`tallyhouse backfill` against loopback stand-ins of the Hotmart, Kiwify and Eduzz APIs
(tests/standins/, real HTTP servers on 127.0.0.1 built from the published examples)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from standins.eduzz import EduzzStandIn
from standins.hotmart import HotmartStandIn
from standins.kiwify import KiwifyStandIn

from tallyhouse import ingest
from tallyhouse.backfill import ApiError, AuthError, Options, run_backfill, trailing_resync
from tallyhouse.backfill.pages import PageError, list_elements
from tallyhouse.backfill.secrets import Redactor
from tallyhouse.sources import API_PAGE_NAME, feed_for_file, source_by_name

from conftest import query

ROOT = Path(__file__).resolve().parents[1]
ZONE = "America/Sao_Paulo"
HOTMART_ID, HOTMART_SECRET = "hm-client-4f1c2a", "hmSECRET-9b7e21xq"
KIWIFY_ID, KIWIFY_SECRET, KIWIFY_ACCOUNT = "kw-client-77ab", "kwSECRET-0c3d55", "kwACCT-8e1f"
EDUZZ_TOKEN = "edzTOKEN-51aa09f3"
SECRETS = (HOTMART_ID, HOTMART_SECRET, KIWIFY_ID, KIWIFY_SECRET, KIWIFY_ACCOUNT, EDUZZ_TOKEN)
HOTMART_SINCE, HOTMART_UNTIL = date(2026, 1, 1), date(2026, 5, 10)  # the stand-in's sales


class FakeTime:
    """A clock that only moves when slept on: waits are recorded, never waited."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def hotmart():
    with HotmartStandIn(HOTMART_ID, HOTMART_SECRET, sales=240) as stand_in:
        yield stand_in


def hotmart_env(stand_in) -> dict[str, str]:
    return {"TALLYHOUSE_HOTMART_CLIENT_ID": HOTMART_ID,
            "TALLYHOUSE_HOTMART_CLIENT_SECRET": HOTMART_SECRET,
            "TALLYHOUSE_HOTMART_API_URL": stand_in.url,
            "TALLYHOUSE_HOTMART_AUTH_URL": stand_in.url}


def kiwify_env(stand_in) -> dict[str, str]:
    return {"TALLYHOUSE_KIWIFY_CLIENT_ID": KIWIFY_ID,
            "TALLYHOUSE_KIWIFY_CLIENT_SECRET": KIWIFY_SECRET,
            "TALLYHOUSE_KIWIFY_ACCOUNT_ID": KIWIFY_ACCOUNT,
            "TALLYHOUSE_KIWIFY_API_URL": stand_in.url}


def eduzz_env(stand_in) -> dict[str, str]:
    return {"TALLYHOUSE_EDUZZ_API_TOKEN": EDUZZ_TOKEN, "TALLYHOUSE_EDUZZ_API_URL": stand_in.url}


def backfill(env: dict, platform: str, landing: Path, since: date = HOTMART_SINCE,
             until: date = HOTMART_UNTIL, lines: list | None = None, **options):
    options.setdefault("page_size", 7)
    options.setdefault("requests_per_second", 0)
    return run_backfill(Options(platform, since, until, landing, environ=env, zone=ZONE,
                                interactive=False, say=(lines.append if lines is not None
                                                        else lambda _line: None), **options))


def landed(landing: Path, feed: str) -> list[bytes]:
    source = feed.split("_")[0]
    lines = []
    for path in sorted((landing / source).glob(f"{feed}-*.jsonl")):
        lines += path.read_bytes().splitlines()
    return lines


def page_files(landing: Path, source: str) -> list[Path]:
    return sorted(p for p in (landing / source).glob("*.jsonl"))


# ------------------------------------------------------------------------------ pages

def test_records_are_the_api_bytes_and_files_are_named_by_window_status_page_fetch(
        hotmart, tmp_path):
    """OAuth (Basic + credentials in the query, as documented), every status, every page;
    each landed line is the element exactly as the API sent it; a file per page whose name
    says window, status, page and fetch time; nothing left behind (no temporary file, no
    checkpoint once complete)."""
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    assert [r.path for r in hotmart.seen("oauth")] == ["/security/oauth/token"]
    assert sorted(landed(tmp_path, "hotmart_sales_history")) == sorted(
        s.history for s in hotmart.sales)
    assert sorted(landed(tmp_path, "hotmart_sales_commissions")) == sorted(
        s.commissions for s in hotmart.sales)
    assert result.feeds["hotmart_sales_history"].records == len(hotmart.sales)
    names = [p.name for p in page_files(tmp_path, "hotmart")]
    parts = [re.match(API_PAGE_NAME, name) for name in names]
    assert all(parts), [n for n, m in zip(names, parts, strict=True) if not m]
    assert max(int(m["page"]) for m in parts) >= 3  # several pages of one query
    for m in parts:
        fetched = datetime.strptime(m["fetched_at"], "%Y%m%dT%H%M%S%fZ")
        assert abs((datetime.now(UTC).replace(tzinfo=None) - fetched).total_seconds()) < 600
        feed = feed_for_file(source_by_name("hotmart"), m.string)
        assert feed is not None and feed.name == m["feed"] and feed.origin == "api"
    assert not [p for p in (tmp_path / "hotmart").rglob(".*") if p.is_file()
                and p.suffix in (".tmp", ".json")]


def test_summary_records_carry_their_request_and_the_platform_totals(hotmart, tmp_path):
    backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    summaries = [orjson.loads(line) for line in landed(tmp_path, "hotmart_sales_summary")]
    assert len(summaries) == 5 * 17  # five 30-day windows, every status, one page each
    zone_ms = {}
    for record in summaries:
        request = record["request"]
        assert request["path"] == "/payments/api/v1/sales/summary"
        for item in record["response"]["items"]:
            key = (request["transaction_status"], item["total_value"]["currency_code"])
            zone_ms.setdefault(key, [0, 0.0])
            zone_ms[key][0] += item["total_items"]
            zone_ms[key][1] = round(zone_ms[key][1] + item["total_value"]["value"], 2)
    expected = {}
    for sale in hotmart.sales:
        entry = expected.setdefault((sale.status, sale.currency), [0, 0.0])
        entry[0] += 1
        entry[1] = round(entry[1] + sale.price, 2)
    assert zone_ms == expected


def test_list_elements_keeps_each_element_as_sent():
    body = (b'{"page_info":{"next_page_token":"x]"},"items":[{"a":"\\"]}","b":[1,{"c":95.00}]},'
            b' 12 ,"caf\xc3\xa9 \\u00e9\\/", null ,{}],"z":1}')
    records, parsed = list_elements(body, "items")
    assert records == [b'{"a":"\\"]}","b":[1,{"c":95.00}]}', b"12",
                       b'"caf\xc3\xa9 \\u00e9\\/"', b"null", b"{}"]
    assert parsed["page_info"]["next_page_token"] == "x]"
    pretty = b'{\n  "items": [\n    {\n      "a": 1\n    }\n  ]\n}'
    assert list_elements(pretty, "items")[0] == [b'{       "a": 1     }']
    assert list_elements(b'{"items":null}', "items")[0] == []
    for broken in (b'{"items":[1,2', b"[1]", b'{"items":{}}', b'{"items":[1],"items":[1,2]}',
                   b'{"error":"invalid_token"}'):
        with pytest.raises(PageError):
            list_elements(broken, "items")


def test_api_pages_are_recognised_by_prefix_and_webhook_exports_keep_their_feed():
    hotmart, eduzz = source_by_name("hotmart"), source_by_name("eduzz")
    assert feed_for_file(eduzz, "eduzz/eduzz_sales_summary-20260101-20260130-paid-p00001-"
                                "20261203T090203123456Z.jsonl").name == "eduzz_sales_summary"
    assert feed_for_file(eduzz, "eduzz_sales-20260101-20260130-all-p00001-"
                                "20261203T090203123456Z.jsonl").name == "eduzz_sales"
    # a webhook export named as its sender likes is still the webhook feed
    assert feed_for_file(hotmart, "hotmart/export-2026-05.jsonl").name == "hotmart_webhooks"
    assert feed_for_file(hotmart, "hotmart/hotmart_webhooks_2026-05-01.jsonl.gz").name == \
        "hotmart_webhooks"


# ------------------------------------------------------------------------------ statuses

def test_the_unfiltered_call_would_miss_refunds_the_backfill_does_not(hotmart, tmp_path):
    """Without transaction_status Hotmart answers APPROVED and COMPLETE only (so does the
    stand-in): a backfill that made that call alone would never see a refund. Every query of
    the backfill names a status, and every refund, chargeback and dispute is landed."""
    token = httpx.post(f"{hotmart.url}/security/oauth/token",
                       params={"grant_type": "client_credentials", "client_id": HOTMART_ID,
                               "client_secret": HOTMART_SECRET},
                       auth=(HOTMART_ID, HOTMART_SECRET)).json()["access_token"]
    unfiltered = httpx.get(f"{hotmart.url}/payments/api/v1/sales/history",
                           params={"max_results": 1000},
                           headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert {i["purchase"]["status"] for i in unfiltered} == {"APPROVED", "COMPLETE"}
    lost = hotmart.transactions(("REFUNDED", "CHARGEBACK", "PROTESTED", "PARTIALLY_REFUNDED"))
    assert lost and not lost & {i["purchase"]["transaction"] for i in unfiltered}

    hotmart.requests.clear()
    backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    sales_calls = hotmart.seen("/payments/api/v1/sales/")
    assert sales_calls and all(r.query.get("transaction_status") for r in sales_calls)
    statuses = {r.query["transaction_status"] for r in sales_calls}
    assert {"REFUNDED", "CHARGEBACK", "PROTESTED", "CANCELLED"} <= statuses
    history = {orjson.loads(line)["purchase"]["transaction"]: orjson.loads(line)
               for line in landed(tmp_path, "hotmart_sales_history")}
    assert lost <= set(history)
    assert {history[t]["purchase"]["status"] for t in lost} >= {"REFUNDED", "CHARGEBACK"}


# ------------------------------------------------------------------------------ client

def test_a_429_is_waited_out_as_its_headers_say(hotmart, tmp_path):
    hotmart.inject("/sales/history", 429, {"RateLimit-Reset": "7", "RateLimit-Remaining": "0"},
                   b'{"error":"too_many_requests"}', after=3)
    hotmart.inject("/sales/commissions", 429, {"Retry-After": "3"}, after=5)
    fake = FakeTime()
    lines: list[str] = []
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path, lines=lines,
                      sleep=fake.sleep, clock=fake.clock)
    assert 7.0 in fake.slept and 3.0 in fake.slept
    assert result.retries == {"429": 2}
    assert any("HTTP 429, retrying in 7.0 s" in line for line in lines)
    assert len(landed(tmp_path, "hotmart_sales_history")) == len(hotmart.sales)


def test_a_spent_quota_waits_for_its_reset_before_the_next_call(hotmart, tmp_path):
    hotmart.inject("/sales/history", 200, {"RateLimit-Remaining": "0", "RateLimit-Reset": "42"},
                   b'{"items":[],"page_info":{"total_results":0}}', after=2)
    fake = FakeTime()
    backfill(hotmart_env(hotmart), "hotmart", tmp_path, sleep=fake.sleep, clock=fake.clock,
             until=date(2026, 1, 20))
    assert 42.0 in fake.slept


def test_a_request_rate_is_kept(hotmart, tmp_path):
    fake = FakeTime()
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path, sleep=fake.sleep,
                      clock=fake.clock, requests_per_second=4, until=date(2026, 1, 10))
    # the fake clock moves only when slept on: n requests at 4/s take (n - 1) / 4 s
    assert fake.now - 1000.0 == pytest.approx((result.requests - 1) / 4, abs=0.01)


def test_a_401_in_the_middle_fetches_a_new_token_once(hotmart, tmp_path):
    expired = []

    def expire_once(pages: int) -> None:
        if pages == 5 and not expired:
            hotmart.expire_tokens()
            expired.append(pages)

    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path, after_page=expire_once)
    assert len(hotmart.tokens_issued) == 2
    assert result.retries.get("401") == 1
    assert len(landed(tmp_path, "hotmart_sales_history")) == len(hotmart.sales)


def test_a_second_401_with_a_new_token_stops_the_backfill_without_showing_secrets(
        hotmart, tmp_path):
    hotmart.inject("/sales/history", 401, body=b'{"error":"invalid_token"}', times=2)
    with pytest.raises(AuthError) as error:
        backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    assert "401" in str(error.value) and len(hotmart.tokens_issued) == 2
    assert not any(secret in str(error.value) for secret in SECRETS)


def test_refused_credentials_say_so_without_the_secret(hotmart, tmp_path):
    env = {**hotmart_env(hotmart), "TALLYHOUSE_HOTMART_CLIENT_SECRET": "wrong-" + HOTMART_SECRET}
    with pytest.raises(AuthError) as error:
        backfill(env, "hotmart", tmp_path)
    message = str(error.value)
    assert "refused the client credentials" in message and "invalid_client" in message
    assert HOTMART_SECRET not in message and HOTMART_ID not in message


def test_server_errors_are_retried_with_backoff_and_jitter(hotmart, tmp_path):
    hotmart.inject("/sales/history", 500, times=2, after=1)
    hotmart.inject("/sales/summary", 502, after=4)
    hotmart.inject("/security/oauth/token", 503)
    fake = FakeTime()
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path, sleep=fake.sleep,
                      clock=fake.clock)
    assert result.retries == {"500": 2, "502": 1, "503": 1}
    assert len(fake.slept) == 4 and all(0 <= s <= 30 for s in fake.slept)
    assert len(landed(tmp_path, "hotmart_sales_history")) == len(hotmart.sales)


def test_an_answer_that_is_not_a_page_stops_the_backfill_and_a_rerun_resumes(
        hotmart, tmp_path):
    """A 200 whose body is an error, not a page, must not pass for "no sales"."""
    hotmart.inject("/sales/history", 200, body=b'{"error":"internal","message":"try later"}',
                   after=4)
    with pytest.raises(ApiError) as error:
        backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    assert "not the page expected" in str(error.value) and "'items'" in str(error.value)
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    assert result.resumed_at_query is not None
    assert sorted(set(landed(tmp_path, "hotmart_sales_history"))) == sorted(
        s.history for s in hotmart.sales)


def test_a_timeout_is_retried(hotmart, tmp_path):
    hotmart.stall = [0.0, 1.5, 1.5]  # the token answers; the next two calls are too slow
    fake = FakeTime()
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path, sleep=fake.sleep,
                      clock=fake.clock, timeout=0.4, until=date(2026, 1, 20))
    assert result.retries == {"timeout": 2} and len(fake.slept) == 2
    assert result.feeds["hotmart_sales_history"].records == len(
        [s for s in hotmart.sales if s.order_date < 1768964400000])


def test_an_api_that_never_answers_gives_up_without_showing_a_secret(tmp_path):
    env = {"TALLYHOUSE_HOTMART_CLIENT_ID": HOTMART_ID,
           "TALLYHOUSE_HOTMART_CLIENT_SECRET": HOTMART_SECRET,
           "TALLYHOUSE_HOTMART_API_URL": "http://127.0.0.1:9",
           "TALLYHOUSE_HOTMART_AUTH_URL": "http://127.0.0.1:9"}
    fake = FakeTime()
    with pytest.raises(ApiError) as error:
        backfill(env, "hotmart", tmp_path, sleep=fake.sleep, clock=fake.clock, max_attempts=3)
    assert "no answer after 3 attempts" in str(error.value)
    assert not any(secret in str(error.value) for secret in SECRETS)
    assert len(fake.slept) == 2


def test_windows_stay_within_what_each_api_accepts(hotmart, tmp_path):
    """The stand-ins refuse a period over 30 (Hotmart) or 90 (Kiwify) days, as the APIs do;
    the backfill's windows never ask for one and leave no day out."""
    token = httpx.post(f"{hotmart.url}/security/oauth/token",
                       params={"grant_type": "client_credentials", "client_id": HOTMART_ID,
                               "client_secret": HOTMART_SECRET},
                       auth=(HOTMART_ID, HOTMART_SECRET)).json()["access_token"]
    day = 86_400_000
    refused = httpx.get(f"{hotmart.url}/payments/api/v1/sales/history",
                        params={"start_date": 0, "end_date": 31 * day,
                                "transaction_status": "APPROVED"},
                        headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 400 and "30 days" in refused.text
    hotmart.requests.clear()
    backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    periods = sorted({(int(r.query["start_date"]), int(r.query["end_date"]))
                      for r in hotmart.seen("/sales/history")})
    assert all(end - start < 30 * day for start, end in periods)
    assert all(b[0] == a[1] + 1 for a, b in zip(periods, periods[1:], strict=False))

    with KiwifyStandIn(KIWIFY_ID, KIWIFY_SECRET, KIWIFY_ACCOUNT) as kiwify:
        too_long = kiwify_query(kiwify, {"start_date": "2025-01-01", "end_date": "2025-04-02"})
        assert too_long.status_code == 400 and "90 days" in too_long.text
        kiwify.requests.clear()
        backfill(kiwify_env(kiwify), "kiwify", tmp_path, since=date(2025, 8, 1),
                 until=date(2026, 4, 1), page_size=20)
        asked = sorted({(r.query["start_date"], r.query["end_date"])
                        for r in kiwify.seen("/v1/sales")})
        for first, last in asked:
            assert (date.fromisoformat(last) - date.fromisoformat(first)).days <= 90
        assert all(b[0] == a[1] for a, b in zip(asked, asked[1:], strict=False))
        assert len({orjson.loads(x)["id"] for x in landed(tmp_path, "kiwify_sales")}) == \
            len(kiwify.sales)


def kiwify_query(kiwify, params: dict) -> httpx.Response:
    token = httpx.post(f"{kiwify.url}/v1/oauth/token",
                       data={"client_id": KIWIFY_ID, "client_secret": KIWIFY_SECRET}
                       ).json()["access_token"]
    return httpx.get(f"{kiwify.url}/v1/sales", params=params,
                     headers={"Authorization": f"Bearer {token}",
                              "x-kiwify-account-id": KIWIFY_ACCOUNT})


# ------------------------------------------------------------------------------ resume

def load(url: str, landing: Path) -> dict[str, int]:
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        results = ingest.load_all(connection, landing)
    finally:
        connection.close()
    return {feed: sum(f.landed for r in results for f in r.new_files(feed))
            for feed in ("hotmart_sales_history", "hotmart_sales_commissions",
                         "hotmart_sales_summary")}


def raw_counts(url: str) -> tuple[int, int]:
    [(rows, distinct)] = query(url, "select count(*), count(distinct payload::jsonb #>> "
                                    "'{purchase,transaction}') from raw.hotmart_sales_history")
    return rows, distinct


def test_a_backfill_stopped_after_some_pages_resumes_and_lands_each_record_once(
        hotmart, tmp_path, database_url):
    class Stop(Exception):
        pass

    def stop_at(pages: int) -> None:
        if pages == 9:
            raise Stop

    with pytest.raises(Stop):
        backfill(hotmart_env(hotmart), "hotmart", tmp_path, after_page=stop_at)
    [checkpoint] = (tmp_path / "hotmart" / ".backfill").glob("*.json")
    state = json.loads(checkpoint.read_text())
    assert state["query_index"] > 0 or state["pages_done"] > 0
    before = len(page_files(tmp_path, "hotmart"))

    def asked() -> list[tuple]:
        return [(r.path, tuple(sorted(r.query.items()))) for r in hotmart.seen("/payments/")]

    first_run = set(asked())
    lines: list[str] = []
    result = backfill(hotmart_env(hotmart), "hotmart", tmp_path, lines=lines)
    assert result.resumed_at_query == state["query_index"]
    assert any("resuming at query" in line for line in lines)
    # it did not start over: no page of the first run is asked again
    assert not first_run & set(asked()[len(first_run):])
    assert len(page_files(tmp_path, "hotmart")) > before
    assert not checkpoint.exists()
    load(database_url, tmp_path)
    assert raw_counts(database_url) == (len(hotmart.sales), len(hotmart.sales))


def test_a_backfill_killed_with_sigkill_resumes_and_lands_each_record_once(
        hotmart, tmp_path, database_url):
    """A real `tallyhouse backfill` process, killed with SIGKILL in the middle of its pages,
    then the same command again: every sale lands in raw exactly once."""
    hotmart.delay = 0.03
    landing = tmp_path / "landing"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TALLYHOUSE_")},
           **hotmart_env(hotmart), "TALLYHOUSE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "tallyhouse_cli", "backfill", "hotmart",
               "--since", str(HOTMART_SINCE), "--until", str(HOTMART_UNTIL),
               "--landing", str(landing), "--rate", "0", "--page-size", "7"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((landing / "hotmart").glob("*.jsonl"))) >= 12:
            break
        time.sleep(0.02)
    assert process.poll() is None, process.stdout.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert list((landing / "hotmart" / ".backfill").glob("*.json"))
    hotmart.delay = 0
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming at query" in done.stdout
    assert not list((landing / "hotmart").glob(".backfill-*.tmp"))
    load(database_url, landing)
    assert raw_counts(database_url) == (len(hotmart.sales), len(hotmart.sales))
    [(commissions,)] = query(database_url, "select count(*) from raw.hotmart_sales_commissions")
    assert commissions == len(hotmart.sales)


def test_a_second_backfill_lands_nothing_new_and_a_change_lands_once(
        hotmart, tmp_path, database_url):
    backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    first = load(database_url, tmp_path)
    assert first["hotmart_sales_history"] == len(hotmart.sales)
    files = len(page_files(tmp_path, "hotmart"))
    backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    assert len(page_files(tmp_path, "hotmart")) == 2 * files  # fetched again, new names
    assert load(database_url, tmp_path) == {"hotmart_sales_history": 0,
                                            "hotmart_sales_commissions": 0,
                                            "hotmart_sales_summary": 0}
    refunded = next(s for s in hotmart.sales if s.status == "APPROVED")
    hotmart.set_status(refunded.transaction, "REFUNDED")
    backfill(hotmart_env(hotmart), "hotmart", tmp_path)
    third = load(database_url, tmp_path)
    assert third["hotmart_sales_history"] == 1  # the refunded sale, nothing else
    assert third["hotmart_sales_summary"] == 2  # its window's APPROVED and REFUNDED totals
    rows, distinct = raw_counts(database_url)
    assert (rows, distinct) == (len(hotmart.sales) + 1, len(hotmart.sales))
    [(name,)] = query(database_url, "select _file_name from raw.hotmart_sales_history where "
                                    "payload::jsonb #>> '{purchase,status}' = 'REFUNDED' and "
                                    f"payload::jsonb #>> '{{purchase,transaction}}' = "
                                    f"'{refunded.transaction}'")
    assert re.match(API_PAGE_NAME, name.rsplit("/", 1)[-1])["filter"] == "REFUNDED"


LATEST_SUMMARY = """
with files as (
    select m.file_id, coalesce(m.duplicate_of_file_id, m.file_id) as holder,
           substring(m.file_name from '-([0-9]{8}T[0-9]{12}Z)[.]jsonl$') as fetched_at,
           substring(m.file_name from '-[0-9]{8}-[0-9]{8}-([A-Za-z_]+)-p[0-9]{5}-') as status
    from raw._manifest as m
    where m.feed = 'hotmart_sales_summary' and m.status in ('loaded', 'duplicate_file')
),
latest as (
    select distinct on (status) status, holder from files order by status, fetched_at desc
)
select latest.status, item -> 'total_value' ->> 'currency_code',
       (item ->> 'total_items')::int
from latest
join raw._manifest as holder on holder.file_id = latest.holder
join raw.hotmart_sales_summary as s on s._file_sha256 = holder.file_sha256
cross join lateral jsonb_array_elements(s.payload::jsonb -> 'response' -> 'items') as item
where latest.status in ('APPROVED', 'REFUNDED')
order by 1, 2
"""


def test_the_latest_summary_of_a_period_is_found_even_when_it_repeats_an_earlier_one(
        hotmart, tmp_path, database_url):
    """APPROVED, then REFUNDED, then APPROVED again: the third summary is byte for byte the
    first, so its record is not landed again — yet the latest summary of each status is
    found, by the fetch time in the file names and the manifest's duplicate_of_file_id
    (the rule platform_totals_match reads)."""
    until = date(2026, 1, 30)
    sale = next(s for s in hotmart.sales
                if s.status == "APPROVED" and s.order_date < 1769742000000)

    def expected() -> list[tuple]:
        counts: dict[tuple, int] = {}
        for other in hotmart.sales:
            if other.order_date < 1769828400000 and other.status in ("APPROVED", "REFUNDED"):
                key = (other.status, other.currency)
                counts[key] = counts.get(key, 0) + 1
        return sorted((status, currency, n) for (status, currency), n in counts.items())

    for status in ("APPROVED", "REFUNDED", "APPROVED"):
        hotmart.set_status(sale.transaction, status)
        backfill(hotmart_env(hotmart), "hotmart", tmp_path, until=until)
        load(database_url, tmp_path)
        assert query(database_url, LATEST_SUMMARY) == expected()
    [(duplicates,)] = query(database_url, "select count(*) from raw._manifest where feed = "
                                          "'hotmart_sales_summary' and status = 'duplicate_file'")
    assert duplicates >= 17  # the third fetch repeats the first, file for file


# ------------------------------------------------------------------------------ secrets

def test_secrets_never_reach_output_logs_or_files(hotmart, tmp_path, caplog):
    """httpx logs every request (the token call's URL holds the client secret); the log,
    the progress lines, the landed pages and the checkpoint hold no credential."""
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []

    class Stop(Exception):
        pass

    def expire(pages: int) -> None:
        if pages == 3:
            hotmart.expire_tokens()
            raise Stop  # leaves a checkpoint behind

    with pytest.raises(Stop):
        backfill(hotmart_env(hotmart), "hotmart", tmp_path, lines=lines, after_page=expire)
    backfill(hotmart_env(hotmart), "hotmart", tmp_path, lines=lines)
    assert any("oauth/token" in r.getMessage() for r in caplog.records if r.name == "httpx")
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    text = caplog.text + "\n".join(lines)
    for secret in SECRETS:
        assert secret not in text and secret.encode() not in written
    assert "client_secret=[redacted]" in caplog.text


def test_the_command_shows_no_secret_when_it_fails_or_succeeds(hotmart, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TALLYHOUSE_")},
           **hotmart_env(hotmart), "TALLYHOUSE_HOME": str(tmp_path)}
    base = [sys.executable, "-m", "tallyhouse_cli", "backfill", "hotmart", "--since",
            "2026-01-01", "--until", "2026-01-31", "--landing", str(tmp_path / "landing"),
            "--rate", "0"]
    hotmart.inject("/sales/history", 401, times=2)
    failed = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode == 1 and "stopped" in failed.stdout
    done = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "records/s" in done.stdout
    missing = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={k: v for k, v in env.items()
                                  if k != "TALLYHOUSE_HOTMART_CLIENT_SECRET"})
    assert missing.returncode == 2 and "TALLYHOUSE_HOTMART_CLIENT_SECRET" in missing.stdout
    for run in (failed, done, missing):
        for secret in SECRETS:
            assert secret not in run.stdout + run.stderr


def test_the_command_resyncs_trailing_days_and_waits_for_no_second_backfill(
        tmp_path, monkeypatch, capsys):
    from tallyhouse.backfill.checkpoint import PlatformLock
    from tallyhouse_cli.main import main

    with KiwifyStandIn(KIWIFY_ID, KIWIFY_SECRET, KIWIFY_ACCOUNT) as kiwify:
        for name, value in kiwify_env(kiwify).items():
            monkeypatch.setenv(name, value)
        arguments = ["backfill", "kiwify", "--trailing-days", "60", "--until", "2026-04-30",
                     "--landing", str(tmp_path), "--rate", "0"]
        assert main(arguments) == 0
        out = capsys.readouterr().out
        assert "kiwify (resync) 2026-03-02..2026-04-30" in out and "records/s" in out
        assert {r.query.get("updated_at_start_date") for r in kiwify.seen("/v1/sales")} == {
            "2026-03-02"}
        with PlatformLock(tmp_path / "kiwify", "kiwify"):
            assert main(arguments) == 75
        assert "another backfill of this platform is running" in capsys.readouterr().out


def test_redactor_hides_every_spelling():
    redactor = Redactor(["s3cr/et+x"])
    url = ("https://a.example/security/oauth/token?grant_type=client_credentials&client_id=ab"
           "&client_secret=s3cr%2Fet%2Bx")
    assert "s3cr" not in redactor.redact(url) and "client_id=[redacted]" in redactor.redact(url)
    assert redactor.redact("Authorization: Bearer abc.def") == "Authorization: [redacted]"
    assert redactor.redact("token s3cr/et+x in text") == "token [redacted] in text"


# ------------------------------------------------------------------------------ Kiwify, Eduzz

def test_kiwify_backfill_and_the_trailing_resync_by_update_date(tmp_path):
    with KiwifyStandIn(KIWIFY_ID, KIWIFY_SECRET, KIWIFY_ACCOUNT) as kiwify:
        backfill(kiwify_env(kiwify), "kiwify", tmp_path, since=date(2025, 8, 1),
                 until=date(2026, 4, 1), page_size=20)
        calls = kiwify.seen("/v1/sales")
        assert all(r.headers["x-kiwify-account-id"] == KIWIFY_ACCOUNT for r in calls)
        assert all(r.query["view_full_sale_details"] == "true" for r in calls)
        assert len(kiwify.tokens_issued) == 1
        records = [orjson.loads(x) for x in landed(tmp_path, "kiwify_sales")]
        assert {r["id"] for r in records} == {s.id for s in kiwify.sales}
        assert set(landed(tmp_path, "kiwify_sales")) == {s.full for s in kiwify.sales}
        assert all("payment" in r and "revenue_partners" in r for r in records)

        # a sale of October refunded in April: the re-sync by update date finds it
        old = min(kiwify.sales, key=lambda s: s.created_at)
        kiwify.set_status(old.id, "refunded", datetime(2026, 4, 20, 15, tzinfo=UTC))
        kiwify.requests.clear()
        result = trailing_resync("kiwify", tmp_path, 60, until=date(2026, 4, 30),
                                 environ=kiwify_env(kiwify), zone=ZONE, interactive=False,
                                 say=lambda _l: None, requests_per_second=0, page_size=20)
        assert result.mode == "resync" and (result.since, result.until) == (
            date(2026, 3, 2), date(2026, 4, 30))
        [asked] = {(r.query.get("updated_at_start_date"), r.query.get("updated_at_end_date"))
                   for r in kiwify.seen("/v1/sales")}
        assert asked == ("2026-03-02", "2026-05-01")
        resynced = [orjson.loads(x) for x in landed(tmp_path, "kiwify_sales")
                    if orjson.loads(x)["id"] == old.id]
        assert "refunded" in [r["status"] for r in resynced]
        names = [p.name for p in page_files(tmp_path, "kiwify")]
        assert any(re.match(API_PAGE_NAME, n)["filter"] == "updated" for n in names)


def test_eduzz_sales_every_status_and_its_summaries(tmp_path):
    with EduzzStandIn(EDUZZ_TOKEN) as eduzz:
        result = backfill(eduzz_env(eduzz), "eduzz", tmp_path, since=date(2026, 1, 15),
                          until=date(2026, 4, 30), page_size=9)
        sales = landed(tmp_path, "eduzz_sales")
        assert sorted(sales) == sorted(s.item for s in eduzz.sales)
        statuses = {orjson.loads(x)["status"] for x in sales}
        assert {"paid", "refunded", "canceled"} <= statuses
        assert result.feeds["eduzz_sales"].pages > result.windows  # several pages
        summaries = [orjson.loads(x) for x in landed(tmp_path, "eduzz_sales_summary")]
        assert len(summaries) == result.windows * 12
        paid = sum(s["response"]["total"]["value"] for s in summaries
                   if s["request"]["status"] == "paid")
        assert paid == pytest.approx(sum(s.total for s in eduzz.sales if s.status == "paid"))
        assert all(r.headers["authorization"] == f"Bearer {EDUZZ_TOKEN}"
                   for r in eduzz.requests)
        first = eduzz.seen("/myeduzz/v1/sales")[0].query
        assert first["startDate"].startswith("2026-01-15T00:00:00.000-03:00")


# ------------------------------------------------------------------------------ Dagster

def test_the_daily_resync_is_a_step_before_the_loaders_when_credentials_are_set(
        hotmart, tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.backfill.assets import build_resync, resync_key
    from orchestration.defs.backfill.resources import PlatformApisResource
    from orchestration.resources import LandingResource

    graph = defs.resolve_asset_graph()
    for feed in source_by_name("hotmart").feeds:
        assert resync_key("hotmart") in graph.get(dg.AssetKey(["hotmart", feed.name])).parent_keys
    assert defs.resolve_job_def("api_backfill") is not None

    asset = build_resync("hotmart")
    resources = {"platform_apis": PlatformApisResource(trailing_days=30, requests_per_second=0),
                 "landing": LandingResource(path=str(tmp_path))}
    for name in ("TALLYHOUSE_HOTMART_CLIENT_ID", "TALLYHOUSE_HOTMART_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    skipped = dg.materialize([asset], resources=resources, tags={"trigger": "schedule"})
    [event] = skipped.asset_materializations_for_node(asset.op.name)
    assert event.metadata["configured"].value is False
    assert not hotmart.requests

    for name, value in hotmart_env(hotmart).items():
        monkeypatch.setenv(name, value)
    by_sensor = dg.materialize([asset], resources=resources, tags={"trigger": "new_files"})
    [event] = by_sensor.asset_materializations_for_node(asset.op.name)
    assert event.metadata["resynced"].value is False and not hotmart.requests

    done = dg.materialize([asset], resources=resources, tags={"trigger": "schedule"})
    [event] = done.asset_materializations_for_node(asset.op.name)
    assert event.metadata["resynced"].value is True
    assert hotmart.requests and page_files(tmp_path, "hotmart")
    [check] = done.get_asset_check_evaluations()
    assert check.passed

    hotmart.inject("/sales/history", 401, times=2)
    failed = dg.materialize([asset], resources=resources, tags={"trigger": "schedule"})
    assert failed.success  # the books go on
    [check] = failed.get_asset_check_evaluations()
    assert not check.passed and "401" in check.metadata["error"].value


def test_the_api_backfill_job_lands_a_period(hotmart, tmp_path, monkeypatch):
    from orchestration.defs.backfill.jobs import api_backfill
    from orchestration.resources import LandingResource

    for name, value in hotmart_env(hotmart).items():
        monkeypatch.setenv(name, value)
    result = api_backfill.execute_in_process(
        run_config={"ops": {"backfill_platform": {"config": {
            "platform": "hotmart", "since": "2026-01-01", "until": "2026-01-31",
            "requests_per_second": 0, "page_size": 50}}}},
        resources={"landing": LandingResource(path=str(tmp_path))})
    assert result.success
    january = [s for s in hotmart.sales if s.order_date < 1769914800000]
    assert result.output_for_node("backfill_platform") >= 2 * len(january)
    assert len(landed(tmp_path, "hotmart_sales_history")) == len(january)


# ------------------------------------------------------------------------------ benchmark

def test_benchmark_records_per_second_against_the_stand_in(tmp_path, capsys):
    from tallyhouse_cli.main import main

    with HotmartStandIn(HOTMART_ID, HOTMART_SECRET, sales=6000) as hotmart:
        env = hotmart_env(hotmart)
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            code = main(["backfill", "hotmart", "--since", str(HOTMART_SINCE), "--until",
                         str(HOTMART_UNTIL), "--landing", str(tmp_path), "--rate", "0",
                         "--page-size", "500"])
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    out = capsys.readouterr().out
    assert code == 0, out
    [rate] = re.findall(r"([\d,]+) records/s", out)
    with capsys.disabled():
        print(f"\nbackfill benchmark: {rate} records/s (hotmart stand-in, 6,000 sales, "
              "history + commissions + summary, pages of 500)")
    assert int(rate.replace(",", "")) > 0


def test_windows_cover_the_period_without_overlap():
    from tallyhouse.backfill.platforms import windows

    spans = windows(date(2024, 1, 1), date(2024, 3, 5), 30)
    assert [(str(w.first_day), str(w.last_day)) for w in spans] == [
        ("2024-01-01", "2024-01-30"), ("2024-01-31", "2024-02-29"), ("2024-03-01", "2024-03-05")]
    assert all(b.first_day == a.last_day + timedelta(days=1)
               for a, b in zip(spans, spans[1:], strict=False))
