"""A well-behaved HTTP client for the platforms' APIs: httpx for the calls, tenacity for
the waits.

* **Rate.** At most ``requests_per_second`` requests leave the client (every attempt
  counts); when an answer says the quota is spent (``RateLimit-Remaining: 0``), the next
  request waits for ``RateLimit-Reset`` first.
* **429.** Retried after the wait the answer asks for: ``Retry-After`` (seconds or an HTTP
  date), else ``RateLimit-Reset`` / ``X-RateLimit-Reset`` (seconds; an epoch instant when it
  is one). Without either header, the exponential backoff below.
* **5xx, timeouts, dropped connections.** Retried with exponential backoff and full jitter
  (tenacity's ``wait_random_exponential``), at most ``max_attempts`` attempts in all.
* **401.** The token is fetched again and the request sent once more; a second 401 is an
  :class:`AuthError`.
* **Secrets.** Every message this module makes goes through the :class:`Redactor`, and the
  httpx loggers are filtered while a client is open (:mod:`tallyhouse.backfill.secrets`).
  Errors are raised ``from None``: no chained exception carries a URL with a secret.

``sleep`` and ``clock`` are injectable, so a test can check the waits without waiting.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson
import tenacity

from tallyhouse.backfill.secrets import Redactor, install_filter, remove_filter

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 8
MAX_RATE_LIMIT_WAIT = 900.0  # a 429 asking for longer is reported, not slept through
BACKOFF_MULTIPLIER = 0.5
BACKOFF_MAX = 30.0


class BackfillError(Exception):
    """A backfill cannot go on; the message is already free of secrets."""


class ApiError(BackfillError):
    def __init__(self, message: str, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class AuthError(ApiError):
    """The platform refused the credentials (or a fresh token)."""


class _RateLimited(Exception):
    def __init__(self, wait: float | None, status: int = 429):
        super().__init__(f"HTTP {status}")
        self.wait = wait
        self.status = status


class _ServerError(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass
class Answer:
    status: int
    body: bytes
    headers: httpx.Headers
    what: str  # the call, for messages: method and path, never the query

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self):
        return orjson.loads(self.body)

    def error_fields(self) -> tuple[str | None, str]:
        """The platform's error code and description, if the body has them."""
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None, self.body[:200].decode("utf-8", "replace")
        if isinstance(data, dict):
            code = data.get("error") or data.get("code")
            text = data.get("error_description") or data.get("message") or data.get("detail")
            return (str(code) if code is not None else None), str(text or "")
        return None, ""


class Authenticator:
    """Gives the headers that authenticate a call; fetches a token when it needs one."""

    def headers(self, client: ApiClient) -> dict[str, str]:
        raise NotImplementedError

    def invalidate(self) -> None:
        """The token in hand was refused: the next call fetches a new one."""


