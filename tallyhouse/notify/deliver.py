"""Sending a message to each configured channel: e-mail with the standard library's
``smtplib``, chat webhooks with httpx; retries with tenacity.

* **Retried:** an HTTP 5xx, a timeout or a dropped connection (exponential backoff with
  jitter), a 429 after the wait its ``Retry-After`` / ``RateLimit-Reset`` asks for; for
  e-mail, a connection that fails or a 4xx (temporary) SMTP answer.
* **Not retried:** any other 4xx (a wrong or revoked URL, a payload the channel refuses),
  an SMTP 5xx (authentication refused, recipient unknown): retrying cannot help.
* **Never raised:** every channel's outcome is a :class:`Delivery` (delivered or not, the
  attempts, a reason); a delivery problem never fails the run that sends it.
* **No secret out:** reasons are made here from status codes and exception types, then
  redacted (webhook URLs and the SMTP password in any spelling); httpx's request log is
  filtered while a client is open.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
import tenacity

from tallyhouse.backfill.http import rate_limit_wait
from tallyhouse.backfill.secrets import install_filter, remove_filter
from tallyhouse.notify.message import Message
from tallyhouse.notify.settings import Settings

MAX_RATE_LIMIT_WAIT = 300.0  # a 429 asking for longer is reported, not slept through
BACKOFF_MULTIPLIER = 0.5
BACKOFF_MAX = 30.0


@dataclass
class Delivery:
    channel: str
    delivered: bool
    attempts: int
    detail: str = ""


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class _GiveUp(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _retrying(settings: Settings, sleep: Callable[[float], None]) -> tenacity.Retrying:
    backoff = tenacity.wait_random_exponential(multiplier=BACKOFF_MULTIPLIER, max=BACKOFF_MAX)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retry) and error.wait is not None:
            return error.wait
        return backoff(state)

    return tenacity.Retrying(retry=tenacity.retry_if_exception_type(_Retry),
                             stop=tenacity.stop_after_attempt(settings.attempts),
                             wait=wait, sleep=sleep, reraise=True)


def _attempt_loop(settings: Settings, channel: str, once: Callable[[], str],
                  sleep: Callable[[float], None]) -> Delivery:
    redactor = settings.redactor()
    attempts = 0

    def counted() -> str:
        nonlocal attempts
        attempts += 1
        return once()

    try:
        detail = _retrying(settings, sleep)(counted)
        return Delivery(channel, True, attempts, redactor.redact(detail))
    except _Retry as exc:
        return Delivery(channel, False, attempts,
                        redactor.redact(f"{exc.reason} (gave up after {attempts} attempts)"))
    except _GiveUp as exc:
        return Delivery(channel, False, attempts, redactor.redact(exc.reason))
    except Exception as exc:  # noqa: BLE001 - a channel's failure is recorded, never raised
        return Delivery(channel, False, attempts, redactor.redact(type(exc).__name__))


# ------------------------------------------------------------------------ chat webhooks

PAYLOADS = {"slack": Message.slack, "teams": Message.teams, "gchat": Message.gchat}


def post_webhook(channel: str, message: Message, settings: Settings,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> Delivery:
    url = settings.webhooks[channel]
    payload = PAYLOADS[channel](message)
    guard = install_filter(settings.redactor())
    client = httpx.Client(timeout=settings.timeout, transport=transport,
                          headers={"User-Agent": "tallyhouse-notify"})

    def once() -> str:
        try:
            response = client.post(url, json=payload,
                                   headers={"Content-Type": "application/json; charset=UTF-8"})
        except httpx.TimeoutException:
            raise _Retry("timed out") from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status == 429:
            wait = rate_limit_wait(response.headers)
            if wait is not None and wait > MAX_RATE_LIMIT_WAIT:
                raise _GiveUp(f"HTTP 429: the channel asks to wait {wait:.0f} s")
            raise _Retry("HTTP 429 (rate limited)", wait)
        if status >= 500:
            raise _Retry(f"HTTP {status}")
        body = response.text[:120].replace("\n", " ")
        raise _GiveUp(f"HTTP {status}" + (f": {body}" if body else ""))

    try:
        return _attempt_loop(settings, channel, once, sleep)
    finally:
        client.close()
        remove_filter(guard)


# ------------------------------------------------------------------------ e-mail

def email_message(message: Message, settings: Settings) -> EmailMessage:
    # one line per header (RFC 5322 allows 998): a folded subject reads " tallyhouse…"
    mail = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    mail["Subject"] = message.subject
    mail["From"] = settings.email_from
    mail["To"] = ", ".join(settings.email_to)
    mail["Date"] = formatdate(localtime=False)
    domain = (settings.email_from or "tallyhouse.local").rpartition("@")[2] or None
    mail["Message-ID"] = make_msgid("tallyhouse", domain=domain)
    mail.set_content(message.text())
    mail.add_alternative(message.html(), subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.mime.partition("/")
        mail.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                            filename=attachment.filename)
    return mail


def send_email(message: Message, settings: Settings,
               sleep: Callable[[float], None] = time.sleep,
               context: ssl.SSLContext | None = None) -> Delivery:
    smtp = settings.smtp
    assert smtp is not None
    mail = email_message(message, settings)
    tls = context or ssl.create_default_context()

    def once() -> str:
        try:
            if smtp.security == "ssl":
                server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=settings.timeout,
                                          context=tls)
            else:
                server = smtplib.SMTP(smtp.host, smtp.port, timeout=settings.timeout)
            try:
                server.ehlo()
                if smtp.security == "starttls":
                    server.starttls(context=tls)
                    server.ehlo()
                if smtp.user:
                    server.login(smtp.user, smtp.password or "")
                refused = server.send_message(mail)
            finally:
                try:
                    server.quit()
                except (smtplib.SMTPException, OSError):
                    server.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise _GiveUp(f"SMTP {exc.smtp_code}: the server refused the user or password") \
                from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise _GiveUp(f"every recipient refused ({len(exc.recipients)})") from None
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}"
            if 400 <= exc.smtp_code < 500:
                raise _Retry(reason) from None
            raise _GiveUp(reason) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:  # timeouts, refusals
            raise _Retry(f"connection failed ({type(exc).__name__})") from None
        except smtplib.SMTPException as exc:
            raise _GiveUp(type(exc).__name__) from None
        if refused:
            return f"accepted; refused for {len(refused)} recipient(s)"
        return f"accepted for {len(settings.email_to)} recipient(s)"

    return _attempt_loop(settings, "email", once, sleep)


def deliver(message: Message, settings: Settings, channels: list[str] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> list[Delivery]:
    """The message to every configured channel (or those named); one Delivery each."""
    out = []
    for channel in channels or settings.channels():
        if channel == "email":
            out.append(send_email(message, settings, sleep))
        else:
            out.append(post_webhook(channel, message, settings, sleep))
    return out
