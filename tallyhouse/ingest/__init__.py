"""Idempotent bulk loading of landing files into schema ``raw``.

Per file, in one database transaction:

* the file's sha256 decides whether it is new, an exact copy under another name
  (recorded, not loaded again) or a changed file under a name already loaded
  (flagged, not merged);
* every record is streamed with COPY into a temporary stage; records that cannot be
  landed (bad encoding, NUL bytes, malformed JSON, a truncated last line, a wrong CSV
  column count, a record over the size limit) go to ``raw._quarantine`` with file, line,
  raw text and reason;
* valid records are inserted once per record hash: a record already landed from any
  file is an exact duplicate and is skipped (and counted);
* ``raw._manifest`` gets one row with records in file = landed + quarantined +
  duplicates skipped.

By concern: ``schema`` (the raw tables and the triggers that note changes), ``files`` (what
a delivered file is and how it is read, within limits), ``jsonl`` and ``csv_feeds`` (the two
formats), ``manifest`` (the manifest, the quarantine, the load lock), ``loading`` (a landing
folder, file by file) and ``integrity`` (nothing lost, nothing changed since).
"""

from tallyhouse.ingest.files import Limits, Oversized, file_sha256, landing_files
from tallyhouse.ingest.integrity import (
    LoadMark,
    count_identity_breaks,
    load_mark,
    rows_changed_since_recount,
)
from tallyhouse.ingest.loading import load_all, load_file, load_source
from tallyhouse.ingest.manifest import (
    LOAD_LOCK_KEY,
    STATUS_CHANGED,
    STATUS_DUPLICATE_FILE,
    STATUS_LOADED,
    STATUS_REJECTED,
    FileResult,
    SourceResult,
)
from tallyhouse.ingest.schema import content_hash_sql, ddl_statements, ensure_raw_schema

__all__ = [
    "LOAD_LOCK_KEY", "STATUS_CHANGED", "STATUS_DUPLICATE_FILE", "STATUS_LOADED",
    "STATUS_REJECTED", "FileResult", "Limits", "LoadMark", "Oversized", "SourceResult",
    "content_hash_sql", "count_identity_breaks", "ddl_statements", "ensure_raw_schema",
    "file_sha256", "landing_files", "load_all", "load_file", "load_mark", "load_source",
    "rows_changed_since_recount",
]
