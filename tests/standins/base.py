"""A loopback HTTP server a test can steer: real sockets on 127.0.0.1, one thread per
connection, every request recorded, faults injected on demand (an answer given instead of
the real one for the next N matching requests), an optional delay per request."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference_payloads"


def reference(platform: str, name: str) -> dict | list:
    return json.loads((REFERENCE / platform / "api" / name).read_text())


def compact(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class Fault:
    path_part: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error":"injected"}'
    times: int = 1
    after: int = 0  # let this many matching requests through first


class Answer(Exception):
    """Raised by a handler to answer at once (an error)."""

    def __init__(self, status: int, body: dict | bytes, headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.body = body if isinstance(body, bytes) else compact(body)
        self.headers = headers or {}


class StandIn:
    def __init__(self):
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.delay = 0.0
        self.stall: list[float] = []  # seconds to hold each of the next answers back
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # the platform's behaviour: (status, headers, body) for a request
    def handle(self, seen: Seen) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def extra_headers(self) -> dict[str, str]:
        return {}

    def inject(self, path_part: str, status: int, headers: dict | None = None,
               body: bytes = b'{"error":"injected"}', times: int = 1, after: int = 0) -> None:
        with self._lock:
            self.faults.append(Fault(path_part, status, headers or {}, body, times, after))

    def seen(self, path_part: str = "") -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if path_part in r.path]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                # headers and body leave in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add 40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                seen = Seen(self.command, parts.path, query,
                            {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, payload = stand_in._dispatch(seen)
                seen.status = status
                self.send_response(status)
                for name, value in {**stand_in.extra_headers(), **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _dispatch(self, seen: Seen) -> tuple[int, dict, bytes]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            stall = self.stall.pop(0) if self.stall else 0.0
        if stall:
            time.sleep(stall)
        with self._lock:
            self.requests.append(seen)
            for fault in self.faults:
                if fault.path_part in seen.path and fault.times > 0:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault.status, dict(fault.headers), fault.body
        try:
            return self.handle(seen)
        except Answer as answer:
            return answer.status, answer.headers, answer.body
