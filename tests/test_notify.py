"""The digest, delivered (issue 26): a real SMTP server (aiosmtpd on loopback, with AUTH)
and a loopback HTTP server standing in for the Slack, Teams (Workflows) and Google Chat
webhooks; the job itself sends the digest after the report, the all-clear on a clean run
and the alert when a run fails. Retries, materiality, and no secret anywhere.

One anomalies warehouse is built once for the module (the job, with every channel set);
later runs are stored on it directly (their checks' outcomes), so that the report and the
digest can be read across three runs without building again.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tallyhouse.money import format_amount, format_count

from conftest import ARTIFACTS, _scratch_database, chromium_path, execute_job, query

PASSWORD = "s3cr3t-Pa55word-XYZ"
SLACK_TOKEN = "XOXB-slack-secret-token-0042"
TEAMS_SIG = "teams-signature-secret-0042"
GCHAT_TOKEN = "gchat-token-secret-0042"
REPORT_DAY = "2026-05-20"  # a day inside the small landing (30 days from 2026-05-01)


# ------------------------------------------------------------------------ stand-ins

@dataclass
class Inbox:
    messages: list = field(default_factory=list)
    logins: list = field(default_factory=list)


class _SmtpHandler:
    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):
        self.inbox.messages.append(email.message_from_bytes(envelope.content,
                                                            policy=email.policy.default))
        return "250 OK"


@dataclass
class Hooks:
    """Requests the webhooks received; ``script[path prefix]``: statuses to answer in turn
    (then 200)."""
    received: list = field(default_factory=list)
    script: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    def ok(self, prefix: str) -> list[dict]:
        return [body for path, status, body in self.received
                if path.startswith(prefix) and 200 <= status < 300]

    def reset(self) -> None:
        self.received.clear()
        self.script.clear()
        self.headers.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stand_ins():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((mechanism, auth_data.login))
        good = auth_data.login == b"finance-bot" and auth_data.password == PASSWORD.encode()
        return AuthResult(success=good)

    port = _free_port()
    controller = Controller(_SmtpHandler(inbox), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prefix = "/" + self.path.split("/")[1]
            statuses = hooks.script.get(prefix) or []
            status = statuses.pop(0) if statuses else (202 if prefix == "/teams" else 200)
            hooks.received.append((self.path, status, body))
            self.send_response(status)
            for name, value in hooks.headers.get((prefix, status), {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"error")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    env = {
        "TALLYHOUSE_SMTP_URL": f"smtp://finance-bot:{PASSWORD}@127.0.0.1:{port}?security=none",
        "TALLYHOUSE_NOTIFY_EMAIL_FROM": "tallyhouse@seller.example",
        "TALLYHOUSE_NOTIFY_EMAIL_TO": "ana@seller.example, controller@seller.example",
        "TALLYHOUSE_NOTIFY_SLACK_URL": f"{base}/slack/services/T000/B000/{SLACK_TOKEN}",
        "TALLYHOUSE_NOTIFY_TEAMS_URL": f"{base}/teams/workflows/abc/triggers/manual/paths/"
                                       f"invoke?api-version=1&sig={TEAMS_SIG}",
        "TALLYHOUSE_NOTIFY_GCHAT_URL": f"{base}/gchat/v1/spaces/AAAA/messages?key=k&token="
                                       f"{GCHAT_TOKEN}",
        "TALLYHOUSE_REPORT_DAY": REPORT_DAY,
        "TALLYHOUSE_NOTIFY_ATTEMPTS": "3",
    }
    yield inbox, hooks, env
    server.shutdown()
    controller.stop()


class _Everything(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001
            self.lines.append(str(record.msg))


@pytest.fixture(scope="module")
def warehouse(pg_server, anomalies_landing, stand_ins, tmp_path_factory):
    """The anomalies landing through the whole job, every channel set: the first run."""
    inbox, hooks, env = stand_ins
    home = tmp_path_factory.mktemp("notify-home")
    logs = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(logs)
    root.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as mp, _scratch_database(pg_server, "n") as url:
        for name, value in env.items():
            mp.setenv(name, value)
        mp.setenv("TALLYHOUSE_HOME", str(home))
        mp.setenv("TALLYHOUSE_DATABASE_URL", url)
        try:
            result = execute_job(anomalies_landing, url)
        finally:
            root.removeHandler(logs)
            root.setLevel(old_level)
        assert result.success
        events = [str(e.message) + json.dumps(_metadata(e), default=str)
                  for e in result.all_events]
        yield {"url": url, "run_id": result.run_id, "home": home, "logs": logs.lines,
               "events": events, "mails": list(inbox.messages),
               "hooks": list(hooks.received), "env": env}


def _metadata(event) -> dict:
    data = getattr(event, "event_specific_data", None)
    materialization = getattr(data, "materialization", None)
    if materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


@pytest.fixture
def channels(stand_ins, warehouse, monkeypatch):
    inbox, hooks, env = stand_ins
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", warehouse["url"])
    inbox.messages.clear()
    hooks.reset()
    return inbox, hooks


def _body(mail) -> tuple[str, str]:
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    return text, html


def _screenshot(html: str, name: str, visible: list[str]) -> None:
    """The e-mail as a mail client draws it (headless Chromium, no network): every text in
    ``visible`` is shown, and the picture is kept with the dashboards' screenshots."""
    playwright = pytest.importorskip("playwright.sync_api")
    browser_path = chromium_path()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            page.route("**/*", lambda route: route.abort())  # a mail client loads nothing
            page.set_content(html)
            shown = page.locator("body").inner_text()
            for text in visible:
                assert text in shown, text
            page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        finally:
            browser.close()


