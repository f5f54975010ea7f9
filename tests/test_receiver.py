"""The webhook receiver as a platform meets it: a real `tallyhouse receive` on loopback.

Each test starts the receiver as its own process (uvicorn, fsync on), posts with real HTTP
clients in bounded loops, stops it with SIGTERM or SIGKILL, and reads what is in landing/.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tallyhouse.receiver.bench import free_port, start_receiver

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
        with dg.build_sensor_context(resources=resources) as context:
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
