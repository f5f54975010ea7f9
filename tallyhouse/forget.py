"""``tallyhouse forget``: honour a data subject's erasure request across every schema.

1. Find every raw record about the person: JSON payloads and CSV rows holding one of the
   given e-mails or documents (CPF / CNPJ, with or without punctuation). The person objects
   in them (the dict holding the identifier: Hotmart ``buyer``, Kiwify ``Customer``, an Eduzz
   postback's ``cus_*`` fields, ...) may name further e-mails of the same person: those are
   erased too.
2. Rewrite those records in place: in each person object every identifying value (name,
   e-mail, document, phone, address, IP, ...) is replaced, the e-mail by
   ``<person key>@erased.invalid`` so the person keeps the pseudonymous key the marts know,
   the rest by ``[erased]``. Money, statuses, ids and dates are untouched, so the records
   keep their shape and the books their totals. The same in ``raw._quarantine``, in the break
   history and in the report files.
3. Record the person's key in ``restricted.erased_subjects`` (a delivery about the same
   e-mail arriving later is a new person) and one audit row in ``restricted.erasures``: when,
   which kinds of identifier, which records of which tables — never the identifiers.
4. Rebuild every model from raw (``dbt build --full-refresh``) under the run lock, so staging,
   intermediate, marts and ``restricted`` hold no trace either; a later full refresh finds
   only the rewritten records.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tallyhouse import db, pseudonym
from tallyhouse.config import reports_dir
from tallyhouse.sources import FEEDS

ERASED = "[erased]"
# keys of a person object whose values identify the person (compared case-insensitively)
PERSON_KEYS = {
    "email", "name", "full_name", "first_name", "last_name", "firstname", "lastname",
    "document", "document_type", "cpf", "cnpj", "identity", "identitytype", "phone", "mobile",
    "checkout_phone", "checkout_phone_code", "homephone", "corporatename", "tradename",
    "ip", "instagram", "street", "number", "complement", "neighborhood", "district", "city",
    "state", "zipcode", "zip_code", "postalcode", "address", "birthdate", "relationname",
}
PERSON_PREFIXES = ("cus_", "student_", "customer[", "account_manager_")
KEPT_SUFFIXES = ("_cod", "[id]", "_id")  # the platform's own ids of the person stay
ADDRESS_KEYS = {"address", "deliveryaddress", "billingaddress", "shippingaddress"}


@dataclass
class Subject:
    emails: set[str] = field(default_factory=set)
    documents: set[str] = field(default_factory=set)

    def needles(self) -> list[str]:
        return sorted(self.emails | self.documents)


def document_variants(document: str) -> set[str]:
    digits = re.sub(r"\D", "", document)
    found = {document.strip()}
    if digits:
        found.add(digits)
        if len(digits) == 11:  # CPF 000.000.000-00
            found.add(f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}")
        if len(digits) == 14:  # CNPJ 00.000.000/0000-00
            found.add(f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}")
    return {d for d in found if d}


def _is_person_key(key: str) -> bool:
    lowered = key.lower()
    if lowered.endswith(KEPT_SUFFIXES):
        return False
    return lowered in PERSON_KEYS or lowered.startswith(PERSON_PREFIXES)


class Eraser:
    """Rewrites records about one subject; learns the person's further e-mails on the way."""

    def __init__(self, subject: Subject, key_of: Callable[[str], str]):
        self.subject = subject
        self.key_of = key_of
        self.seen_values: set[str] = set()  # names, phones... met in person objects

    def _hits(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        text = value.strip().lower()
        return text in self.subject.emails or value.strip() in self.subject.documents

    def _erase_value(self, key: str, value: object) -> object:
        if isinstance(value, dict):
            return {k: self._erase_value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._erase_value(key, v) for v in value]
        if not isinstance(value, str) or not value.strip():
            return value
        if "@" in value and ("email" in key.lower() or key.lower() == "relationname"):
            email = value.strip().lower()
            if email.endswith("@" + pseudonym.ERASED_DOMAIN):
                return value
            self.subject.emails.add(email)
            return f"{self.key_of(email)}@{pseudonym.ERASED_DOMAIN}"
        self.seen_values.add(value)
        return ERASED

    def rewrite(self, value: object) -> object:
        if isinstance(value, list):
            return [self.rewrite(v) for v in value]
        if not isinstance(value, dict):
            return value
        person = any(self._hits(v) for v in value.values())
        out = {}
        for key, item in value.items():
            if person and _is_person_key(key):
                out[key] = self._erase_value(key, item)
            elif person and key.lower() in ADDRESS_KEYS:
                out[key] = self._erase_value(key, item)
            else:
                out[key] = self.rewrite(item)
        return out

    def scrub_text(self, text: str) -> str:
        """Free text (a quarantined line, a report): every known identifier replaced."""
        for needle in sorted(self.subject.needles() + sorted(self.seen_values), key=len,
                             reverse=True):
            if len(needle) >= 4:
                text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
        return text


@dataclass
class Erasure:
    erasure_id: int = 0
    records: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    quarantined: int = 0
    break_rows: int = 0
    report_files: int = 0
    person_keys: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.records.values())


def _like_any(column: str, needles: Iterable[str]) -> tuple[str, list[str]]:
    needles = list(needles)
    return f"{column} ilike any(%s)", [[f"%{n}%" for n in needles]]


