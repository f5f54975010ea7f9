"""The landing folders tallyhouse reads and the raw tables they land in.

One *source* per landing folder (``landing/<source>/``); a source delivers one or
more *feeds* (a kind of file, told apart by the file-name prefix). Each feed lands
in one table ``raw.<feed>``. The Dagster loader asset of a source has the key
``[<source>, <feed>]`` per feed, which is also the dbt source key, so lineage joins
without a translator.

What the sources and feeds are is declared once, in the registry (dbt_project.yml, var
``registry``; docs/registry.md), which the dbt models read too: this module gives that
declaration Python's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Feed:
    source: str
    name: str  # raw table name and file-name prefix
    fmt: str  # "jsonl" or "csv"
    columns: tuple[str, ...] = field(default=())  # CSV header, in order
    description: str = ""
    # JSON types a record of the feed may be; any other is quarantined at load time
    json_shapes: tuple[str, ...] = ("object",)
    # "delivered" (webhooks, exports, ledgers: files named as their sender likes) or "api"
    # (pages `tallyhouse backfill` fetched from a platform's API and names itself, see
    # tallyhouse/backfill/pages.py); an API feed is recognised by its name prefix only
    origin: str = "delivered"

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    @property
    def extension(self) -> str:
        return ".jsonl" if self.fmt == "jsonl" else ".csv"


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "platform" or "ledger"
    description: str
    feeds: tuple[Feed, ...]


# The platforms' sales APIs, landed by `tallyhouse backfill` one file per page:
# <feed>-<first day>-<last day>-<filter>-p<page>-<fetched at>.jsonl (API_PAGE_NAME below).
# A sales feed's line is one element of the page's list, byte for byte as the API sent it;
# a summary feed's line wraps one whole answer with the request it answers.
API_PAGE_NAME = (r"^(?P<feed>[a-z_]+)-(?P<first_day>\d{8})-(?P<last_day>\d{8})-"
                 r"(?P<filter>[A-Za-z_]+)-p(?P<page>\d{5})-(?P<fetched_at>\d{8}T\d{12}Z)"
                 r"\.jsonl$")


def registry(project_file: Path | None = None) -> dict:
    """The registry: var ``registry`` of dbt_project.yml, where every source, feed, reader
    and purchase event stream is declared once (docs/registry.md)."""
    import yaml

    from tallyhouse.config import project_root

    path = project_file or project_root() / "dbt_project.yml"
    project = yaml.safe_load(path.read_text(encoding="utf-8"))
    return (project.get("vars") or {})["registry"]


def sources_of(declared: dict) -> tuple[Source, ...]:
    """The sources and feeds of a registry (see :func:`registry`)."""
    return tuple(
        Source(source["name"], source["kind"], source["description"], tuple(
            Feed(source["name"], feed["name"], feed["format"],
                 columns=tuple(feed.get("columns") or ()),
                 description=feed.get("description", ""),
                 json_shapes=tuple(feed.get("json_shapes") or ("object",)),
                 origin=feed.get("origin", "delivered"))
            for feed in source["feeds"]))
        for source in declared["sources"])


SOURCES: tuple[Source, ...] = sources_of(registry())
FEEDS: tuple[Feed, ...] = tuple(feed for source in SOURCES for feed in source.feeds)


def source_by_name(name: str) -> Source:
    for source in SOURCES:
        if source.name == name:
            return source
    raise KeyError(f"unknown source {name!r}; known: {', '.join(s.name for s in SOURCES)}")


def feed_for_file(source: Source, file_name: str) -> Feed | None:
    """The feed a delivered file belongs to: by name prefix (the longest that matches:
    ``eduzz_sales_summary-…`` is not ``eduzz_sales``), or the only delivered feed of its
    format (a webhook export named as its sender likes). API pages are named by tallyhouse
    and recognised by their prefix only."""
    base = file_name.rsplit("/", 1)[-1]
    if base.endswith(".gz"):  # compressed extracts are read as they are (streamed)
        base = base[:-3]
    matches = [feed for feed in source.feeds
               if base.startswith(feed.name) and base.endswith(feed.extension)]
    if matches:
        return max(matches, key=lambda feed: len(feed.name))
    delivered = [f for f in source.feeds if f.origin != "api"]
    candidates = [f for f in delivered if base.endswith(f.extension)]
    if len(candidates) == 1 and len(delivered) == 1:
        return candidates[0]
    return None
