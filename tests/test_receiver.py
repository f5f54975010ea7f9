"""The webhook receiver as a platform meets it: a real `tallyhouse receive` on loopback.

Each test starts the receiver as its own process (uvicorn, fsync on), posts with real HTTP
clients in bounded loops, stops it with SIGTERM or SIGKILL, and reads what is in landing/.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import signal
import socket
import struct
import threading
import time
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import pytest

from tallyhouse_cli.receiver_bench import free_port, start_receiver

from conftest import REFERENCE, execute_job, query

SECRETS = {
    "TALLYHOUSE_HOTMART_HOTTOK": "hottok-test-7f3a9c21",
    "TALLYHOUSE_KIWIFY_TOKEN": "kiwify-token-test-51c2e0",
    "TALLYHOUSE_EDUZZ_KEY": "eduzz-key-test-9b8e44",
    "TALLYHOUSE_PIX_TOKEN": "pix-bearer-test-44d1aa",
}
HOTTOK = SECRETS["TALLYHOUSE_HOTMART_HOTTOK"]


def example(name: str) -> bytes:
    return (REFERENCE / name).read_bytes()


def compact(raw: bytes) -> bytes:
    return json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()


HOTMART_PURCHASE = "hotmart/official_docs_examples/PURCHASE_webhook_2.0.0_docs_example.json"
KIWIFY_APPROVED = "kiwify/kiwify_test_webhooks/purchase-approved.json"
KIWIFY_ABANDONED = "kiwify/kiwify_test_webhooks/example-abandoned.json"
EDUZZ_INVOICE = "eduzz/legacy_webhook_v2_test_event_invoice.json"
PIX_SNAPSHOT = "braspag_cielo/sale_query_response_with_chargebacks_fraudalert.json"


class Receiver:
    """One `tallyhouse receive` process on a free port."""

    def __init__(self, landing: Path, log: Path, env: dict[str, str], *extra: str):
        self.landing, self.log, self.port = landing, log, free_port()
        clean = {k: "" for k in SECRETS}  # a secret not given here is unset
        self.process = start_receiver(landing, self.port, {**clean, **env}, *extra,
                                      log_path=log)

    def post(self, path: str, body: bytes, headers: dict | None = None,
             timeout: float = 10.0) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("POST", path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def health(self) -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/healthz")
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def receivers(tmp_path):
    started: list[Receiver] = []

    def start(env: dict[str, str] | None = None, *extra: str, landing: Path | None = None):
        receiver = Receiver(landing or tmp_path / "landing", tmp_path / "receiver.log",
                            SECRETS if env is None else env, *extra)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        if receiver.process.poll() is None:
            receiver.kill()


def closed_lines(landing: Path, source: str, feed: str) -> list[bytes]:
    lines = []
    for path in sorted((landing / source).glob(f"{feed}-received-*.jsonl")):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} does not end with a whole line"
        lines += data.splitlines()
    return lines


def open_files(landing: Path) -> list[Path]:
    return sorted(landing.rglob(".*.open"))


def hotmart_body(event_id: str) -> bytes:
    value = json.loads(example(HOTMART_PURCHASE))
    value["id"] = event_id
    return json.dumps(value, separators=(",", ":")).encode()


def test_each_platform_authenticates_as_it_documents(receivers, tmp_path):
    receiver = receivers()
    landing = receiver.landing
    accepted: dict[str, list[bytes]] = {}

    def expect(status: int, path: str, body: bytes, headers: dict) -> None:
        got, answer = receiver.post(path, body, headers)
        assert got == status, (path, got, answer)

    # Hotmart: the hottok header. The documented body is pretty-printed: landed as one line.
    purchase = example(HOTMART_PURCHASE)
    expect(200, "/webhooks/hotmart", purchase, {"X-HOTMART-HOTTOK": HOTTOK})
    expect(401, "/webhooks/hotmart", purchase, {"X-HOTMART-HOTTOK": HOTTOK + "x"})
    expect(401, "/webhooks/hotmart", purchase, {})
    accepted["hotmart_webhooks"] = [purchase.replace(b"\r", b" ").replace(b"\n", b" ")]

    # Kiwify: ?signature= is the HMAC-SHA1 of the body keyed with the token
    token = SECRETS["TALLYHOUSE_KIWIFY_TOKEN"].encode()
    kiwify = []
    for name in (KIWIFY_APPROVED, KIWIFY_ABANDONED):
        body = compact(example(name))
        signature = hmac.new(token, body, hashlib.sha1).hexdigest()
        expect(200, f"/webhooks/kiwify?signature={signature}", body, {})
        expect(401, f"/webhooks/kiwify?signature={signature[:-1]}0", body + b" ", {})
        kiwify.append(body)
    expect(401, "/webhooks/kiwify", compact(example(KIWIFY_APPROVED)), {})
    # Kiwify signs the JSON it serialized; a body re-encoded on the way (pretty-printed by
    # a proxy) still authenticates on its compact form
    pretty = example(KIWIFY_APPROVED)
    signature = hmac.new(token, compact(pretty), hashlib.sha1).hexdigest()
    expect(200, f"/webhooks/kiwify?signature={signature}", pretty, {})
    kiwify.append(pretty.replace(b"\r", b" ").replace(b"\n", b" "))
    accepted["kiwify_webhooks"] = kiwify

    # Eduzz: x-signature (HMAC-SHA256) on the JSON webhook; the key field on the legacy form
    key = SECRETS["TALLYHOUSE_EDUZZ_KEY"]
    invoice = json.loads(example(EDUZZ_INVOICE))
    signed = compact(example(EDUZZ_INVOICE))
    expect(200, "/webhooks/eduzz", signed,
           {"x-signature": hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()})
    expect(401, "/webhooks/eduzz", signed, {"x-signature": "0" * 64})
    form = {**invoice, "trans_cod": "77001", "api_key": key}
    expect(200, "/webhooks/eduzz", urlencode(form).encode(),
           {"Content-Type": "application/x-www-form-urlencoded"})
    expect(401, "/webhooks/eduzz", urlencode({**form, "api_key": "guess"}).encode(),
           {"Content-Type": "application/x-www-form-urlencoded"})
    without_key = {k: v for k, v in form.items() if k not in ("api_key", "origin_secret")}
    expect(401, "/webhooks/eduzz", urlencode(without_key).encode(),
           {"Content-Type": "application/x-www-form-urlencoded"})

    # PIX connector: a bearer token; sale snapshots and store orders to one URL
    bearer = {"Authorization": f"Bearer {SECRETS['TALLYHOUSE_PIX_TOKEN']}"}
    snapshot = compact(example(PIX_SNAPSHOT))
    order = b'{"orderId":"v990001-01","status":"invoiced","value":1000,"paymentData":{}}'
    expect(200, "/webhooks/pix", snapshot, bearer)
    expect(200, "/webhooks/pix", order, bearer)
    expect(401, "/webhooks/pix", snapshot, {"Authorization": "Bearer nope"})
    expect(401, "/webhooks/pix", snapshot, {"Authorization": SECRETS["TALLYHOUSE_PIX_TOKEN"]})
    accepted["pix_payments"], accepted["pix_orders"] = [snapshot], [order]

    counts = receiver.health()["platforms"]
    assert counts["hotmart"]["accepted"] == 1 and counts["hotmart"]["rejected"] == 2
    assert counts["kiwify"] == {"configured": True, "accepted": 3, "rejected": 3}
    assert counts["eduzz"] == {"configured": True, "accepted": 2, "rejected": 3}
    receiver.stop()

    assert open_files(landing) == [], "stopping closes every open file"
    for feed, bodies in accepted.items():
        source = "pix" if feed.startswith("pix") else feed.split("_")[0]
        assert closed_lines(landing, source, feed) == bodies, feed
    eduzz = closed_lines(landing, "eduzz", "eduzz_webhooks")
    assert eduzz[0] == signed
    legacy = json.loads(eduzz[1])
    assert legacy == {**form, "api_key": "[redacted]"}, "the form lands as one JSON object"

    log = receiver.log.read_text()
    assert "401" in log and "does not match" in log
    for secret in SECRETS.values():
        assert secret not in log
        for path in landing.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    assert "Produto" not in log and "trans_cod" not in log, "no body in the log"


def test_limits_bad_bodies_and_unconfigured_platforms(receivers):
    receiver = receivers({"TALLYHOUSE_HOTMART_HOTTOK": HOTTOK,
                          "TALLYHOUSE_PIX_TOKEN": SECRETS["TALLYHOUSE_PIX_TOKEN"]},
                         "--max-body-bytes", "20000")
    landing = receiver.landing
    auth = {"X-HOTMART-HOTTOK": HOTTOK}
    # over the limit, declared or chunked: 413, nothing written
    assert receiver.post("/webhooks/hotmart", b"{" + b" " * 20001 + b"}", auth)[0] == 413
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    connection.request("POST", "/webhooks/hotmart", body=iter([b"{" + b" " * 15000] * 3),
                       headers=auth, encode_chunked=True)
    assert connection.getresponse().status == 413
    connection.close()
    # a body that authenticates but is not JSON is kept byte for byte in a file of its own
    torn_json = b'{"id": "x-1", "event": "PURCHASE_APPROVED", "data": {"purchase": \n{"tra'
    status, answer = receiver.post("/webhooks/hotmart", torn_json, auth)
    assert status == 200 and json.loads(answer)["unreadable"].startswith("body is not valid")
    pix_garbage = b"\xff\xfenot json\r\n"
    bearer = {"Authorization": f"Bearer {SECRETS['TALLYHOUSE_PIX_TOKEN']}"}
    assert receiver.post("/webhooks/pix", pix_garbage, bearer)[0] == 400
    assert receiver.post("/webhooks/hotmart", b"", auth)[0] == 400
    assert receiver.post("/webhooks/nowhere", b"{}", auth)[0] == 404
    assert receiver.post("/webhooks/kiwify", b"{}", {})[0] == 503
    assert receiver.post("/webhooks/eduzz", b"{}", {})[0] == 503
    health = receiver.health()["platforms"]
    assert health["hotmart"] == {"configured": True, "too_large": 2, "unreadable": 1,
                                 "empty": 1}
    assert health["kiwify"]["configured"] is False
    receiver.stop()

    kept = sorted((landing / "hotmart").glob("hotmart_webhooks-unreadable-*.jsonl"))
    assert [p.read_bytes() for p in kept] == [torn_json]
    assert [p.read_bytes() for p in (landing / "pix").glob("pix_payments-unreadable-*")] == [
        pix_garbage]
    assert not list((landing / "hotmart").glob("*-received-*")), "nothing else was stored"
    log = receiver.log.read_text()
    assert "NOT CONFIGURED: answers 503 until TALLYHOUSE_KIWIFY_TOKEN is set" in log
    assert "413" in log and HOTTOK not in log


def _burst(receiver: Receiver, senders: int, per_sender: int, prefix: str,
           acked: list[bytes], stop: threading.Event | None = None) -> None:
    def sender(n: int) -> None:
        for i in range(per_sender):
            if stop is not None and stop.is_set():
                return
            body = hotmart_body(f"{prefix}-{n}-{i}")
            try:
                status, _ = receiver.post("/webhooks/hotmart", body,
                                          {"X-HOTMART-HOTTOK": HOTTOK}, timeout=5)
            except OSError:
                if stop is not None:
                    return  # the receiver was killed under this request: not acknowledged
                raise
            if status == 200:
                acked.append(body)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def test_every_acknowledged_body_lands_once_while_files_rotate_under_load(receivers):
    # files close at ~16 KiB or every half second: a few dozen rotations during the burst
    receiver = receivers(None, "--rotate-mib", "0.015", "--rotate-seconds", "0.5")
    acked: list[bytes] = []
    _burst(receiver, senders=24, per_sender=40, prefix="rot", acked=acked)
    assert len(acked) == 24 * 40
    health = receiver.health()["writers"]["hotmart_webhooks"]
    receiver.stop()

    files = sorted((receiver.landing / "hotmart").glob("hotmart_webhooks-received-*.jsonl"))
    assert len(files) >= 20, "rotation happened under load"
    landed = closed_lines(receiver.landing, "hotmart", "hotmart_webhooks")
    assert sorted(landed) == sorted(acked), "each acknowledged body, byte for byte, once"
    assert open_files(receiver.landing) == []
    assert health["fsyncs"] < health["lines"], "concurrent bodies share fsyncs"


def test_a_second_receiver_on_the_same_landing_leaves_live_open_files_alone(receivers):
    first = receivers()
    assert first.post("/webhooks/hotmart", hotmart_body("two-1"),
                      {"X-HOTMART-HOTTOK": HOTTOK})[0] == 200
    live = open_files(first.landing)
    assert len(live) == 1
    second = receivers(None, landing=first.landing)
    assert open_files(first.landing) == live, "the live receiver's open file is left alone"
    assert "another receiver is writing it" in second.log.read_text()
    assert first.post("/webhooks/hotmart", hotmart_body("two-2"),
                      {"X-HOTMART-HOTTOK": HOTTOK})[0] == 200
    assert second.post("/webhooks/hotmart", hotmart_body("two-3"),
                       {"X-HOTMART-HOTTOK": HOTTOK})[0] == 200
    first.stop()
    second.stop()
    landed = closed_lines(first.landing, "hotmart", "hotmart_webhooks")
    assert sorted(json.loads(line)["id"] for line in landed) == ["two-1", "two-2", "two-3"]


def test_kill_9_loses_no_acknowledged_body_and_sets_a_torn_line_aside(receivers, tmp_path):
    receiver = receivers(None, "--rotate-seconds", "0.7")
    acked: list[bytes] = []
    stop = threading.Event()
    burst = threading.Thread(target=_burst, args=(receiver, 16, 10_000, "k9", acked, stop))
    burst.start()
    deadline = time.monotonic() + 30
    while len(acked) < 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.kill()  # SIGKILL in the middle of the burst
    stop.set()
    burst.join(timeout=60)
    assert len(acked) >= 400
    landing = receiver.landing
    left_open = open_files(landing)
    assert left_open, "the killed receiver left its open file behind"

    # A crash between write() and its completion leaves a torn last line; a kill cannot
    # interrupt a write, so the torn tail is appended here as a power cut would leave it.
    with left_open[-1].open("ab") as handle:
        handle.write(b'{"id":"torn-1","event":"PURCHASE_APP')

    restarted = receivers(None, landing=landing)
    restarted.stop()
    assert open_files(landing) == []
    landed = closed_lines(landing, "hotmart", "hotmart_webhooks")
    assert set(acked) <= set(landed), "every acknowledged body survived the kill"
    assert len(landed) == len(set(landed)), "and none landed twice"
    torn = list((landing / "hotmart" / ".torn").glob("*.torn"))
    assert [p.read_bytes() for p in torn] == [b'{"id":"torn-1","event":"PURCHASE_APP']
    note = json.loads(torn[0].with_name(torn[0].name[:-5] + ".reason.json").read_text())
    assert "never acknowledged" in note["reason"]
    assert "torn last line" in restarted.log.read_text()


def test_a_received_webhook_reaches_the_marts_through_the_sensor_and_the_job(
        receivers, database_url, tmp_path):
    import dagster as dg

    from orchestration.defs.sensors.new_landing_files import new_landing_files
    from orchestration.resources import LandingResource, WarehouseResource

    receiver = receivers()
    landing = receiver.landing
    assert receiver.post("/webhooks/hotmart", example(HOTMART_PURCHASE),
                         {"X-HOTMART-HOTTOK": HOTTOK})[0] == 200
    form = {**json.loads(example(EDUZZ_INVOICE)), "trans_cod": "77002",
            "origin_secret": SECRETS["TALLYHOUSE_EDUZZ_KEY"]}
    assert receiver.post("/webhooks/eduzz", urlencode(form).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})[0] == 200
    resources = {"warehouse": WarehouseResource(database_url=database_url),
                 "landing": LandingResource(path=str(landing))}

    def tick():
        with dg.DagsterInstance.ephemeral() as instance, \
                dg.build_sensor_context(instance=instance, resources=resources) as context:
            return new_landing_files(context)

    assert open_files(landing), "bodies wait in open files until rotation"
    assert isinstance(tick(), dg.SkipReason), "open files are invisible to the sensor"
    receiver.stop()
    request = tick()
    assert isinstance(request, dg.RunRequest) and request.tags["new_files"] == "2"

    result = execute_job(landing, database_url)
    assert result.success
    rows = query(database_url, "select platform, platform_transaction_id from "
                               "marts.fct_transactions order by platform")
    assert rows == [("eduzz", "77002"), ("hotmart", "HP02316330308193")]
    assert isinstance(tick(), dg.SkipReason), "loaded files start no second run"


# -- secrets however escaped, slow and vanishing clients, Eduzz JSON under a form type -----

# An Eduzz legacy key shaped like the real origin_secret (base64: '/', '+', '=')
SLASHED_KEY = "Zk9/b+Qx=eduzz/test-51c"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def spellings(secret: str) -> set[bytes]:
    """The secret as it may be written by a JSON encoder or a form, none of which may land."""
    unicode = "".join(f"\\u{ord(c):04x}" for c in secret)
    quoted = quote(secret, safe="")
    forms = {secret, secret.replace("/", "\\/"), unicode, unicode.upper().replace("\\U", "\\u"),
             quoted, re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quoted),
             quote_plus(secret), quote(quoted, safe="")}
    return {form.encode() for form in forms}


def php_json(value: dict) -> bytes:
    """json_encode's default output: '/' written as '\\/'."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/").encode()


