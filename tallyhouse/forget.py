"""``tallyhouse forget``: honour a data subject's erasure request across every schema.

1. Find every raw record about the person: JSON payloads and CSV rows holding one of the
   given e-mails or documents (CPF / CNPJ, with or without punctuation), also where a JSON
   escape spells them (``\u0040``) and where a person field arrives malformed (a bare
   string instead of an object). The person objects in them (the dict holding the
   identifier: Hotmart ``buyer``, Kiwify ``Customer``, an Eduzz postback's ``cus_*`` fields,
   ...) may name further e-mails of the same person: those are erased too.
2. Rewrite those records in place: in each person object every identifying value (name,
   e-mail, document, phone, address, IP, ...) is replaced, the e-mail by
   ``<person key>@erased.invalid`` so the person keeps the pseudonymous key the marts know,
   the rest by ``[erased]``; any other value holding an identifier loses it. Money,
   statuses, ids and dates are untouched, so the records keep their shape and the books
   their totals. The rewritten content's hash is kept beside the delivered one
   (``_rewritten_hash``), so the loaders' integrity check knows the rewrite from an edit.
   The same in ``raw._quarantine``, in the break history, in the report files and in the
   landing files (rewritten in place; the manifest learns their new sha256 so they are not
   "changed files").
3. Record the person's key in ``restricted.erased_subjects`` (a delivery about the same
   e-mail arriving later is a new person) and one audit row in ``restricted.erasures``: when,
   which kinds of identifier, which records of which tables — never the identifiers — and
   the file work still to do. All of the database part is one transaction, which also marks
   the build in progress: from its commit on, no run may take the marts as current until a
   build from the rewritten raw completed (``build_state``) — a forget killed at any point
   after it is finished by the next run.
4. Finish: rewritten files replace the originals, rewritten tables are vacuumed (``VACUUM
   FULL``: the old row versions leave the data files) and a checkpoint lets the WAL that
   holds them be recycled. Then the whole job runs as a full pass (every model rebuilt from
   raw, checks, a new report) under the run lock.

A second forget of a person already erased finds nothing and changes nothing (no audit row,
no second count).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tallyhouse import db, pseudonym
from tallyhouse.config import reports_dir
from tallyhouse.retention import ARCHIVE
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

    def contains(self, value: object) -> bool:
        """An identifier of the subject anywhere in a text (an e-mail inside a longer or
        malformed value, a document as a number of its own)."""
        if not isinstance(value, str) or not value:
            return False
        lowered = value.lower()
        if any(email in lowered for email in self.subject.emails):
            return True
        return any(re.search(rf"(?<!\d){re.escape(doc)}(?!\d)", value)
                   for doc in self.subject.documents)

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

    def _scrub_string(self, value: str) -> str:
        """A value outside a person object that holds an identifier (a malformed person
        field, a free-text note): the whole e-mail keeps its pseudonymous form, anything
        else loses the identifier."""
        stripped = value.strip().lower()
        if stripped in self.subject.emails:
            return f"{self.key_of(stripped)}@{pseudonym.ERASED_DOMAIN}"
        if value.strip() in self.subject.documents:
            return ERASED
        return self.scrub_text(value)

    def rewrite(self, value: object) -> object:
        if isinstance(value, str):
            return self._scrub_string(value) if self.contains(value) else value
        if isinstance(value, list):
            return [self.rewrite(v) for v in value]
        if not isinstance(value, dict):
            return value
        person = any(self._hits(v) for v in value.values())
        out = {}
        for key, item in value.items():
            if person and (_is_person_key(key) or key.lower() in ADDRESS_KEYS):
                out[key] = self._erase_value(key, item)
            else:
                out[key] = self.rewrite(item)
        return out

    def needles(self) -> list[str]:
        """What a text search looks for: the identifiers, and the e-mails as a JSON escape
        spells their @ (a record is read again, decoded, before anything is rewritten)."""
        found = set(self.subject.needles())
        found |= {e.replace("@", "\\u0040") for e in self.subject.emails}
        return sorted(found)

    def scrub_text(self, text: str) -> str:
        """Free text (a quarantined line, a report): every known identifier replaced."""
        for needle in sorted(self.needles() + sorted(self.seen_values), key=len,
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
    landing_files: int = 0
    report_files: int = 0
    log_files: int = 0
    person_keys: list[str] = field(default_factory=list)
    # files the receiver still writes that hold the person: not touched, said
    open_files: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.records.values())

    @property
    def found(self) -> bool:
        return bool(self.total or self.quarantined or self.break_rows or self.landing_files
                    or self.report_files or self.log_files)


AUDIT_COLUMNS = (
    # finished once a build from the rewritten raw completed (build_state.record)
    "alter table restricted.erasures add column if not exists completed_at timestamptz",
    # file work and vacuums still to do after the commit: [[temporary, final], ...], tables
    "alter table restricted.erasures add column if not exists pending jsonb",
)


def _like_any(column: str, needles: Iterable[str]) -> tuple[str, list[str]]:
    needles = list(needles)
    return f"{column} ilike any(%s)", [[f"%{n}%" for n in needles]]


def _current_erasures(cur, email: str) -> int:
    cur.execute("select erasures from restricted.erased_subjects where subject_key = %s",
                (pseudonym.person_key(email),))
    row = cur.fetchone()
    return int(row[0]) if row else 0


def erase(url: str, emails: Iterable[str] = (), documents: Iterable[str] = (),
          landing: Path | None = None, reports: Path | None = None,
          say: Callable[[str], None] = lambda _m: None) -> Erasure:
    """Rewrite every record, line, break and file about the subject, in one database
    transaction (which also marks the build in progress); the file replacements and vacuums
    it prepares are done by :func:`finish_pending`. Nothing found: nothing changes."""
    from tallyhouse import build_state
    from tallyhouse.config import default_landing_dir

    subject = Subject({e.strip().lower() for e in emails if e.strip()},
                      {v for d in documents for v in document_variants(d)})
    if not subject.needles():
        raise ValueError("give at least one --email or --document")
    result = Erasure()
    prepared: list[tuple[Path, Path]] = []
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('restricted.erasures') is not null")
            if not cur.fetchone()[0]:
                raise LookupError("the warehouse has not been built yet (no restricted "
                                  "schema): run `tallyhouse run` first")
            for statement in AUDIT_COLUMNS:
                cur.execute(statement)
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
                say(f"  raw: {result.total} record(s) about the person"
                    + (" (a second round for the e-mails found in them)"
                       if subject.emails != before else ""))
                if subject.emails == before:
                    break
            condition, params = _like_any("raw_text", eraser.needles())
            cur.execute(f"select quarantine_id, raw_text from raw._quarantine where {condition}",
                        params)
            for quarantine_id, text in cur.fetchall():
                cur.execute("update raw._quarantine set raw_text = %s where quarantine_id = %s",
                            (eraser.scrub_text(text), quarantine_id))
                result.quarantined += 1
            cur.execute("select to_regclass('marts.rpt_reconciliation_breaks') is not null")
            if cur.fetchone()[0]:
                condition, params = _like_any("coalesce(entity_id, '') || ' ' || "
                                              "coalesce(detail, '')", eraser.needles())
                cur.execute(f"select ctid, entity_id, detail from "
                            f"marts.rpt_reconciliation_breaks where {condition}", params)
                for ctid, entity_id, detail in cur.fetchall():
                    cur.execute("update marts.rpt_reconciliation_breaks set entity_id = %s, "
                                "detail = %s where ctid = %s",
                                (entity_id and eraser.scrub_text(entity_id),
                                 detail and eraser.scrub_text(detail), ctid))
                    result.break_rows += 1
            # the files: rewritten copies prepared beside the originals (dot names, which
            # the loaders never read), put in place after the commit
            landing_root = landing or default_landing_dir()
            # loaded files that retention moved to landing/.archive/ (same relative paths)
            roots = [landing_root, landing_root / ARCHIVE]
            for root, original, rewritten in ((top, *pair) for top in roots
                                              for pair in _prepare_landing(top, eraser)):
                prepared.append((rewritten, original))
                rel = original.relative_to(root).as_posix()
                source = rel.split("/", 1)[0]
                cur.execute("update raw._manifest set erased_sha256 = %s, erased_size = %s "
                            "where source = %s and file_name = %s and file_sha256 = %s",
                            (_sha256(rewritten), rewritten.stat().st_size, source, rel,
                             _sha256(original)))
                result.landing_files += 1
            for original, rewritten in _prepare_reports(reports or reports_dir(), eraser):
                prepared.append((rewritten, original))
                result.report_files += 1
            # the embedded server's own log (an error's context can quote a record)
            result.log_files = _scrub_server_log(eraser)
            result.open_files = [str(p) for p in open_files_holding(landing_root, eraser)]
            say(f"  also: {result.quarantined} quarantined line(s), {result.break_rows} break "
                f"row(s), {result.landing_files} landing file(s), {result.report_files} "
                "report file(s)")
            if not result.found:
                conn.rollback()
                return result
            result.person_keys = sorted(set(keys.values()))
            erased_emails = {e for e in subject.emails if result.total}
            for email in sorted(erased_emails):
                cur.execute("insert into restricted.erased_subjects (subject_key, erasures) "
                            "values (%s, 1) on conflict (subject_key) do update "
                            "set erasures = restricted.erased_subjects.erasures + 1",
                            (pseudonym.person_key(email),))
            kinds = sorted({"email"} if emails else set()) + (["document"] if documents else [])
            touched = sorted(result.records) + (["raw._quarantine"] if result.quarantined
                                                else [])
            if result.break_rows:
                touched.append("marts.rpt_reconciliation_breaks")
            pending = {"files": [[str(a), str(b)] for a, b in prepared], "vacuum": touched}
            cur.execute("insert into restricted.erasures (identifier_kinds, person_keys, "
                        "records_touched, record_hashes, pending) values (%s, %s, %s, %s, %s) "
                        "returning erasure_id",
                        (kinds, result.person_keys,
                         json.dumps({t: len(h) for t, h in sorted(result.records.items())}),
                         json.dumps(dict(sorted(result.records.items()))),
                         json.dumps(pending)))
            result.erasure_id = cur.fetchone()[0]
            # from this commit on, the marts are not current until a build from the
            # rewritten raw completed: a run never carries the person over
            build_state.begin(cur)
        conn.commit()
    except BaseException:
        conn.rollback()
        for rewritten, _original in prepared:
            rewritten.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    return result


def finish_pending(url: str, say: Callable[[str], None] = lambda _m: None) -> int:
    """Do what committed erasures left to do: put the rewritten files in place, vacuum the
    rewritten tables (their old row versions leave the data files), checkpoint. Safe to
    repeat; needs no identifier. The number of erasures finished."""
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('restricted.erasures') is not null")
        if not cur.fetchone()[0]:
            return 0
        for statement in AUDIT_COLUMNS:
            cur.execute(statement)
        cur.execute("select erasure_id, pending from restricted.erasures "
                    "where pending is not null order by erasure_id")
        work = cur.fetchall()
    for erasure_id, pending in work:
        for rewritten, original in pending.get("files", []):
            rewritten, original = Path(rewritten), Path(original)
            if rewritten.exists():
                os.replace(rewritten, original)
            if original.exists():
                stat = original.stat()
                with db.cursor(url) as cur:
                    cur.execute("update raw._manifest set erased_mtime_ns = %s "
                                "where erased_sha256 = %s and erased_size = %s",
                                (stat.st_mtime_ns, _sha256(original), stat.st_size))
        tables = pending.get("vacuum", [])
        if tables:
            say(f"  vacuuming what was rewritten ({', '.join(tables)})...")
            with db.cursor(url, autocommit=True) as cur:
                for table in tables:
                    schema, name = table.split(".", 1)
                    cur.execute(f'vacuum (full, analyze) "{schema}"."{name}"')
                try:
                    # the WAL holding the old rows (and the full pages written with the
                    # rewrite) is left behind: checkpoints and segment switches until the
                    # segments before the erasure are no longer needed and are removed (the
                    # embedded server does not recycle segments: wal_recycle = off)
                    for _ in range(2):
                        cur.execute("checkpoint")
                        cur.execute("select pg_switch_wal()")
                    cur.execute("checkpoint")
                except Exception:  # noqa: BLE001 - a role that may not checkpoint: it happens later
                    pass
        with db.cursor(url) as cur:
            cur.execute("update restricted.erasures set pending = null where erasure_id = %s",
                        (erasure_id,))
    return len(work)


def pending_erasures(url: str) -> list[int]:
    """Erasures whose rewrite is committed but whose rebuild has not completed yet."""
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('restricted.erasures') is not null")
        if not cur.fetchone()[0]:
            return []
        for statement in AUDIT_COLUMNS:
            cur.execute(statement)
        cur.execute("select erasure_id from restricted.erasures "
                    "where completed_at is null or pending is not null order by 1")
        return [row[0] for row in cur.fetchall()]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_condition(eraser: Eraser) -> tuple[str, list]:
    """Records whose text holds an identifier, or whose JSON escapes might spell one
    (those are compared decoded, as jsonb renders them)."""
    text_hit, params = _like_any("payload::text", eraser.needles())
    decoded_hit, more = _like_any("payload::jsonb::text", eraser.subject.needles())
    return (f"({text_hit}) or (strpos(payload::text, '\\u') > 0 and {decoded_hit})",
            params + more)


def _erase_json_feed(cur, table: str, eraser: Eraser, result: Erasure) -> None:
    condition, params = _json_condition(eraser)
    cur.execute(f"select _record_hash, payload::text from {table} where {condition}", params)
    for record_hash, text in cur.fetchall():
        value = json.loads(text)
        rewritten = eraser.rewrite(value)
        if rewritten == value:
            continue  # the needle was only part of a longer value: not this person
        new_text = json.dumps(rewritten, ensure_ascii=False, separators=(",", ":"))
        cur.execute(f"update {table} set payload = %s::json, _rewritten_hash = "
                    "sha256(convert_to(%s, 'UTF8')) where _record_hash = %s",
                    (new_text, new_text, record_hash))
        result.records[table].append(bytes(record_hash).hex())


def _erase_csv_feed(cur, table: str, columns: tuple[str, ...], eraser: Eraser,
                    result: Erasure) -> None:
    row_text = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    condition, params = _like_any(f"({row_text})", eraser.needles())
    cur.execute(f"select _record_hash, {', '.join(columns)} from {table} where {condition}",
                params)
    for record_hash, *values in cur.fetchall():
        row = dict(zip(columns, values, strict=True))
        rewritten = eraser.rewrite(row)
        if rewritten == row:
            continue
        changed = [c for c in columns if rewritten[c] != row[c]]
        assignments = ", ".join(f"{c} = %s" for c in changed)
        cells = chr(31).join(rewritten[c] or "" for c in columns)
        cur.execute(f"update {table} set {assignments}, _rewritten_hash = "
                    "sha256(convert_to(%s, 'UTF8')) where _record_hash = %s",
                    [rewritten[c] for c in changed] + [cells, record_hash])
        result.records[table].append(bytes(record_hash).hex())


def _holds(eraser: Eraser, text: str) -> bool:
    lowered = text.lower()
    return any(n.lower() in lowered for n in eraser.needles()) or eraser.contains(text)


def _landing_paths(folder: Path) -> list[Path]:
    """Every file under a source folder that may hold what was delivered: also the dot
    folders (the receiver's set-aside torn lines, checkpoints), never a link (its target is
    not landing's), never forget's own prepared copies nor a file the receiver still writes
    (``.open``: said, not touched)."""
    return sorted(p for p in folder.rglob("*")
                  if not p.is_symlink() and p.is_file()
                  and not p.name.endswith((".erasing", ".open")))


class _Reading:
    """A landing file read line by line as far as it can be read, with bounded memory: a
    damaged or truncated compressed file ends where it breaks, a decompression bomb at the
    loader's limit. ``complete`` says whether the end was reached."""

    def __init__(self, path: Path):
        from tallyhouse.ingest.files import Delivered

        self.path = path
        self.complete = True
        self._delivered = Delivered(path)

    def lines(self):
        from tallyhouse.ingest.files import FileRejected, Oversized

        limit = self._delivered.limits.record_bytes
        try:
            with self._delivered as handle:
                for line in handle:
                    if isinstance(line, Oversized):
                        # a line longer than a record: kept only as far as a record goes
                        yield line.head[:limit] + b"\n", False
                    else:
                        yield line, True
        except (FileRejected, OSError, EOFError):
            self.complete = False


def _holds_file(eraser: Eraser, path: Path) -> bool:
    reading = _Reading(path)
    return any(_holds(eraser, line.decode("utf-8", errors="surrogateescape"))
               for line, _whole in reading.lines())


def _prepare_landing(root: Path, eraser: Eraser) -> list[tuple[Path, Path]]:
    """(original, rewritten copy) of every landing file that holds the subject. JSON lines
    are rewritten like the raw records (the same bytes, so a reload lands the same rows);
    CSV rows cell by cell; a line that is neither has its identifiers replaced. Streamed:
    a file is never held whole; what cannot be read (past a damage, past the bomb limit, a
    line over the record limit) is not written back."""
    import csv
    import io

    from tallyhouse.sources import SOURCES, feed_for_file

    prepared = []
    for source in SOURCES:
        folder = root / source.name
        if not folder.is_dir():
            continue
        for path in _landing_paths(folder):
            if not _holds_file(eraser, path):
                continue
            rel = path.relative_to(root).as_posix()
            feed = feed_for_file(source, rel)
            csv_feed = feed is not None and feed.fmt == "csv"
            rewritten = path.with_name(f".{path.name}.erasing")
            compressed = path.name.endswith(".gz")
            raw_out = rewritten.open("wb")
            out = gzip.GzipFile(fileobj=raw_out, mode="wb") if compressed else raw_out
            try:
                reading = _Reading(path)
                if csv_feed:
                    text_lines = (line.decode("utf-8", errors="surrogateescape")
                                  for line, _whole in reading.lines())
                    buffer = io.StringIO()
                    writer = csv.writer(buffer, lineterminator="\n")
                    header: list[str] | None = None
                    for row in csv.reader(text_lines):
                        if header is None:
                            header = row
                            writer.writerow(row)
                        elif len(row) == len(header):
                            record = eraser.rewrite(dict(zip(header, row, strict=True)))
                            writer.writerow([record[h] for h in header])
                        else:
                            writer.writerow([eraser.scrub_text(cell) for cell in row])
                        out.write(buffer.getvalue().encode("utf-8", errors="surrogateescape"))
                        buffer.seek(0)
                        buffer.truncate()
                else:
                    for line, whole in reading.lines():
                        text = line.decode("utf-8", errors="surrogateescape")
                        end = "\n" if text.endswith("\n") else ""
                        body = text[:-1] if end else text
                        if _holds(eraser, body):
                            try:
                                value = json.loads(body) if whole else None
                            except ValueError:
                                value = None
                            if value is None:
                                body = eraser.scrub_text(body)
                            else:
                                rewritten_value = eraser.rewrite(value)
                                if rewritten_value != value:
                                    body = json.dumps(rewritten_value, ensure_ascii=False,
                                                      separators=(",", ":"))
                        out.write((body + end).encode("utf-8", errors="surrogateescape"))
            finally:
                if out is not raw_out:
                    out.close()
                raw_out.close()
            prepared.append((path, rewritten))
    return prepared


def open_files_holding(root: Path, eraser: Eraser) -> list[Path]:
    """Files the receiver is still writing (``.open``) that hold the subject: not rewritten
    under it, said to the user (a forget after they close erases them)."""
    return sorted(p for p in root.rglob("*.open")
                  if p.is_file() and not p.is_symlink() and _holds_file(eraser, p))


def _scrub_server_log(eraser: Eraser) -> int:
    """The embedded server's log (an error's context could quote a record): scrubbed in
    place — the server appends to the same file, which a replacement would leave holding
    the old bytes until it restarts. Another PostgreSQL's log is its operator's (README).
    The number of files changed."""
    if not db.is_embedded():
        return 0
    log = db.pgdata_dir() / "log"
    files = [log] if log.is_file() else sorted(p for p in log.glob("*") if p.is_file()) \
        if log.is_dir() else []
    changed = 0
    for path in files:
        try:
            with path.open("r+", encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
                scrubbed = eraser.scrub_text(text)
                if scrubbed == text:
                    continue
                handle.seek(0)
                handle.write(scrubbed)
                handle.truncate()
        except OSError:
            continue
        changed += 1
    return changed


def _prepare_reports(folder: Path, eraser: Eraser) -> list[tuple[Path, Path]]:
    prepared = []
    if not folder.is_dir():
        return prepared
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".html", ".csv", ".json", ".txt") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        scrubbed = eraser.scrub_text(text)
        if scrubbed != text:
            rewritten = path.with_name(f".{path.name}.erasing")
            rewritten.write_text(scrubbed, encoding="utf-8", errors="surrogateescape")
            prepared.append((path, rewritten))
    return prepared