def _current_erasures(cur, email: str) -> int:
    cur.execute("select erasures from restricted.erased_subjects where subject_key = %s",
                (pseudonym.person_key(email),))
    row = cur.fetchone()
    return int(row[0]) if row else 0


def erase(url: str, emails: Iterable[str] = (), documents: Iterable[str] = ()) -> Erasure:
    subject = Subject({e.strip().lower() for e in emails if e.strip()},
                      {v for d in documents for v in document_variants(d)})
    if not subject.needles():
        raise ValueError("give at least one --email or --document")
    result = Erasure()
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('restricted.erasures') is not null")
        if not cur.fetchone()[0]:
            raise LookupError("the warehouse has not been built yet (no restricted schema): "
                              "run `tallyhouse run` first")
        keys: dict[str, str] = {}

        def key_of(email: str) -> str:
            if email not in keys:
                keys[email] = pseudonym.person_key(email, _current_erasures(cur, email))
            return keys[email]

        eraser = Eraser(subject, key_of)
        # Two rounds: the first may learn further e-mails of the person from their records.
        for _round in range(2):
            before = set(subject.emails)
            for feed in FEEDS:
                if feed.fmt == "jsonl":
                    _erase_json_feed(cur, feed.table, eraser, result)
                else:
                    _erase_csv_feed(cur, feed.table, feed.columns, eraser, result)
            if subject.emails == before:
                break
        condition, params = _like_any("raw_text", subject.needles())
        cur.execute(f"select quarantine_id, raw_text from raw._quarantine where {condition}",
                    params)
        for quarantine_id, text in cur.fetchall():
            cur.execute("update raw._quarantine set raw_text = %s where quarantine_id = %s",
                        (eraser.scrub_text(text), quarantine_id))
            result.quarantined += 1
        cur.execute("select to_regclass('marts.rpt_reconciliation_breaks') is not null")
        if cur.fetchone()[0]:
            condition, params = _like_any("coalesce(entity_id, '') || ' ' || "
                                          "coalesce(detail, '')", subject.needles())
            cur.execute(f"select ctid, entity_id, detail from marts.rpt_reconciliation_breaks "
                        f"where {condition}", params)
            for ctid, entity_id, detail in cur.fetchall():
                cur.execute("update marts.rpt_reconciliation_breaks set entity_id = %s, "
                            "detail = %s where ctid = %s",
                            (entity_id and eraser.scrub_text(entity_id),
                             detail and eraser.scrub_text(detail), ctid))
                result.break_rows += 1
        result.person_keys = sorted(set(keys.values()))
        for email in sorted(subject.emails):
            cur.execute("insert into restricted.erased_subjects (subject_key, erasures) "
                        "values (%s, 1) on conflict (subject_key) do update "
                        "set erasures = restricted.erased_subjects.erasures + 1",
                        (pseudonym.person_key(email),))
        kinds = sorted({"email"} if emails else set()) + (["document"] if documents else [])
        cur.execute("insert into restricted.erasures (identifier_kinds, person_keys, "
                    "records_touched, record_hashes) values (%s, %s, %s, %s) "
                    "returning erasure_id",
                    (kinds, result.person_keys,
                     json.dumps({t: len(h) for t, h in sorted(result.records.items())}),
                     json.dumps(dict(sorted(result.records.items())))))
        result.erasure_id = cur.fetchone()[0]
    result.report_files = _scrub_reports(eraser)
    return result


def _erase_json_feed(cur, table: str, eraser: Eraser, result: Erasure) -> None:
    condition, params = _like_any("payload::text", eraser.subject.needles())
    cur.execute(f"select _record_hash, payload::text from {table} where {condition}", params)
    for record_hash, text in cur.fetchall():
        value = json.loads(text)
        rewritten = eraser.rewrite(value)
        if rewritten == value:
            continue  # the needle was only part of a longer value: not this person
        cur.execute(f"update {table} set payload = %s::json where _record_hash = %s",
                    (json.dumps(rewritten, ensure_ascii=False, separators=(",", ":")),
                     record_hash))
        result.records[table].append(bytes(record_hash).hex())


def _erase_csv_feed(cur, table: str, columns: tuple[str, ...], eraser: Eraser,
                    result: Erasure) -> None:
    row_text = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    condition, params = _like_any(f"({row_text})", eraser.subject.needles())
    cur.execute(f"select _record_hash, {', '.join(columns)} from {table} where {condition}",
                params)
    for record_hash, *values in cur.fetchall():
        row = dict(zip(columns, values, strict=True))
        rewritten = eraser.rewrite(row)
        if rewritten == row:
            continue
        changed = [c for c in columns if rewritten[c] != row[c]]
        assignments = ", ".join(f"{c} = %s" for c in changed)
        cur.execute(f"update {table} set {assignments} where _record_hash = %s",
                    [rewritten[c] for c in changed] + [record_hash])
        result.records[table].append(bytes(record_hash).hex())


def _scrub_reports(eraser: Eraser, root: Path | None = None) -> int:
    changed = 0
    folder = root or reports_dir()
    if not folder.is_dir():
        return 0
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".html", ".csv", ".json", ".txt") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        scrubbed = eraser.scrub_text(text)
        if scrubbed != text:
            path.write_text(scrubbed, encoding="utf-8", errors="surrogateescape")
            changed += 1
    return changed