class ApiClient:
    def __init__(self, redactor: Redactor, auth: Authenticator | None = None, *,
                 requests_per_second: float | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 timeout: float = DEFAULT_TIMEOUT,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 on_retry: Callable[[str, float], None] | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.redactor = redactor
        self.auth = auth
        self.interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self.sleep = sleep
        self.clock = clock
        self.max_attempts = max_attempts
        self.on_retry = on_retry
        self.requests = 0
        self.retries: dict[str, int] = {}
        self.waited = 0.0
        self._next_at = 0.0
        self._filter = install_filter(redactor)
        self._http = httpx.Client(timeout=timeout, transport=transport,
                                  headers={"Accept": "application/json",
                                           "User-Agent": "tallyhouse-backfill"})
        self._backoff = tenacity.wait_random_exponential(multiplier=BACKOFF_MULTIPLIER,
                                                         max=BACKOFF_MAX)

    def close(self) -> None:
        self._http.close()
        remove_filter(self._filter)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------------- requests

    def get(self, url: str, params: dict, what: str) -> Answer:
        """An authenticated GET; a 401 fetches a new token and tries once more."""
        answer = self.send("GET", url, params=params, what=what)
        if answer.status == 401 and self.auth is not None:
            self._count("401")
            if self.on_retry:
                self.on_retry("401: new token", 0.0)
            self.auth.invalidate()
            answer = self.send("GET", url, params=params, what=what)
            if answer.status == 401:
                code, text = answer.error_fields()
                raise AuthError(self.redactor.redact(
                    f"{what}: refused twice with 401 ({code or 'unauthorized'}: {text}), "
                    "even with a new token: check the credentials"), 401, code) from None
        return answer

    def send(self, method: str, url: str, *, params: dict | None = None,
             data: dict | None = None, headers: dict | None = None, what: str,
             authenticated: bool = True) -> Answer:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(
                (_RateLimited, _ServerError, httpx.TransportError)),
            wait=self._wait,
            stop=tenacity.stop_after_attempt(self.max_attempts),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, params, data, headers, what,
                            authenticated)
        except _RateLimited as exc:
            if exc.wait is not None and exc.wait > MAX_RATE_LIMIT_WAIT:
                message = (f"{what}: the platform asks to wait {exc.wait:.0f} s before the "
                           "next call (rate limit); run the backfill again later, it resumes")
            else:
                message = f"{what}: still rate limited after {self.max_attempts} attempts"
            raise ApiError(message, exc.status, "too_many_requests") from None
        except _ServerError as exc:
            raise ApiError(f"{what}: HTTP {exc.status} after {self.max_attempts} attempts",
                           exc.status) from None
        except httpx.TransportError as exc:
            detail = self.redactor.redact(f"{type(exc).__name__}: {exc}")
            raise ApiError(f"{what}: no answer after {self.max_attempts} attempts ({detail})"
                           ) from None

    def _attempt(self, method: str, url: str, params: dict | None, data: dict | None,
                 headers: dict | None, what: str, authenticated: bool) -> Answer:
        sent_headers = dict(headers or {})
        if authenticated and self.auth is not None:
            sent_headers.update(self.auth.headers(self))
        self._pace()
        self.requests += 1
        response = self._http.request(method, url, params=params, data=data,
                                      headers=sent_headers)
        body = response.read()
        self._note_quota(response.headers)
        if response.status_code == 429 or (
                response.status_code == 503 and "retry-after" in response.headers):
            raise _RateLimited(rate_limit_wait(response.headers), response.status_code)
        if response.status_code >= 500:
            raise _ServerError(response.status_code)
        return Answer(response.status_code, body, response.headers, what)

    # -------------------------------------------------------------------- pacing

    def _pace(self) -> None:
        now = self.clock()
        if self._next_at > now:
            self._sleep(self._next_at - now)
            now = self.clock()
        self._next_at = max(now, self._next_at) + self.interval

    def _note_quota(self, headers: httpx.Headers) -> None:
        """The quota is spent: the next request waits until the platform resets it."""
        remaining = headers.get("ratelimit-remaining") or headers.get(
            "x-ratelimit-remaining-minute")
        if remaining is not None and remaining.strip() == "0":
            wait = rate_limit_wait(headers)
            if wait:
                self._next_at = max(self._next_at, self.clock() + min(wait, MAX_RATE_LIMIT_WAIT))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RateLimited) and error.wait is not None:
            if error.wait > MAX_RATE_LIMIT_WAIT:
                raise error  # not slept through: reported by send()
            return error.wait
        return self._backoff(state)

    def _sleep(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, (_RateLimited, _ServerError)):
            reason = str(error.status)
        elif isinstance(error, httpx.TimeoutException):
            reason = "timeout"
        else:
            reason = "connection"
        self._count(reason)
        if self.on_retry:
            self.on_retry(reason, state.upcoming_sleep)

    def _count(self, reason: str) -> None:
        self.retries[reason] = self.retries.get(reason, 0) + 1


def rate_limit_wait(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds a 429 (or a spent quota) asks to wait, from its headers; None if it does not
    say. ``Retry-After`` wins; ``RateLimit-Reset`` is seconds (Hotmart), or an epoch instant
    when it is one (some gateways send ``X-RateLimit-Reset`` so)."""
    now = time.time() if now is None else now
    retry_after = headers.get("retry-after")
    if retry_after:
        value = retry_after.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now)
    for name in ("ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        if value:
            try:
                seconds = float(value.strip())
            except ValueError:
                continue
            if seconds > 1e9:  # an epoch instant, not a duration
                seconds -= now
            return max(0.0, seconds)
    return None