def _chat_text(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False)


# ------------------------------------------------------------------------ the first run

def test_a_run_with_breaks_sends_one_digest_per_channel(warehouse):
    url, run_id = warehouse["url"], warehouse["run_id"]
    breaks = query(url, "select count(*) from marts.rpt_reconciliation_breaks "
                        "where run_id = %s", (run_id,))[0][0]
    largest_entity, largest_amount, currency = query(url, """
        select entity_id, amount_at_stake, coalesce(currency_code, unit)
        from marts.rpt_reconciliation_breaks
        where run_id = %s and currency_code is not null and amount_at_stake is not null
        order by amount_at_stake desc limit 1""", (run_id,))[0]
    [mail] = warehouse["mails"]
    assert mail["To"] == "ana@seller.example, controller@seller.example"
    subject = str(mail["Subject"])
    from tallyhouse.reconciliation.facts import LOCAL_TZ

    run_at = query(url, "select max(run_at) from marts.rpt_reconciliation_summary "
                        "where run_id = %s", (run_id,))[0][0]
    assert subject.startswith(f"tallyhouse {run_at.astimezone(LOCAL_TZ):%d/%m}: "
                              f"{format_count(breaks)} breaks (2 structural), R$ ")
    assert subject.endswith(" at stake") and "US$ " in subject
    text, html = _body(mail)
    assert largest_entity in text and largest_entity in html
    assert format_amount(largest_amount, currency) in text
    assert text.index("Structural findings") < text.index("Largest breaks by amount")
    # the period's control totals, per platform and currency
    assert "20/05/2026" in text and "Hotmart | BRL" in text
    _screenshot(html, "digest.png", [largest_entity, "Largest breaks by amount"])
    [attachment] = [part for part in mail.iter_attachments()]
    assert attachment.get_filename() == "breaks.csv"
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert len(rows) == breaks
    # one message per chat channel, each naming the run's breaks and the largest one
    hooks = warehouse["hooks"]
    for prefix in ("/slack", "/teams", "/gchat"):
        [body] = [b for path, status, b in hooks if path.startswith(prefix)]
        shown = _chat_text(body)
        assert subject in shown and largest_entity in shown, prefix
    [slack] = [b for p, _, b in hooks if p.startswith("/slack")]
    assert slack["text"] == subject and slack["blocks"][0]["type"] == "section"
    [teams] = [b for p, _, b in hooks if p.startswith("/teams")]
    assert teams["type"] == "message"
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    deliveries = query(url, "select channel, delivered, kind from "
                            "marts.rpt_notification_deliveries where run_id = %s", (run_id,))
    assert sorted(deliveries) == [("email", True, "digest"), ("gchat", True, "digest"),
                                  ("slack", True, "digest"), ("teams", True, "digest")]


