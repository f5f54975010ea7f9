"""Landing an API page: its records exactly as the API returned them, one file per page.

**Records.** A sales page is a JSON object holding a list (Hotmart ``items``, Kiwify
``data``, Eduzz ``items``). Each element of that list becomes one line, and the line is
the element's own bytes, sliced out of the answer — never parsed and written again — so a
record fetched twice is the same bytes twice and the loaders land it once (they skip a
record whose hash is already in raw). The one change: a line break inside an element
(whitespace in JSON: a pretty-printed answer) becomes a space, as the receiver does, so a
record stays one line; the APIs here answer compact JSON, where nothing changes at all.
:func:`list_elements` finds the elements with a small scanner over the structural
characters and checks that each slice parses to the element the whole answer holds.

A summary answer is about its request (period and status), which the answer does not
repeat, so its line is ``{"request": {...}, "response": <the answer's bytes>}``: two
periods with the same totals stay two records.

**Files.** ``<feed>-<first day>-<last day>-<filter>-p<page>-<fetched at>.jsonl``
(:data:`tallyhouse.sources.API_PAGE_NAME`): the window's first and last business day
(YYYYMMDD), the status or date basis queried, the page number in that query (from 1) and
the UTC instant the page was fetched (``20261203T090203123456Z``). The fetch time lives in
the name, not in the records, because a record must stay the API's bytes for the loaders'
deduplication to hold; raw keeps the name of the file that first delivered a record
(``_file_name``), which is therefore the first fetch that saw that version of the record.
A page is written to a dot-named temporary file, fsynced, and renamed into place (the
loaders and the sensor ignore dot files); an existing name is never replaced by other bytes.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path

import orjson

_TO_BRACKET = re.compile(rb'[^"\[\]{}]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"\[\]{}]*)*', re.S)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_SCALAR_END = re.compile(rb"[,\]}\s]")
_WHITESPACE = b" \t\r\n"

TEMP_PREFIX = ".backfill-"


class PageError(ValueError):
    """An answer that is not the JSON object with a list it should be."""


def _skip(body: bytes, i: int) -> int:
    n = len(body)
    while i < n and body[i] in _WHITESPACE:
        i += 1
    return i


def _value_end(body: bytes, i: int) -> int:
    """Index just past the JSON value starting at ``i``."""
    first = body[i:i + 1]
    if first == b'"':
        match = _STRING.match(body, i)
        if not match:
            raise PageError(f"unterminated string at byte {i}")
        return match.end()
    if first in (b"{", b"["):
        # one regex step jumps over strings and plain bytes to the next bracket: Python
        # looks only at brackets (a dozen per sale), the regex engine at everything else
        depth, pos, end = 1, i + 1, len(body)
        while depth:
            pos = _TO_BRACKET.match(body, pos).end()
            if pos >= end or body[pos] == 0x22:  # the end, or a string that never closes
                raise PageError(f"unterminated value from byte {i}")
            depth += 1 if body[pos] in (0x7B, 0x5B) else -1
            pos += 1
        return pos
    match = _SCALAR_END.search(body, i)
    return match.start() if match else len(body)


def list_elements(body: bytes, key: str) -> tuple[list[bytes], dict]:
    """The byte slices of the elements of the list under top-level ``key``, and the whole
    answer parsed. A null list is an empty page; an answer without the key is not a page (an
    error told with a 200 must not pass for "no sales")."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PageError(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise PageError(f"a JSON {type(parsed).__name__}, not an object")
    if key not in parsed:
        raise PageError(f"no {key!r} in the answer (keys: {', '.join(sorted(parsed)[:8])})")
    wanted = parsed[key]
    if wanted is None:
        return [], parsed
    if not isinstance(wanted, list):
        raise PageError(f"{key!r} is a JSON {type(wanted).__name__}, not a list")
    return [one_line(raw) for raw in _elements(body, _member_value(body, key), wanted)], parsed


