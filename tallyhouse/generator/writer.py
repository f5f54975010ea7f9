"""Append-only daily files with a bounded number of open handles."""

from __future__ import annotations

import csv
import io
from collections import OrderedDict
from datetime import date
from pathlib import Path

MAX_OPEN_FILES = 128


class DailyFiles:
    """Writes records to ``<out>/<source>/<feed>_<YYYY-MM-DD>.<ext>``.

    Records for a day may arrive in any order (late events are written into future
    days' files), so handles are kept in an LRU and reopened in append mode.
    """

    def __init__(self, out: Path, csv_headers: dict[str, tuple[str, ...]]):
        self.out = out
        self.csv_headers = csv_headers
        self._open: OrderedDict[tuple, io.BufferedWriter] = OrderedDict()
        self._paths: dict[tuple, Path] = {}
        self.records: dict[str, int] = {}
        self.lines: dict[tuple, int] = {}

    def path(self, source: str, feed: str, day: date) -> Path:
        return self._path((source, feed, day))

    def _path(self, key: tuple) -> Path:
        found = self._paths.get(key)
        if found is None:
            source, feed, day = key
            ext = "csv" if feed in self.csv_headers else "jsonl"
            found = self._paths[key] = self.out / source / f"{feed}_{day.isoformat()}.{ext}"
        return found

    def _handle(self, key: tuple) -> io.BufferedWriter:
        handle = self._open.get(key)
        if handle is not None:
            self._open.move_to_end(key)
            return handle
        if len(self._open) >= MAX_OPEN_FILES:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("ab", buffering=1 << 16)
        self._open[key] = handle
        if key not in self.lines:
            self.lines[key] = 0
            header = self.csv_headers.get(key[1])
            if header:
                handle.write(_csv_line(header))
                self.lines[key] = 1
        return handle

    def write_line(self, source: str, feed: str, day: date, line: bytes) -> int:
        """Append one record; returns its line number in the file."""
        key = (source, feed, day)
        self._handle(key).write(line)
        self.records[feed] = self.records.get(feed, 0) + 1
        self.lines[key] += 1
        return self.lines[key]

    def write_row(self, source: str, feed: str, day: date, row: tuple) -> int:
        return self.write_line(source, feed, day, _csv_line(row))

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()

    def files(self) -> list[Path]:
        return sorted(self._path(key) for key in self.lines)


def _csv_line(row: tuple) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in row])
    return buffer.getvalue().encode("utf-8")