def test_no_secret_in_any_output_file_or_table(warehouse, stand_ins):
    inbox, _, env = stand_ins
    secrets = [PASSWORD, SLACK_TOKEN, TEAMS_SIG, GCHAT_TOKEN]
    assert inbox.logins and inbox.logins[0][1] == b"finance-bot", "the password was used"
    seen = "\n".join(warehouse["logs"] + warehouse["events"])
    for mail in warehouse["mails"]:
        seen += mail.as_string()
    seen += json.dumps([b for _, _, b in warehouse["hooks"]])
    for path in Path(warehouse["home"]).rglob("*"):
        if path.is_file():
            seen += path.read_bytes().decode("utf-8", "replace")
    for table in ("rpt_notification_deliveries", "rpt_reconciliation_breaks",
                  "rpt_reconciliation_summary"):
        seen += repr(query(warehouse["url"], f"select * from marts.{table}"))
    assert seen  # something was looked at
    leaked = [s for s in secrets if s in seen]
    assert leaked == []


# ------------------------------------------------------------------------ runs stored directly

def _outcomes(url: str, run_id: str, drop: set[tuple] = frozenset(),
              add: dict[str, list[dict]] | None = None, clean: bool = False):
    """A run's outcomes as stored, less some breaks (check, entity), plus others."""
    from tallyhouse.reconciliation.checks import CHECKS
    from tallyhouse.reconciliation.runner import BREAK_COLUMNS, Outcome

    names = ["check_name", *BREAK_COLUMNS, "currency_code", "difference", "feed"]
    rows = query(url, f"select {', '.join(names)} from marts.rpt_reconciliation_breaks "
                      "where run_id = %s", (run_id,))
    by_check: dict[str, list[dict]] = {}
    for row in rows:
        record = dict(zip(names, row, strict=True))
        if clean or (record["check_name"], record["entity_id"]) in drop:
            continue
        by_check.setdefault(record.pop("check_name"), []).append(record)
    for name, extra in (add or {}).items():
        by_check.setdefault(name, []).extend(extra)
    return [Outcome(c, passed=not by_check.get(c.name), break_count=len(by_check.get(c.name,
                                                                                   [])),
                    breaks=by_check.get(c.name, [])) for c in CHECKS]


def _store(url: str, outcomes, when: datetime) -> str:
    from tallyhouse.reconciliation.runner import save

    run_id = str(uuid.uuid4())
    save(url, run_id, when, outcomes)
    return run_id


def _job(url: str, landing: Path, run_id: str, keys) -> object:
    import dagster as dg

    from orchestration.definitions import defs

    # the job's own resources, from the environment (TALLYHOUSE_DATABASE_URL is the
    # warehouse): a subset of the job takes no resources of its own
    assert os.environ["TALLYHOUSE_DATABASE_URL"] == url
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def("tallyhouse").execute_in_process(
            instance=instance, raise_on_error=False, run_id=run_id, asset_selection=keys)


def _money_break(entity: str, amount: str) -> dict:
    return {"break_kind": "producer_line_differs", "entity_type": "transaction",
            "entity_id": entity, "platform": "hotmart", "unit": "BRL", "currency_code": "BRL",
            "expected": Decimal("100.00"), "actual": Decimal("100.00") + Decimal(amount),
            "difference": Decimal(amount), "amount_at_stake": Decimal(amount),
            "detail": "the producer line of fct_commissions equals producer_net_amount",
            "feed": None}


