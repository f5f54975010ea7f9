"""Credentials for the platforms' APIs, and keeping them out of every output.

A credential is read from the environment when a backfill starts (never at import) and
lives in this process only. Hotmart's token call carries the client secret in the URL's
query string, as its documentation asks, so anything that can show a URL — an exception,
httpx's own request log line, a progress line — goes through :meth:`Redactor.redact`: each
credential's value, in its plain and URL-encoded spellings, and any ``client_secret=`` /
``client_id=`` / ``access_token=`` query value become ``[redacted]``. httpx logs every
request at INFO on the ``httpx`` logger; :class:`RedactingFilter` sits on that logger (and
``httpcore``'s) while a client is open, so a record is redacted before any handler sees it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
_QUERY_SECRET = re.compile(
    r"((?:client_secret|client_id|access_token|refresh_token|token)=)[^&\s'\"<>]+",
    re.IGNORECASE)
_AUTH_HEADER = re.compile(r"((?:authorization|x-kiwify-account-id)['\"]?\s*[:=]\s*['\"]?)"
                          r"(?:bearer\s+|basic\s+)?[^\s'\",}]+", re.IGNORECASE)

# the environment variables of issue 25's interface; secret values are never shown
ENV = {
    "hotmart": {"client_id": "TALLYHOUSE_HOTMART_CLIENT_ID",
                "client_secret": "TALLYHOUSE_HOTMART_CLIENT_SECRET"},
    "kiwify": {"client_id": "TALLYHOUSE_KIWIFY_CLIENT_ID",
               "client_secret": "TALLYHOUSE_KIWIFY_CLIENT_SECRET",
               "account_id": "TALLYHOUSE_KIWIFY_ACCOUNT_ID"},
    "eduzz": {"api_token": "TALLYHOUSE_EDUZZ_API_TOKEN"},
}
URL_ENV = {
    "hotmart": {"api": ("TALLYHOUSE_HOTMART_API_URL", "https://developers.hotmart.com"),
                "auth": ("TALLYHOUSE_HOTMART_AUTH_URL", "https://api-sec-vlc.hotmart.com")},
    "kiwify": {"api": ("TALLYHOUSE_KIWIFY_API_URL", "https://public-api.kiwify.com")},
    "eduzz": {"api": ("TALLYHOUSE_EDUZZ_API_URL", "https://api.eduzz.com")},
}


@dataclass(frozen=True)
class Credentials:
    platform: str
    values: dict[str, str] = field(repr=False)
    urls: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def __repr__(self) -> str:  # never the values
        return f"Credentials({self.platform!r}, {sorted(self.values)})"


class MissingCredentials(Exception):
    """A platform's credentials are not (all) set: says which variables, not their values."""


def credentials_from_env(platform: str, environ: dict[str, str] | None = None) -> Credentials:
    environ = os.environ if environ is None else environ
    names = ENV[platform]
    missing = [var for var in names.values() if not environ.get(var)]
    if missing:
        raise MissingCredentials(f"{platform}: set {', '.join(missing)}")
    urls = {key: (environ.get(var) or default).rstrip("/")
            for key, (var, default) in URL_ENV[platform].items()}
    return Credentials(platform, {key: environ[var] for key, var in names.items()}, urls)


def configured(platform: str, environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return all(environ.get(var) for var in ENV[platform].values())


class Redactor:
    """Hides the given secret values (and credential-looking query values) in text."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        spellings: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= 3:
                spellings |= {secret, quote(secret, safe=""), quote_plus(secret, safe=""),
                              quote(secret, safe="/")}
        # longest first, so a spelling that contains another is replaced whole
        self._spellings = sorted(spellings, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 3:
            self._spellings = sorted({*self._spellings, secret, quote(secret, safe=""),
                                      quote_plus(secret, safe="")}, key=len, reverse=True)

    def redact(self, text: object) -> str:
        text = str(text)
        for spelling in self._spellings:
            if spelling in text:
                text = text.replace(spelling, REDACTED)
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
        return _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingFilter(logging.Filter):
    """On the ``httpx`` / ``httpcore`` loggers: every record redacted before it is handled."""

    def __init__(self, redactor: Redactor):
        super().__init__("tallyhouse-backfill-redaction")
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not format: keep only its template
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = ()
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        return True


HTTP_LOGGERS = ("httpx", "httpcore")


def install_filter(redactor: Redactor) -> RedactingFilter:
    guard = RedactingFilter(redactor)
    for name in HTTP_LOGGERS:
        logging.getLogger(name).addFilter(guard)
    return guard


def remove_filter(guard: RedactingFilter) -> None:
    for name in HTTP_LOGGERS:
        logging.getLogger(name).removeFilter(guard)
