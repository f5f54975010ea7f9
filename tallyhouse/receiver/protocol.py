"""The receiver's HTTP connections: deadlines for receiving a request, one line per drop.

uvicorn bounds only the idle time *between* two requests (``timeout_keep_alive``, and every
byte received resets it); nothing bounds how long a client may take to *send* one. A client
that opens a connection and sends nothing, or trickles its headers or its body a byte at a
time, holds a connection (a file descriptor, a parser, a task) for as long as it likes. ASGI
middleware cannot help with the headers: the app is called only once they are complete.

:class:`BoundedProtocol` is uvicorn's httptools protocol with two deadlines — absolute, so
trickling does not extend them:

* **headers**: from the moment the connection opens, or the first byte of a following
  request arrives, until the request's headers are complete (``--header-timeout``);
* **body**: from the end of the headers until the whole body has arrived
  (``--body-timeout``), whether or not the app has already answered.

A client that misses one is answered ``408`` (unless an answer is already under way, or it
never sent a byte) and its connection closed, with one warning line. A client that goes away
in the middle of a request — headers, body, or before its answer — gives one info line and
no traceback; the app answers the request's ``ClientDisconnect`` quietly. Neither line holds
a header, a query string or a body.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("tallyhouse.receive")

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0

_TIMED_OUT = b'{"error":"request not received in time"}'
REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                   b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                   % (len(_TIMED_OUT), _TIMED_OUT))

# what the client is doing, as this connection sees it
IDLE = "idle"  # connected, nothing sent yet
HEADERS = "headers"  # sending a request's headers
BODY = "body"  # sending a request's body
# None: nothing being received (the request is complete, or answered and the line is idle)


class BoundedProtocol(HttpToolsProtocol):
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    counts: Counter = Counter()  # per server: see bounded_protocol()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stage: str | None = IDLE
        self._deadline: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._ended = False  # the server closes it (cut off, shut down, idle): no drop line

    # -- deadlines -----------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _who(self) -> str:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if self._stage == BODY and self.scope:
            return f"{client} ({self.scope.get('method', '?')} {self.scope.get('path', '?')})"
        return client

    def _expired(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        stage = self._stage or HEADERS
        seconds = self.body_timeout if stage == BODY else self.header_timeout
        what = {IDLE: "sent nothing", HEADERS: "did not complete its headers",
                BODY: f"did not complete its body ({self._body_bytes:,} bytes received)"}
        log.warning("cut off %s: %s within %gs", self._who(), what[stage], seconds)
        self.counts[f"cut_off_{stage}"] += 1
        self._ended = True
        cycle = self.cycle
        if stage == BODY:  # the cycle is this request's: answered already (413, 503)?
            answered = cycle is not None and cycle.response_started
        else:  # any cycle is an earlier request's, maybe still being answered
            answered = stage == IDLE or (cycle is not None and not cycle.response_complete)
        if not answered:
            self.transport.write(REQUEST_TIMEOUT)
        if cycle is not None and not cycle.response_complete:
            # the app's next receive() is a disconnect and anything it sends is dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    # -- connection and parser events ------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._stage is None:
            # the first byte of a following request (uvicorn has just stopped its keep-alive
            # timer): its headers are due within the header timeout from now
            self._stage = HEADERS
            self._arm(self.header_timeout)
        elif self._stage == IDLE:
            self._stage = HEADERS  # the deadline armed at connect keeps running
        super().data_received(data)
        if self.transport.is_closing() and not self._ended:
            self._ended = True  # uvicorn refused the request (it logs why) and closes

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._stage is None or self._deadline is None:
            self._arm(self.header_timeout)  # a request right behind another in one read
        self._stage = HEADERS
        self._body_bytes = 0

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._stage = BODY
        self._arm(self.body_timeout)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stage = None
        self._disarm()

    def timeout_keep_alive_handler(self) -> None:
        self._ended = True
        super().timeout_keep_alive_handler()

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._ended = True  # uvicorn closes it now; one still answering is let finish
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not cycle.keep_alive:
            self._ended = True  # answered, then closed by uvicorn (Connection: close, HTTP/1.0)
        if not self._ended:
            if self._stage in (HEADERS, BODY):
                received = f" after {self._body_bytes:,} bytes" if self._stage == BODY else ""
                log.info("%s dropped the connection while sending its %s%s", self._who(),
                         self._stage, received)
                self.counts[f"dropped_{self._stage}"] += 1
            elif cycle is not None and not cycle.response_complete:
                path = self.scope.get("path", "?") if self.scope else "?"
                log.info("%s dropped the connection before the answer to %s", self._who(), path)
                self.counts["dropped_before_answer"] += 1
        self._ended = True
        super().connection_lost(exc)


def bounded_protocol(header_timeout: float, body_timeout: float,
                     counts: Counter) -> type[BoundedProtocol]:
    """The protocol class for one server: its timeouts, and where it counts cut-offs/drops."""
    return type("BoundedProtocol", (BoundedProtocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout,
                 "counts": counts})