def stored_files(landing: Path) -> list[Path]:
    return [path for path in landing.rglob("*") if path.is_file()]


def test_an_escaped_eduzz_key_is_never_stored_or_logged(receivers):
    receiver = receivers({**SECRETS, "TALLYHOUSE_EDUZZ_KEY": SLASHED_KEY})
    invoice = json.loads(example(EDUZZ_INVOICE))
    invoice.pop("origin_secret", None)
    invoice.pop("api_key", None)
    escaped = SLASHED_KEY.replace("/", "\\/").encode()
    quoted = quote(SLASHED_KEY, safe="")
    sent: dict[str, bytes] = {}

    def deliver(trans: str, body: bytes, headers: dict) -> dict:
        status, answer = receiver.post("/webhooks/eduzz", body, headers)
        assert status == 200, (trans, status, answer)
        sent[trans] = body
        return json.loads(answer)

    # the hostile tester's postback: PHP's json_encode, so the key arrives as Zk9\/b+Qx=…
    php = php_json({**invoice, "trans_cod": "78001", "origin_secret": SLASHED_KEY})
    assert escaped in php
    deliver("78001", php, {"Content-Type": "application/json"})
    # every character a \u escape (mixed case), and the key inside other values too: in a
    # URL's query string (percent-encoded) and in a nested object (\/-escaped)
    spelled = "".join(f"\\u{ord(c):04X}" if i % 2 else f"\\u{ord(c):04x}"
                      for i, c in enumerate(SLASHED_KEY))
    nested = php_json({**invoice, "trans_cod": "78002", "api_key": "KEYHERE",
                       "notification_url": f"https://seller.example/postback?key={quoted}",
                       "meta": {"note": f"key={SLASHED_KEY};"}})
    deliver("78002", nested.replace(b"KEYHERE", spelled.encode()),
            {"Content-Type": "application/json"})
    # the form as Eduzz posts it (%2F %2B %3D), the key also double-encoded in a URL
    form = {**invoice, "trans_cod": "78003", "origin_secret": SLASHED_KEY,
            "notification_url": f"https://seller.example/postback?key={quoted}"}
    deliver("78003", urlencode(form).encode(), FORM)
    # lower-case percent escapes
    lower = re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quoted)
    deliver("78004", f"trans_cod=78004&cus_name=Teste&api_key={lower}".encode(), FORM)
    # an unreadable form (a field that is not name=value) signed with x-signature and
    # carrying the key: kept as unreadable, the key redacted there too
    torn = f"trans_cod=78005&origin_secret={quoted}&{SLASHED_KEY}&half".encode()
    signature = hmac.new(SLASHED_KEY.encode(), torn, hashlib.sha256).hexdigest()
    kept = deliver("78005", torn, {**FORM, "x-signature": signature})
    assert kept["stored"] and "unreadable" in kept
    # a wrong key, escaped the same way, authenticates nothing
    wrong = php_json({**invoice, "trans_cod": "78006", "origin_secret": SLASHED_KEY + "x"})
    assert receiver.post("/webhooks/eduzz", wrong, {"Content-Type": "application/json"})[0] \
        == 401
    receiver.stop()

    landing = receiver.landing
    files = stored_files(landing)
    assert files
    forbidden = spellings(SLASHED_KEY)
    for path in files:
        data = path.read_bytes()
        for form_ in forbidden:
            assert form_ not in data, f"the key ({len(form_)} bytes) is stored in {path.name}"
    log = receiver.log.read_bytes()
    for form_ in forbidden:
        assert form_ not in log, "the key is in the log"

    lines = {json.loads(line)["trans_cod"]: line
             for line in closed_lines(landing, "eduzz", "eduzz_webhooks")}
    assert sorted(lines) == ["78001", "78002", "78003", "78004"]
    # the PHP body lands as sent, byte for byte, but for the key's own string
    assert lines["78001"] == php.replace(escaped, b"[redacted]")
    assert b"http:\\/\\/urldepostback.com" in lines["78001"], "other escapes stay as sent"
    second = json.loads(lines["78002"])
    assert second["api_key"] == "[redacted]"
    assert second["notification_url"] == "https://seller.example/postback?key=[redacted]"
    assert second["meta"] == {"note": "key=[redacted];"}
    third = json.loads(lines["78003"])
    assert third["origin_secret"] == "[redacted]"
    assert third["notification_url"] == "https://seller.example/postback?key=[redacted]"
    assert json.loads(lines["78004"])["api_key"] == "[redacted]"
    [unreadable] = (landing / "eduzz").glob("eduzz_webhooks-unreadable-*.jsonl")
    assert unreadable.read_bytes() == b"trans_cod=78005&origin_secret=[redacted]&[redacted]&half"


