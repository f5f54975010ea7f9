"""The key behind the marts' pseudonymous person keys (``customer_key``, ``account_manager_key``).

A person key is the HMAC-SHA256 of the lower-case e-mail under a secret that never enters the
database or any file dbt writes: ``TALLYHOUSE_PSEUDONYM_KEY``, else a random key generated on
first use into ``.tallyhouse/pseudonym.key`` (mode 600). dbt sessions receive the key's HMAC
pads as session settings (``PGOPTIONS``), so compiled SQL only says
``current_setting('tallyhouse.key_ipad')``; without the key nobody can recompute a person key
from a list of e-mails.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from tallyhouse.config import state_dir

KEY_ENV = "TALLYHOUSE_PSEUDONYM_KEY"
KEY_FILE = "pseudonym.key"
BLOCK = 64  # SHA-256 block size
ERASED_DOMAIN = "erased.invalid"  # an erased e-mail becomes <person key>@erased.invalid


def key() -> bytes:
    given = os.environ.get(KEY_ENV, "")
    if given:
        return given.encode()
    path = state_dir() / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


def _pads(secret: bytes) -> tuple[str, str]:
    if len(secret) > BLOCK:
        secret = hashlib.sha256(secret).digest()
    secret = secret.ljust(BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in secret)
    outer = bytes(b ^ 0x5C for b in secret)
    return inner.hex(), outer.hex()


def session_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment entries that give a libpq session (dbt's) the key's HMAC pads."""
    inner, outer = _pads(key())
    current = (base if base is not None else os.environ).get("PGOPTIONS", "")
    kept = " ".join(part for part in current.split(" -c ") if "tallyhouse.key_" not in part)
    options = f"-c tallyhouse.key_ipad={inner} -c tallyhouse.key_opad={outer}"
    return {"PGOPTIONS": f"{kept} {options}".strip()}


def spark_session_env() -> dict[str, str]:
    """The same pads for dbt's Spark sessions: profiles.yml passes them as the session's
    settings (``${tallyhouse.key_ipad}`` in the SQL, never the values)."""
    inner, outer = _pads(key())
    return {"TALLYHOUSE_KEY_IPAD": inner, "TALLYHOUSE_KEY_OPAD": outer}


def keyed_hash(text: str) -> str:
    """What the dbt macro ``keyed_hash`` computes (32 hex characters)."""
    return hmac.new(key(), text.encode(), hashlib.sha256).hexdigest()[:32]


def person_key(email: str, erasures: int = 0) -> str:
    normalized = email.strip().lower()
    return keyed_hash(f"{normalized}#{erasures}" if erasures else normalized)
