"""Where the digest goes, read from the environment when a message is about to be sent
(never at import), and the secrets kept out of every output.

========================================  =================================================
``TALLYHOUSE_SMTP_URL``                   ``smtp://[user:password@]host:port?security=none|starttls|ssl``
``TALLYHOUSE_NOTIFY_EMAIL_FROM``          the sender address
``TALLYHOUSE_NOTIFY_EMAIL_TO``            recipients, comma-separated
``TALLYHOUSE_NOTIFY_SLACK_URL``           a Slack incoming-webhook URL
``TALLYHOUSE_NOTIFY_TEAMS_URL``           a Teams Workflows (Power Automate) webhook URL
``TALLYHOUSE_NOTIFY_GCHAT_URL``           a Google Chat space's incoming-webhook URL
``TALLYHOUSE_NOTIFY_MIN_AMOUNT``          breaks at stake below it are left out of chat
``TALLYHOUSE_NOTIFY_ALL_CLEAR``           ``off``: no message on a day the books agree
``TALLYHOUSE_REPORT_URL``                 where the reports folder is served, for links
========================================  =================================================

A webhook URL is a secret (whoever has it can post to the channel) and so is the SMTP
password: :meth:`Settings.redactor` hides both, in every spelling, from any text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote, urlsplit

from tallyhouse.backfill.secrets import Redactor

SMTP_URL_ENV = "TALLYHOUSE_SMTP_URL"
EMAIL_FROM_ENV = "TALLYHOUSE_NOTIFY_EMAIL_FROM"
EMAIL_TO_ENV = "TALLYHOUSE_NOTIFY_EMAIL_TO"
WEBHOOK_ENV = {"slack": "TALLYHOUSE_NOTIFY_SLACK_URL", "teams": "TALLYHOUSE_NOTIFY_TEAMS_URL",
               "gchat": "TALLYHOUSE_NOTIFY_GCHAT_URL"}
MIN_AMOUNT_ENV = "TALLYHOUSE_NOTIFY_MIN_AMOUNT"
ALL_CLEAR_ENV = "TALLYHOUSE_NOTIFY_ALL_CLEAR"
REPORT_URL_ENV = "TALLYHOUSE_REPORT_URL"
TIMEOUT_ENV = "TALLYHOUSE_NOTIFY_TIMEOUT"
ATTEMPTS_ENV = "TALLYHOUSE_NOTIFY_ATTEMPTS"
SECURITY = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
CHANNELS = ("email", "slack", "teams", "gchat")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable, never a secret."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never the password
        who = f"{self.user}@" if self.user else ""
        return f"Smtp({who}{self.host}:{self.port}, security={self.security})"


@dataclass(frozen=True)
class Settings:
    smtp: Smtp | None = None
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    webhooks: dict[str, str] = field(default_factory=dict, repr=False)
    min_amount: Decimal | None = None
    all_clear: bool = True
    report_url: str | None = None
    timeout: float = 20.0
    attempts: int = 5
    problems: tuple[str, ...] = ()  # settings that were given but cannot be used

    def channels(self) -> list[str]:
        """The configured channels, e-mail first."""
        found = ["email"] if self.smtp and self.email_from and self.email_to else []
        return found + [name for name in CHANNELS[1:] if self.webhooks.get(name)]

    def redactor(self) -> Redactor:
        secrets: list[str] = []
        if self.smtp and self.smtp.password:
            secrets.append(self.smtp.password)
        for url in self.webhooks.values():
            parts = urlsplit(url)
            # the whole URL, and its path and query alone (a log may show either)
            secrets += [url, parts.path, parts.query]
            secrets += [piece for piece in parts.path.split("/") if len(piece) >= 8]
            secrets += [v for values in parse_qs(parts.query).values() for v in values]
        return Redactor([s for s in secrets if s and len(s) >= 3])

    def __repr__(self) -> str:
        return (f"Settings(channels={self.channels()}, smtp={self.smtp!r}, "
                f"min_amount={self.min_amount}, all_clear={self.all_clear})")


def parse_smtp_url(text: str) -> Smtp:
    """``smtp://[user:password@]host:port?security=none|starttls|ssl`` (user and password
    percent-encoded when they hold ``@ : / %``). Errors never repeat the URL."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise SettingsError(f"{SMTP_URL_ENV} must start with smtp://")
    query = parse_qs(parts.query)
    security = (query.get("security") or ["ssl" if parts.scheme == "smtps" else "starttls"])[0]
    if security not in SECURITY:
        raise SettingsError(f"{SMTP_URL_ENV}: security must be one of {', '.join(SECURITY)}")
    try:
        port = parts.port
    except ValueError:
        raise SettingsError(f"{SMTP_URL_ENV}: the port is not a number") from None
    if not parts.hostname:
        raise SettingsError(f"{SMTP_URL_ENV}: no host")
    return Smtp(host=parts.hostname, port=port or DEFAULT_PORTS[security], security=security,
                user=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None)


def from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    smtp = None
    if env.get(SMTP_URL_ENV):
        try:
            smtp = parse_smtp_url(env[SMTP_URL_ENV])
        except SettingsError as exc:
            problems.append(str(exc))
    email_to = tuple(a.strip() for a in (env.get(EMAIL_TO_ENV) or "").split(",") if a.strip())
    email_from = (env.get(EMAIL_FROM_ENV) or "").strip() or None
    if smtp and not (email_from and email_to):
        problems.append(f"{SMTP_URL_ENV} is set but {EMAIL_FROM_ENV} / {EMAIL_TO_ENV} are not: "
                        "no e-mail is sent")
    webhooks = {}
    for name, var in WEBHOOK_ENV.items():
        url = (env.get(var) or "").strip()
        if url:
            if urlsplit(url).scheme not in ("http", "https"):
                problems.append(f"{var} is not an http(s) URL")
            else:
                webhooks[name] = url
    min_amount = None
    if (env.get(MIN_AMOUNT_ENV) or "").strip():
        try:
            min_amount = Decimal(env[MIN_AMOUNT_ENV].strip().replace(",", "."))
        except InvalidOperation:
            problems.append(f"{MIN_AMOUNT_ENV} is not a number")
    all_clear = (env.get(ALL_CLEAR_ENV) or "on").strip().lower() not in (
        "off", "0", "false", "no")
    try:
        timeout = float(env.get(TIMEOUT_ENV) or 20)
        attempts = max(1, int(env.get(ATTEMPTS_ENV) or 5))
    except ValueError:
        problems.append(f"{TIMEOUT_ENV} / {ATTEMPTS_ENV} must be numbers")
        timeout, attempts = 20.0, 5
    return Settings(smtp=smtp, email_from=email_from, email_to=email_to, webhooks=webhooks,
                    min_amount=min_amount, all_clear=all_clear,
                    report_url=(env.get(REPORT_URL_ENV) or "").strip().rstrip("/") or None,
                    timeout=timeout, attempts=attempts, problems=tuple(problems))