def test_eduzz_json_sent_as_a_form_lands_as_json(receivers):
    receiver = receivers()
    key = SECRETS["TALLYHOUSE_EDUZZ_KEY"]
    invoice = json.loads(example(EDUZZ_INVOICE))
    # a legacy postback as JSON under the form's content type, authenticated by its key field
    legacy = compact(json.dumps({**invoice, "trans_cod": "79001", "api_key": key}).encode())
    status, answer = receiver.post("/webhooks/eduzz", legacy,
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, json.loads(answer)) == (200, {"stored": True})
    # a signed webhook under the same content type (with a charset), pretty-printed
    signed = json.dumps({**invoice, "trans_cod": "79002"}, indent=2).encode()
    status, answer = receiver.post(
        "/webhooks/eduzz", signed,
        {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
         "x-signature": hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()})
    assert (status, json.loads(answer)) == (200, {"stored": True})
    assert receiver.health()["platforms"]["eduzz"] == {"configured": True, "accepted": 2}
    receiver.stop()

    lines = closed_lines(receiver.landing, "eduzz", "eduzz_webhooks")
    assert lines[0] == legacy.replace(f'"{key}"'.encode(), b'"[redacted]"')
    assert json.loads(lines[1]) == {**invoice, "trans_cod": "79002"}
    assert not list((receiver.landing / "eduzz").glob("*-unreadable-*")), "nothing unreadable"


