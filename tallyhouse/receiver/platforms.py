"""How each platform authenticates its webhooks, and how a body becomes a landing line.

Each platform documents its own way of proving a webhook is genuine:

* **Hotmart** (webhook 2.0.0): the account's *hottok* in the ``X-HOTMART-HOTTOK`` header.
* **Kiwify** (order webhooks): ``?signature=`` on the registered URL, the hex HMAC-SHA1 of
  the body keyed with the webhook token. Kiwify signs the JSON it serialized, which is the
  body it sends; when a proxy re-encoded the body the compact re-serialization is tried too.
* **Eduzz**: the webhook (v3, JSON) sends ``x-signature``, the hex HMAC-SHA256 of the body
  keyed with the integration key; the legacy postback (v2, form-encoded or JSON) carries the
  key itself in its ``origin_secret`` field (``api_key`` in older accounts).
* **PIX connector** (the seller's own Braspag/Cielo connector): ``Authorization: Bearer``.

Every comparison is constant-time (``hmac.compare_digest``). Wherever the secret occurs in
a body that is stored (Eduzz's legacy key field, or anywhere else), as sent or escaped (JSON
``\\/`` or ``\\u002f``, ``%2F``, …), it becomes ``[redacted]`` before the body is written
(:mod:`tallyhouse.receiver.redaction`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson


@dataclass(frozen=True)
class Parsed:
    """A body read for its platform: the line to land (or why it cannot be one)."""

    value: object | None  # the decoded JSON value, or the form as a dict
    line: bytes | None  # what is appended to the feed file (without the newline)
    feed: str
    problem: str | None = None


@dataclass(frozen=True)
class Platform:
    name: str  # URL segment /webhooks/<name> and landing source folder
    secret_env: str
    feeds: tuple[str, ...]
    # the answer to a body that authenticates but is not JSON: it is stored all the same.
    # 200 where a retry would only deliver the same bytes again (and a platform disables a
    # URL that keeps failing); 400 for the seller's own connector, which logs and alerts.
    malformed_status: int
    verify: Callable[[dict, dict, bytes, Parsed, bytes], str | None]
    parse: Callable[[bytes, str, tuple[str, ...]], Parsed]


def _same(given: str | bytes | None, expected: bytes) -> bool:
    if given is None:
        return False
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, expected)


def _json_line(body: bytes, feed_of: Callable[[object], str], default_feed: str) -> Parsed:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Parsed(None, None, default_feed, f"body is not valid JSON: {exc}")
    # In valid JSON a CR or LF can only be whitespace between tokens: as a space the line is
    # the same JSON value, and a pretty-printed body stays one line of the landing file.
    line = body
    if b"\n" in line or b"\r" in line:
        line = line.replace(b"\r", b" ").replace(b"\n", b" ")
    return Parsed(value, line, feed_of(value))


def _parse_json(body: bytes, content_type: str, feeds: tuple[str, ...]) -> Parsed:
    return _json_line(body, lambda _value: feeds[0], feeds[0])


def _parse_pix(body: bytes, content_type: str, feeds: tuple[str, ...]) -> Parsed:
    payments, orders = feeds

    def feed_of(value: object) -> str:
        # the connector pushes Braspag sale snapshots and the store's orders to one URL
        return orders if isinstance(value, dict) and "orderId" in value else payments

    return _json_line(body, feed_of, payments)


def _parse_eduzz(body: bytes, content_type: str, feeds: tuple[str, ...]) -> Parsed:
    # A body that is JSON is read as JSON whatever its Content-Type: the legacy postback also
    # comes as JSON, and a sender or a proxy may still label it with the form's type.
    as_json = _parse_json(body, content_type, feeds)
    if as_json.line is not None or "application/x-www-form-urlencoded" not in \
            content_type.lower():
        return as_json
    # The legacy postback is a flat form; landed as one JSON object of its fields, the shape
    # the Eduzz staging model reads (a repeated field keeps its last value, as PHP does).
    try:
        text = body.decode("utf-8")
        fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                                errors="strict"))
    except UnicodeDecodeError:
        return Parsed(None, None, feeds[0], "form body is not UTF-8")
    except ValueError:
        # parse_qsl's message quotes the field, which may hold the key: not repeated here
        return Parsed(None, None, feeds[0], "form body has a field that is not name=value")
    return Parsed(fields, orjson.dumps(fields), feeds[0])


# -- authentication: None when genuine, else the reason (never the secret or the body) ----

def _verify_hotmart(headers: dict, query: dict, body: bytes, parsed: Parsed,
                    secret: bytes) -> str | None:
    given = headers.get("x-hotmart-hottok")
    if given is None:
        return "no X-HOTMART-HOTTOK header"
    return None if _same(given, secret) else "X-HOTMART-HOTTOK does not match"


def _verify_kiwify(headers: dict, query: dict, body: bytes, parsed: Parsed,
                   secret: bytes) -> str | None:
    given = query.get("signature")
    if not given:
        return "no signature query parameter"
    given = given.lower().encode("ascii", "replace")
    if _same(given, hmac.new(secret, body, hashlib.sha1).hexdigest().encode()):
        return None
    if parsed.value is not None:
        compact = json.dumps(parsed.value, separators=(",", ":"), ensure_ascii=False)
        expected = hmac.new(secret, compact.encode(), hashlib.sha1).hexdigest().encode()
        if _same(given, expected):
            return None
    return "signature does not match the body"


EDUZZ_KEY_FIELDS = ("origin_secret", "api_key")


def _verify_eduzz(headers: dict, query: dict, body: bytes, parsed: Parsed,
                  secret: bytes) -> str | None:
    signature = headers.get("x-signature")
    if signature is not None:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        return None if _same(signature.lower(), expected) else "x-signature does not match"
    fields = parsed.value if isinstance(parsed.value, dict) else {}
    present = [name for name in EDUZZ_KEY_FIELDS if isinstance(fields.get(name), str)]
    if not present:
        return "no x-signature header and no origin_secret / api_key field"
    # evaluate every field present, so the time taken does not say which one matched
    matches = [_same(fields[name], secret) for name in present]
    return None if any(matches) else "origin_secret / api_key does not match"


def _verify_bearer(headers: dict, query: dict, body: bytes, parsed: Parsed,
                   secret: bytes) -> str | None:
    given = headers.get("authorization")
    if not given:
        return "no Authorization header"
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer":
        return "Authorization is not a Bearer token"
    return None if _same(token.strip(), secret) else "bearer token does not match"


PLATFORMS: dict[str, Platform] = {
    p.name: p for p in (
        Platform("hotmart", "TALLYHOUSE_HOTMART_HOTTOK", ("hotmart_webhooks",), 200,
                 _verify_hotmart, _parse_json),
        Platform("kiwify", "TALLYHOUSE_KIWIFY_TOKEN", ("kiwify_webhooks",), 200,
                 _verify_kiwify, _parse_json),
        Platform("eduzz", "TALLYHOUSE_EDUZZ_KEY", ("eduzz_webhooks",), 200,
                 _verify_eduzz, _parse_eduzz),
        Platform("pix", "TALLYHOUSE_PIX_TOKEN", ("pix_payments", "pix_orders"), 400,
                 _verify_bearer, _parse_pix),
    )
}