def test_the_report_and_the_digest_across_three_runs(warehouse, channels, tmp_path):
    """Run 1 (the job): the anomalies. Run 2, two days later: one money break resolved, a
    new one found — the report compares with run 1 (not "new check"), the digest says what
    is new, still open (2 days) and resolved. Run 3: the books agree — the report says what
    was resolved; the digest is the all-clear."""
    from tallyhouse.notify import send_digest
    from tallyhouse.reconciliation.report import write_report

    inbox, hooks = channels
    url, first = warehouse["url"], warehouse["run_id"]
    first_at = query(url, "select max(run_at) from marts.rpt_reconciliation_summary "
                          "where run_id = %s", (first,))[0][0]
    money = query(url, "select entity_id from marts.rpt_reconciliation_breaks where run_id = "
                       "%s and check_name = 'money_formulas' order by amount_at_stake desc",
                  (first,))
    assert len(money) == 3  # two producer lines and a line in another currency
    resolved = money[0][0]
    second = _store(url, _outcomes(url, first, drop={("money_formulas", resolved)},
                                   add={"money_formulas": [_money_break("HP-NEW-1", "42.00")]}),
                    first_at + timedelta(days=2))
    page = write_report(url, second, root=tmp_path).html_path.read_text()
    comparison = page[page.index('id="comparison"'):page.index("</table>",
                                                                page.index('id="comparison"'))]
    assert "new check" not in comparison
    row = comparison[comparison.index("<td>money_formulas</td>"):]
    row = row[:row.index("</tr>")]
    assert row.count('<td class="num">3</td>') == 2 and "<td>unchanged</td>" in row
    assert "1</strong> break(s) are new in this run" in page
    assert "HP-NEW-1" in page and "(2 d)" in page
    # the first run's digest deliveries are listed in the second report
    assert 'id="delivery-log"' in page and "delivered" in page

    outcome = send_digest(url, second)
    assert outcome.ok and outcome.message.kind == "digest"
    text = outcome.message.text()
    assert "New: 1 break(s) since the previous digest" in text
    assert "HP-NEW-1" in text.split("Still open")[0]
    assert "Still open:" in text and "the oldest 2 day(s)" in text
    assert "open 2 d (since" in text
    assert "Resolved since the previous digest: 1 break(s)" in text

    third = _store(url, _outcomes(url, first, clean=True), first_at + timedelta(days=3))
    page = write_report(url, third, root=tmp_path).html_path.read_text()
    assert "<td>resolved</td>" in page and "No break: nothing to review" in page
    inbox.messages.clear()
    hooks.reset()
    outcome = send_digest(url, third)
    assert outcome.message.kind == "all_clear"
    assert outcome.message.subject.endswith(": the books agree")
    assert [m["Subject"] for m in inbox.messages] == [outcome.message.subject]
    assert len(hooks.ok("/slack")) == len(hooks.ok("/teams")) == len(hooks.ok("/gchat")) == 1


def test_a_clean_run_of_the_job_sends_the_all_clear_and_a_setting_turns_it_off(
        warehouse, channels, anomalies_landing, monkeypatch):
    from orchestration.defs.notify.assets import DIGEST_KEY
    from orchestration.defs.reconciliation.assets import REPORT_KEY

    inbox, hooks = channels
    url = warehouse["url"]
    run_id = _store(url, _outcomes(url, warehouse["run_id"], clean=True), datetime.now(UTC))
    result = _job(url, anomalies_landing, run_id, [REPORT_KEY, DIGEST_KEY])
    assert result.success
    [mail] = inbox.messages
    assert mail["Subject"].endswith(": the books agree")
    assert not list(mail.iter_attachments()), "no breaks.csv when there is no break"
    assert len(hooks.ok("/slack")) == 1 and "the books agree" in _chat_text(hooks.ok("/gchat")[0])

    inbox.messages.clear()
    hooks.reset()
    monkeypatch.setenv("TALLYHOUSE_NOTIFY_ALL_CLEAR", "off")
    run_id = _store(url, _outcomes(url, warehouse["run_id"], clean=True), datetime.now(UTC))
    assert _job(url, anomalies_landing, run_id, [REPORT_KEY, DIGEST_KEY]).success
    assert inbox.messages == [] and hooks.received == []