def _member_value(body: bytes, key: str) -> int:
    """Where the value of the top-level member ``key`` starts. (An answer that names it
    twice, whose parsed value is the last one, fails the element checks of the caller.)"""
    i = _skip(body, 0)
    if body[i:i + 1] != b"{":
        raise PageError("not a JSON object")
    i = _skip(body, i + 1)
    found = None
    while body[i:i + 1] != b"}":
        name_end = _value_end(body, i)
        name = orjson.loads(body[i:name_end])
        i = _skip(body, name_end)
        if body[i:i + 1] != b":":
            raise PageError(f"expected ':' at byte {i}")
        i = _skip(body, i + 1)
        if name == key:
            found = i
            break
        i = _skip(body, _value_end(body, i))
        if body[i:i + 1] == b",":
            i = _skip(body, i + 1)
        elif body[i:i + 1] != b"}":
            raise PageError(f"expected ',' or '}}' at byte {i}")
    if found is None or body[found:found + 1] != b"[":
        raise PageError(f"no list under {key!r}")
    return found


def _elements(body: bytes, i: int, wanted: list) -> list[bytes]:
    """Each element's bytes. Fast path: an API that answers compact JSON writes an element
    as orjson writes it again, so a byte comparison finds its end; otherwise the scanner
    finds it and the slice must parse back to the element."""
    records = []
    i = _skip(body, i + 1)
    for element in wanted:
        if body[i:i + 1] in (b"]", b""):
            raise PageError(f"fewer elements in the answer than it parses to (byte {i})")
        again = orjson.dumps(element)
        end = i + len(again)
        if not (body.startswith(again, i) and (
                again[-1:] in (b"}", b"]", b'"')
                or body[end:end + 1] in (b",", b"]", b" ", b"\n", b"\r", b"\t"))):
            end = _value_end(body, i)
            if orjson.loads(body[i:end]) != element:
                raise PageError(f"element at bytes {i}-{end} does not read back as itself")
        records.append(body[i:end])
        i = _skip(body, end)
        if body[i:i + 1] == b",":
            i = _skip(body, i + 1)
        elif body[i:i + 1] != b"]":
            raise PageError(f"expected ',' or ']' at byte {i}")
    if body[i:i + 1] != b"]":
        raise PageError(f"more elements in the answer than it parses to (byte {i})")
    return records


def one_line(raw: bytes) -> bytes:
    """A JSON text on one line: line breaks (whitespace in valid JSON) become spaces."""
    if b"\n" in raw or b"\r" in raw:
        return raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return raw


def wrap_answer(request: dict, body: bytes) -> bytes:
    """A summary record: the request it answers and the answer's bytes as returned."""
    return b'{"request":' + orjson.dumps(request, option=orjson.OPT_SORT_KEYS) + \
        b',"response":' + one_line(body.strip()) + b"}"


def page_name(feed: str, first_day: date, last_day: date, query_filter: str, page: int,
              fetched_at: datetime) -> str:
    return (f"{feed}-{first_day:%Y%m%d}-{last_day:%Y%m%d}-{query_filter}-p{page:05d}-"
            f"{fetched_at:%Y%m%dT%H%M%S%f}Z.jsonl")


def land_page(folder: Path, name: str, lines: list[bytes]) -> Path:
    """Write a page's lines under ``name``, atomically; never replace other bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    data = b"".join(line + b"\n" for line in lines)
    final = folder / name
    if final.exists():
        if final.read_bytes() == data:
            return final
        raise FileExistsError(f"{final} exists with other content; not replaced")
    temporary = folder / f"{TEMP_PREFIX}{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, final)
    fsync_dir(folder)
    return final


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> int:
    """Temporary page files a killed backfill left (never a landed page)."""
    removed = 0
    if folder.is_dir():
        for path in folder.glob(f"{TEMP_PREFIX}*.tmp"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