def _closed_after(sock: socket.socket, limit: float = 15.0) -> tuple[float, bytes]:
    """Seconds until the receiver closed the connection, and what it sent before closing."""
    started, received = time.monotonic(), b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"still open after {limit}s")
    finally:
        sock.close()
    return time.monotonic() - started, received


def _head(receiver: Receiver, length: int) -> bytes:
    return (f"POST /webhooks/hotmart HTTP/1.1\r\nHost: 127.0.0.1:{receiver.port}\r\n"
            f"X-HOTMART-HOTTOK: {HOTTOK}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def _log_lines(receiver: Receiver, marker: str, expected: int) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in receiver.log.read_text().splitlines() if marker in line]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


TIMEOUT_408 = b"HTTP/1.1 408 "


def test_slow_clients_are_cut_off_within_the_timeouts(receivers):
    receiver = receivers(None, "--header-timeout", "1", "--body-timeout", "1.5")
    connect = lambda: socket.create_connection(("127.0.0.1", receiver.port))  # noqa: E731
    body = hotmart_body("slow-1")
    slack = 1.5  # a loaded 2-core machine

    # connected, sends nothing: closed (no answer: it asked nothing)
    idle = connect()
    took, answer = _closed_after(idle)
    assert 0.9 <= took <= 1 + slack and answer == b""
    # headers stalled half-way: 408, closed
    stalled = connect()
    stalled.sendall(_head(receiver, len(body))[:40])
    took, answer = _closed_after(stalled)
    assert 0.9 <= took <= 1 + slack and answer.startswith(TIMEOUT_408)
    # after a first request on a keep-alive connection, the next headers trickled a byte at
    # a time (each byte resets uvicorn's keep-alive timer): cut off 1 s after the first byte
    trickle = connect()
    first_body = hotmart_body("slow-0")
    trickle.sendall(_head(receiver, len(first_body)) + first_body)
    first = b""
    while not first.endswith(b'{"stored":true}'):
        first += trickle.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    trickle.settimeout(0.2)
    closed_at, received = None, b""
    for byte in _head(receiver, len(body)):
        try:
            trickle.send(bytes([byte]))
            received += trickle.recv(4096)
            closed_at = time.monotonic()
            break  # the receiver answered (408) or closed
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic()
            break
    trickle.close()
    assert closed_at is not None, "the trickled headers were never cut off"
    assert 0.9 <= closed_at - started <= 1 + slack and received.startswith(TIMEOUT_408)
    # headers complete, body stalled: 408 once the body timeout has passed
    stalled_body = connect()
    stalled_body.sendall(_head(receiver, len(body)) + body[:100])
    took, answer = _closed_after(stalled_body)
    assert 1.4 <= took <= 1.5 + slack and answer.startswith(TIMEOUT_408)
    # slow but within both timeouts: stored
    slow = connect()
    slow.sendall(_head(receiver, len(body))[:30])
    time.sleep(0.5)
    slow.sendall(_head(receiver, len(body))[30:] + body[:100])
    time.sleep(0.7)
    slow.sendall(body[100:])
    slow.settimeout(10)
    assert slow.recv(4096).startswith(b"HTTP/1.1 200 ")
    slow.close()

    # many stalled connections at once (the tester held 800 open): all cut off in time,
    # and the receiver keeps answering meanwhile
    crowd = []
    for n in range(150):
        sock = connect()
        sock.sendall([b"", _head(receiver, 500)[:25], _head(receiver, 500) + b"{"][n % 3])
        crowd.append(sock)
    opened = time.monotonic()
    assert receiver.post("/webhooks/hotmart", hotmart_body("slow-2"),
                         {"X-HOTMART-HOTTOK": HOTTOK})[0] == 200
    for sock in crowd:
        _closed_after(sock, limit=max(0.1, opened + 1.5 + 2 * slack - time.monotonic()))
    assert time.monotonic() - opened <= 1.5 + 2 * slack

    counts = receiver.health()["connections"]
    assert counts == {"cut_off_idle": 51, "cut_off_headers": 52, "cut_off_body": 51}
    receiver.stop()
    assert sorted(json.loads(line)["id"] for line in
                  closed_lines(receiver.landing, "hotmart", "hotmart_webhooks")) == [
        "slow-0", "slow-1", "slow-2"]
    log = receiver.log.read_text()
    assert len(_log_lines(receiver, "receive: cut off ", 154)) == 154, "one line per cut-off"
    assert [line for line in log.splitlines() if line[:2] == "20" and " cut off " not in line
            and " closed " not in line] == [], "and no other line"
    assert "Traceback" not in log and HOTTOK not in log


def test_a_dropped_connection_logs_one_line_without_a_traceback(receivers):
    receiver = receivers()
    body = hotmart_body("dropped-1")
    # gone in the middle of the body
    sock = socket.create_connection(("127.0.0.1", receiver.port))
    sock.sendall(_head(receiver, len(body)) + body[: len(body) // 2])
    time.sleep(0.3)
    sock.close()
    assert len(_log_lines(receiver, "dropped the connection", 1)) == 1
    # reset (RST) in the middle of the headers
    sock = socket.create_connection(("127.0.0.1", receiver.port))
    sock.sendall(_head(receiver, len(body))[:50])
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    # opened and closed without a request: not a dropped request, no line
    socket.create_connection(("127.0.0.1", receiver.port)).close()
    assert receiver.post("/webhooks/hotmart", hotmart_body("dropped-2"),
                         {"X-HOTMART-HOTTOK": HOTTOK})[0] == 200
    _log_lines(receiver, "dropped the connection", 2)
    time.sleep(0.5)  # time for a line too many
    dropped = [line for line in receiver.log.read_text().splitlines()
               if "dropped the connection" in line]
    assert len(dropped) == 2, dropped
    assert "while sending its body" in dropped[0] and "/webhooks/hotmart" in dropped[0]
    assert "while sending its headers" in dropped[1]
    assert receiver.health()["platforms"]["hotmart"] == {"configured": True, "dropped": 1,
                                                         "accepted": 1}
    receiver.stop()

    log = receiver.log.read_text()
    assert "Traceback" not in log and "Exception" not in log and "ERROR" not in log
    assert HOTTOK not in log
    landed = closed_lines(receiver.landing, "hotmart", "hotmart_webhooks")
    assert [json.loads(line)["id"] for line in landed] == ["dropped-2"], "nothing half-sent"