def test_a_failed_run_sends_the_alert_with_the_step_and_time(warehouse, channels,
                                                            anomalies_landing):
    from orchestration.defs.reconciliation.assets import REPORT_KEY

    inbox, hooks = channels
    # a report for a run that stored no checks: the report step fails
    result = _job(warehouse["url"], anomalies_landing, str(uuid.uuid4()), [REPORT_KEY])
    assert not result.success
    [mail] = inbox.messages
    assert "the run FAILED at step reports__reconciliation_report" in mail["Subject"]
    text, _ = _body(mail)
    assert "LookupError" in text
    for prefix in ("/slack", "/teams", "/gchat"):
        [body] = hooks.ok(prefix)
        assert "FAILED at step reports__reconciliation_report" in _chat_text(body)


# ------------------------------------------------------------------------ delivery

def test_a_webhook_answering_500_then_200_gets_the_message_once(channels):
    from tallyhouse.notify import send_test

    _, hooks = channels
    hooks.script["/slack"] = [500]
    hooks.script["/gchat"] = [503, 502]
    outcome = send_test()
    by_channel = {d.channel: d for d in outcome.deliveries}
    assert set(by_channel) == {"email", "slack", "teams", "gchat"} and outcome.ok
    assert (by_channel["slack"].attempts, by_channel["gchat"].attempts) == (2, 3)
    assert len(hooks.ok("/slack")) == 1 and len(hooks.ok("/gchat")) == 1
    assert [s for p, s, _ in hooks.received if p.startswith("/slack")] == [500, 200]


def test_notify_test_from_the_command_line_reaches_every_channel_and_shows_no_secret(
        channels):
    import subprocess
    import sys

    inbox, hooks = channels
    done = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "notify", "--test"],
                          capture_output=True, text=True, env={**os.environ}, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    shown = done.stdout + done.stderr
    for channel in ("email", "slack", "teams", "gchat"):
        assert channel in shown.lower(), channel
    assert [s for s in (PASSWORD, SLACK_TOKEN, TEAMS_SIG, GCHAT_TOKEN) if s in shown] == []
    assert len(inbox.messages) == 1
    assert [len(hooks.ok(p)) for p in ("/slack", "/teams", "/gchat")] == [1, 1, 1]
    # a channel that refuses: said in one line, exit 1
    hooks.script["/slack"] = [403]
    refused = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "notify", "--test"],
                             capture_output=True, text=True, env={**os.environ}, timeout=180)
    assert refused.returncode == 1, refused.stdout[-2000:]
    assert "403" in refused.stdout and "Traceback" not in refused.stdout + refused.stderr


def test_429_waits_as_told_and_a_4xx_is_not_retried(channels, warehouse, tmp_path):
    from tallyhouse.notify.deliver import post_webhook
    from tallyhouse.notify.digest import test_message
    from tallyhouse.notify.settings import from_env

    _, hooks = channels
    settings = from_env()
    slept: list[float] = []
    hooks.script["/slack"] = [429]
    hooks.headers[("/slack", 429)] = {"Retry-After": "7"}
    done = post_webhook("slack", test_message(settings), settings, sleep=slept.append)
    assert done.delivered and done.attempts == 2 and slept == [7.0]

    hooks.script["/teams"] = [404]
    done = post_webhook("teams", test_message(settings), settings, sleep=slept.append)
    assert not done.delivered and done.attempts == 1 and "HTTP 404" in done.detail
    assert TEAMS_SIG not in done.detail

    hooks.script["/gchat"] = [500, 500, 500]
    done = post_webhook("gchat", test_message(settings), settings, sleep=lambda s: None)
    assert not done.delivered and done.attempts == 3 and "gave up after 3" in done.detail


