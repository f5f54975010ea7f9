"""``tallyhouse receive``: the ASGI service the platforms POST their webhooks to.

Routes: ``POST /webhooks/{hotmart,kiwify,eduzz,pix}`` and ``GET /healthz``. Per request:

1. a platform whose secret is not set answers 503 (and the start-up says so);
2. a body above the size limit answers 413 (from ``Content-Length`` before reading, or while
   reading a chunked body) and nothing is written;
3. authentication as the platform documents it (:mod:`tallyhouse.receiver.platforms`);
   failure answers 401, writes nothing, and is counted and logged without the body;
4. a body that is JSON (or an Eduzz form) is appended as one line to the feed's open file and
   answered 200 only after that line is fsynced (:mod:`tallyhouse.receiver.durable`);
5. a body that authenticates but cannot be read is still kept, byte for byte, in a file of
   its own in the landing folder (the loader quarantines it with file, line and reason), and
   answered as the platform's retries make sensible (see ``Platform.malformed_status``).

Wherever the platform's secret occurs in a body that is stored, however it was escaped, it is
replaced by ``[redacted]`` first (:mod:`tallyhouse.receiver.redaction`). A client that takes
longer than the header or body timeout to send its request is cut off, and one that goes away
mid-request gives one log line (:mod:`tallyhouse.receiver.protocol`).

No access log is written (Kiwify's signature travels in the query string); the receiver's own
log lines never carry a body, a header value or a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from tallyhouse.receiver.durable import FeedWriter, recover, write_file_atomically
from tallyhouse.receiver.platforms import PLATFORMS, Parsed, Platform
from tallyhouse.receiver.protocol import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from tallyhouse.receiver.redaction import redact_json, redact_text

log = logging.getLogger("tallyhouse.receive")

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB; the platforms' largest documented bodies are ~10 KiB
DEFAULT_ROTATE_BYTES = 64 << 20
DEFAULT_ROTATE_SECONDS = 10.0  # with the sensor's 10 s: README, "Freshness"


def rotate_seconds_from_env() -> float:
    """How long the receiver keeps a file open: TALLYHOUSE_RECEIVER_ROTATE_SECONDS, else
    ``DEFAULT_ROTATE_SECONDS`` (a value that is not a number of seconds in (0, 1 day) too)."""
    try:
        value = float(os.environ.get("TALLYHOUSE_RECEIVER_ROTATE_SECONDS",
                                     DEFAULT_ROTATE_SECONDS))
    except ValueError:
        return DEFAULT_ROTATE_SECONDS
    return value if 0 < value < 86_400 else DEFAULT_ROTATE_SECONDS


@dataclass
class Settings:
    landing: Path
    max_body_bytes: int = DEFAULT_MAX_BODY
    rotate_bytes: int = DEFAULT_ROTATE_BYTES
    rotate_seconds: float = DEFAULT_ROTATE_SECONDS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT  # seconds to send the request's headers
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # seconds to send its body, once headers are in
    secrets: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_env(cls, landing: Path, **kwargs) -> Settings:
        found = {}
        for platform in PLATFORMS.values():
            value = os.environ.get(platform.secret_env, "")
            if value:
                found[platform.name] = value.encode()
        return cls(landing=landing, secrets=found, **kwargs)


def _json(status: int, payload: dict) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


ACK = Response(b'{"stored":true}', status_code=200, media_type="application/json")


class TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge
        except ValueError:
            pass  # the server itself rejects a malformed Content-Length
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class Receiver:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.writers: dict[str, FeedWriter] = {}
        self.counts: dict[str, Counter] = {name: Counter() for name in PLATFORMS}
        self.connections: Counter = Counter()  # cut off / dropped, by the protocol
        # platform -> when it last had a body stored (ISO 8601, UTC): `tallyhouse status`
        self.last_accepted: dict[str, str] = {}
        self._ticker: asyncio.Task | None = None
        self.recovered = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        landing = self.settings.landing
        self.recovered = recover(landing, list(PLATFORMS))
        for item in self.recovered:
            if item.skipped_live:
                log.info("left %s alone: another receiver is writing it", item.open_file)
                continue
            log.warning("recovered %s: %d complete line(s) kept as %s%s", item.open_file,
                        item.kept_lines, item.closed_as or "(nothing to keep)",
                        f"; a torn last line of {item.torn_bytes} bytes set aside in "
                        f"{item.torn_file}" if item.torn_bytes else "")
        for platform in PLATFORMS.values():
            for feed in platform.feeds:
                self.writers[feed] = FeedWriter(landing / platform.name, feed,
                                                self.settings.rotate_bytes,
                                                self.settings.rotate_seconds)
        self._ticker = asyncio.get_running_loop().create_task(self._rotate_on_time())

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for writer in self.writers.values():
            closed = await writer.close()
            if closed:
                log.info("closed %s", closed)

    async def _rotate_on_time(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.settings.rotate_seconds / 2))
            for writer in self.writers.values():
                try:
                    closed = await writer.rotate_if_due()
                except OSError as exc:
                    log.error("rotating %s failed: %s", writer.feed, exc)
                    continue
                if closed:
                    log.info("closed %s", closed)

    # -- requests ----------------------------------------------------------------------

    def endpoint(self, platform: Platform):
        async def receive(request: Request) -> Response:
            return await self.webhook(platform, request)

        return receive

    async def webhook(self, platform: Platform, request: Request) -> Response:
        counts = self.counts[platform.name]
        secret = self.settings.secrets.get(platform.name)
        if secret is None:
            counts["not_configured"] += 1
            return _json(503, {"error": f"{platform.name} webhooks are not configured: set "
                                        f"{platform.secret_env} and restart the receiver"})
        try:
            body = await _read_body(request, self.settings.max_body_bytes)
        except ClientDisconnect:
            # gone (or cut off) mid-body: the connection's one log line says so; nothing stored
            counts["dropped"] += 1
            return _json(400, {"error": "the connection closed before the body was complete"})
        except TooLarge:
            counts["too_large"] += 1
            log.warning("%s: 413 body over %d bytes", platform.name,
                        self.settings.max_body_bytes)
            return _json(413, {"error": f"body over {self.settings.max_body_bytes} bytes"})
        if not body:
            counts["empty"] += 1
            return _json(400, {"error": "empty body"})
        content_type = request.headers.get("content-type", "")
        parsed = platform.parse(body, content_type, platform.feeds)
        problem = platform.verify(request.headers, request.query_params, body, parsed, secret)
        if problem is not None:
            counts["rejected"] += 1
            client = request.client.host if request.client else "?"
            log.warning("%s: 401 from %s: %s", platform.name, client, problem)
            return _json(401, {"error": "authentication failed"})
        if parsed.line is None:
            return await self._keep_unreadable(platform, parsed, body, secret)
        try:
            await self.writers[parsed.feed].append(redact_json(parsed.line, secret) + b"\n")
        except OSError as exc:
            counts["failed"] += 1
            log.error("%s: 503 could not store a body: %s", platform.name, exc)
            return _json(503, {"error": "not stored; deliver again"})
        counts["accepted"] += 1
        self.last_accepted[platform.name] = datetime.now(UTC).isoformat(timespec="seconds")
        return ACK

    async def _keep_unreadable(self, platform: Platform, parsed: Parsed, body: bytes,
                               secret: bytes) -> Response:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{parsed.feed}-unreadable-{stamp}-{secrets.token_hex(4)}.jsonl"
        folder = self.settings.landing / platform.name
        try:
            # redacting a body that is not JSON searches all of it: off the event loop
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: write_file_atomically(folder, name, redact_text(body, secret)))
        except OSError as exc:
            self.counts[platform.name]["failed"] += 1
            log.error("%s: 503 could not store an unreadable body: %s", platform.name, exc)
            return _json(503, {"error": "not stored; deliver again"})
        self.counts[platform.name]["unreadable"] += 1
        log.warning("%s: kept an unreadable body in %s/%s (%s)", platform.name,
                    platform.name, name, parsed.problem)
        return _json(platform.malformed_status,
                     {"stored": True, "unreadable": parsed.problem})

    async def healthz(self, request: Request) -> Response:
        return _json(200, {
            "status": "ok",
            "landing": str(self.settings.landing),
            "platforms": {
                name: {"configured": name in self.settings.secrets, **self.counts[name]}
                for name in PLATFORMS
            },
            "connections": dict(self.connections),
            "last_accepted": dict(self.last_accepted),
            "writers": {
                feed: {"lines": w.lines_written, "fsyncs": w.fsyncs,
                       "files_closed": w.files_closed,
                       "open_file": w.open_path.name if w.open_path else None}
                for feed, w in self.writers.items()
            },
        })


def create_app(settings: Settings) -> Starlette:
    receiver = Receiver(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await receiver.start()
        try:
            yield
        finally:
            await receiver.stop()

    routes = [Route(f"/webhooks/{platform.name}", receiver.endpoint(platform),
                    methods=["POST"]) for platform in PLATFORMS.values()]
    routes.append(Route("/healthz", receiver.healthz, methods=["GET"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.receiver = receiver
    return app