def test_an_unreachable_channel_never_fails_the_digest_and_is_in_the_next_report(
        warehouse, channels, monkeypatch, tmp_path):
    from tallyhouse.notify import send_digest
    from tallyhouse.reconciliation.report import write_report

    inbox, hooks = channels
    url = warehouse["url"]
    dead = _free_port()
    monkeypatch.setenv("TALLYHOUSE_NOTIFY_GCHAT_URL",
                       f"http://127.0.0.1:{dead}/v1/spaces/X/messages?token={GCHAT_TOKEN}")
    monkeypatch.setenv("TALLYHOUSE_NOTIFY_ATTEMPTS", "2")
    monkeypatch.setenv("TALLYHOUSE_NOTIFY_MIN_AMOUNT", "100")
    later = datetime.now(UTC) + timedelta(days=30)
    run_id = _store(url, _outcomes(url, warehouse["run_id"]), later)
    outcome = send_digest(url, run_id)
    by_channel = {d.channel: d for d in outcome.deliveries}
    assert by_channel["email"].delivered and not by_channel["gchat"].delivered
    assert "connection failed" in by_channel["gchat"].detail
    # materiality: chat lists no money break below 100, the e-mail lists them all
    [slack] = hooks.ok("/slack")
    assert "below 100 at stake not listed" in _chat_text(slack)
    text, _ = _body(inbox.messages[-1])
    small = [entity for (entity,) in query(
        url, "select entity_id from marts.rpt_reconciliation_breaks where run_id = %s and "
             "currency_code is not null and amount_at_stake < 100 and severity = 'WARN'",
        (run_id,)) if entity in text]
    assert small and not [entity for entity in small if entity in _chat_text(slack)]
    # the next run's report and digest say what was not delivered
    following = _store(url, _outcomes(url, warehouse["run_id"]), later + timedelta(hours=1))
    page = write_report(url, following, root=tmp_path).html_path.read_text()
    log = page[page.index('id="delivery-log"'):]
    assert "NOT delivered" in log and "Google Chat" in log and GCHAT_TOKEN not in page


def test_settings_parse_the_smtp_url_and_never_show_the_password():
    from tallyhouse.notify.settings import SettingsError, from_env, parse_smtp_url

    smtp = parse_smtp_url("smtp://bot%40x.com:p%40ss@mail.example.com:2525?security=ssl")
    assert (smtp.user, smtp.password, smtp.host, smtp.port, smtp.security) == (
        "bot@x.com", "p@ss", "mail.example.com", 2525, "ssl")
    assert "p@ss" not in repr(smtp)
    assert parse_smtp_url("smtp://relay:25?security=none").user is None
    assert parse_smtp_url("smtp://relay").port == 587
    with pytest.raises(SettingsError) as error:
        parse_smtp_url("smtp://u:hunter2@relay:25?security=tls")
    assert "hunter2" not in str(error.value)
    settings = from_env({"TALLYHOUSE_SMTP_URL": "smtp://u:hunter2@relay:25",
                         "TALLYHOUSE_NOTIFY_SLACK_URL": "https://hooks.example/T/B/abcdefgh123"})
    assert settings.channels() == ["slack"] and settings.problems
    assert "hunter2" not in repr(settings) and "abcdefgh123" not in repr(settings)
    assert settings.redactor().redact("POST https://hooks.example/T/B/abcdefgh123 failed") \
        == "POST [redacted] failed"


def test_each_side_of_a_break_is_in_its_own_currency():
    """A producer line paid in USD on a BRL sale: the line-sum break reads "Expected
    R$ 149,95 / Actual US$ 3,10", never "Actual R$ 3,10", and claims no difference."""
    from tallyhouse.reconciliation.facts import describe_sides

    def row(kind, unit, expected, actual, stake):
        return {"break_kind": kind, "platform": "hotmart", "entity_id": "HP1",
                "currency_code": unit, "unit": unit, "expected": Decimal(expected),
                "actual": Decimal(actual), "difference": Decimal(actual) - Decimal(expected),
                "amount_at_stake": Decimal(stake)}

    mismatch = row("currency_mismatch", "USD", "0", "3.10", "3.10")
    line = row("producer_line_differs", "BRL", "149.95", "3.10", "146.85")
    mixed = dict(row("producer_line_differs", "BRL", "149.95", "152.00", "2.05"),
                 entity_id="HP2")
    other = dict(mismatch, entity_id="HP2", actual=Decimal("2.00"))
    describe_sides([mismatch, line, mixed, other])
    assert (line["shown"]["expected"], line["shown"]["actual"]) == ("R$ 149,95", "US$ 3,10")
    assert line["shown"]["difference"] == line["shown"]["amount_at_stake"] == "—"
    assert "USD" in line["shown"]["note"]
    assert mixed["shown"]["actual"] == "R$ 150,00 + US$ 2,00"
    assert mismatch["shown"]["actual"] == "US$ 3,10"
