"""The registry checked against the rest of the project.

The registry (var ``registry`` in dbt_project.yml; docs/registry.md) declares every source,
feed, reader and purchase event stream once. The dbt macros (macros/registry.sql) and the
loaders (:mod:`tallyhouse.sources`) make their lists from it; what is still written by hand
around it must agree with it: dbt's sources yml (a feed is a source table, with a freshness
window when it is delivered), the staging models (a reader exists and reads its feed), the
seeds (a platform's statuses are mapped). :func:`disagreements` lists every place where the
parsed dbt project (its manifest) or the Python side says otherwise; tests/test_registry.py
holds it to an empty list.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from tallyhouse.sources import Source, sources_of

PROJECT = "tallyhouse"
FORMATS = {"jsonl", "csv"}
ORIGINS = {"delivered", "api"}
# The models whose parents are made of the registry's lists (macros/registry.sql), and the
# list each is made of.
UNIONED = "int_transaction_events_unioned"
MAPPED = "int_transaction_events_mapped"
LANDED_PER_FILE = "int_landed_records_per_file"
UNREAD = "stg_platforms__unread_records"
DATA_ISSUES = ("rpt_data_issues", "person_data_issues")
FILE_BREAKS = "rpt_file_breaks"
INTEGRITY_TEST = "assert_raw_events_survive_staging"
# the seeds every selling platform needs rows in (accepted_values on `platform` is generated)
PLATFORM_SEEDS = ("platform_status_mapping.csv", "payment_method_mapping.csv",
                  "commission_roles.csv")
GENERATED_PLATFORMS = "{{ registry_platforms() }}"


def feeds(declared: dict) -> list[dict]:
    """Every feed, with its source's name as ``source`` (as registry_feeds() in dbt)."""
    return [{"source": source["name"], "origin": "delivered", "readers": [], **feed}
            for source in declared["sources"] for feed in source["feeds"]]


def readers(declared: dict) -> list[dict]:
    """Every reader, with ``source`` and ``feed`` (as registry_readers() in dbt)."""
    return [{"source": feed["source"], "feed": feed["name"], **reader}
            for feed in feeds(declared) for reader in feed["readers"]]


def purchase_streams(declared: dict) -> list[dict]:
    """The purchase event streams (as purchase_streams() in dbt)."""
    return [{"model": reader["model"], "events": reader["model"], "where": None,
             "touched_by": None, "snapshot": False, "source": reader["source"],
             "feed": reader["feed"],
             **reader["purchase_events"]}
            for reader in readers(declared) if reader.get("purchase_events")]


def _model(name: str) -> str:
    return f"model.{PROJECT}.{name}"


def _source(source: str, feed: str) -> str:
    return f"source.{PROJECT}.{source}.{feed}"


def _duplicates(names: Iterable[str]) -> list[str]:
    seen, twice = set(), []
    for name in names:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


def _python(declared: dict, python_sources: tuple[Source, ...]) -> list[str]:
    def shape(sources: Iterable[Source]) -> list:
        return [(s.name, s.kind, [(f.name, f.fmt, f.columns, f.origin, f.json_shapes)
                                  for f in s.feeds]) for s in sources]

    if shape(python_sources) != shape(sources_of(declared)):
        return ["tallyhouse.sources.SOURCES is not the registry's sources and feeds"]
    return []


def _declaration(declared: dict) -> list[str]:
    found = []
    all_feeds = feeds(declared)
    for name in _duplicates(source["name"] for source in declared["sources"]):
        found.append(f"source {name} is declared twice")
    for name in _duplicates(feed["name"] for feed in all_feeds):
        found.append(f"feed {name} is declared twice")
    for name in _duplicates(reader["model"] for reader in readers(declared)):
        found.append(f"model {name} reads two feeds in the registry")
    # a platform may have several streams (webhooks and sales API), one per feed
    for name in _duplicates(f"{stream['platform']} from {stream['feed']}"
                            for stream in purchase_streams(declared)):
        found.append(f"platform {name} has two purchase event streams")
    for stream in purchase_streams(declared):
        if not isinstance(stream.get("snapshot", False), bool):
            found.append(f"purchase stream {stream['model']}: snapshot is true or false")
    for feed in all_feeds:
        where = f"feed {feed['source']}.{feed['name']}"
        if feed.get("format") not in FORMATS:
            found.append(f"{where}: format {feed.get('format')!r} is not one of {sorted(FORMATS)}")
        if feed.get("format") == "csv" and not feed.get("columns"):
            found.append(f"{where}: a CSV feed declares its columns")
        if feed["origin"] not in ORIGINS:
            found.append(f"{where}: origin {feed['origin']!r} is not one of {sorted(ORIGINS)}")
        if feed["origin"] == "delivered" and not feed["readers"]:
            found.append(f"{where}: a delivered feed no staging model reads")
        for reader in feed["readers"]:
            if not reader.get("entity"):
                found.append(f"{where}: reader {reader.get('model')} names no entity column")
    return found


def _sources_yml(declared: dict, manifest: dict) -> list[str]:
    found = []
    tables = {(node["source_name"], node["name"]): node
              for node in manifest["sources"].values()
              if node["schema"] == "raw" and not node["name"].startswith("_")}
    declared_feeds = {(feed["source"], feed["name"]): feed for feed in feeds(declared)}
    for key in sorted(declared_feeds.keys() - tables.keys()):
        found.append(f"feed {key[1]} of the registry is no table of dbt source {key[0]} "
                     "(models/staging/<source>/_<source>__sources.yml)")
    for key in sorted(tables.keys() - declared_feeds.keys()):
        found.append(f"dbt source table {key[0]}.{key[1]} (schema raw) is no feed of the "
                     "registry")
    for key in sorted(declared_feeds.keys() & tables.keys()):
        node, feed = tables[key], declared_feeds[key]
        if (node.get("identifier") or node["name"]) != feed["name"]:
            found.append(f"dbt source {key[0]}.{key[1]} reads {node['identifier']}, not "
                         f"raw.{feed['name']}")
        warn = ((node.get("freshness") or {}).get("warn_after") or {}).get("count")
        if feed["origin"] == "delivered" and not warn:
            found.append(f"dbt source {key[0]}.{key[1]} is delivered and has no freshness "
                         "window (stale_sources would never report it)")
        if feed["origin"] == "api" and warn:
            found.append(f"dbt source {key[0]}.{key[1]} holds API pages and has a freshness "
                         "window (a quiet API is no finding)")
    return found


def _models(declared: dict, manifest: dict) -> list[str]:
    found = []
    nodes = manifest["nodes"]

    def parents(name: str, unique_id: str | None = None) -> set[str] | None:
        node = nodes.get(unique_id or _model(name))
        return set(node["depends_on"]["nodes"]) if node else None

    feed_sources = {_source(f["source"], f["name"]) for f in feeds(declared)}
    declared_readers = readers(declared)
    for reader in declared_readers:
        model_parents = parents(reader["model"])
        if model_parents is None:
            found.append(f"reader {reader['model']} of feed {reader['feed']} is no dbt model")
        elif _source(reader["source"], reader["feed"]) not in model_parents:
            found.append(f"reader {reader['model']} does not read source "
                         f"{reader['source']}.{reader['feed']}")
    # the other way round: a staging model reading a feed is one of its readers
    reading = {(r["model"], _source(r["source"], r["feed"])) for r in declared_readers}
    for node in nodes.values():
        if (node["resource_type"] != "model" or "staging" not in node["fqn"]
                or node["name"] == UNREAD):
            continue
        for parent in sorted(set(node["depends_on"]["nodes"]) & feed_sources):
            if (node["name"], parent) not in reading:
                found.append(f"staging model {node['name']} reads {parent.split('.', 2)[2]} "
                             "and is no reader of it in the registry")

    streams = purchase_streams(declared)
    for stream in streams:
        for role in ("model", "events"):
            if _model(stream[role]) not in nodes:
                found.append(f"purchase stream {stream['platform']}: {role} {stream[role]} is "
                             "no dbt model")
        if stream["touched_by"] and _model(stream["touched_by"]["model"]) not in nodes:
            found.append(f"purchase stream {stream['platform']}: touched_by "
                         f"{stream['touched_by']['model']} is no dbt model")

    # the lists macros/registry.sql makes, as the parsed models depend on them
    unioned = parents(UNIONED)
    if unioned is not None:
        wanted = {_model(s["events"]) for s in streams}
        if unioned != wanted:
            found.append(f"{UNIONED} is made of {sorted(unioned)}, the registry's streams "
                         f"are {sorted(wanted)}")
    mapped = parents(MAPPED)
    if mapped is not None:
        wanted = {_model(s[role]) for s in streams for role in ("model", "events")}
        wanted |= {_model(s["touched_by"]["model"]) for s in streams if s["touched_by"]}
        if missing := wanted - mapped:
            found.append(f"{MAPPED} does not read the streams' {sorted(missing)}")
    landed = parents(LANDED_PER_FILE)
    if landed is not None and landed != feed_sources:
        found.append(f"{LANDED_PER_FILE} counts {sorted(landed)}, the registry's feeds are "
                     f"{sorted(feed_sources)}")
    unread = parents(UNREAD)
    unread_feeds = [f for f in feeds(declared) if f.get("unread")]
    # the feeds declared `unread`, and their readers' tables (a build from raw leaves out
    # the records those hold before it parses the rest)
    wanted = {_source(f["source"], f["name"]) for f in unread_feeds}
    wanted |= {_model(r["model"]) for f in unread_feeds for r in f["readers"]}
    if unread is not None and unread != wanted:
        found.append(f"{UNREAD} reads {sorted(unread)}, the feeds declared `unread` and "
                     f"their readers are {sorted(wanted)}")
    reader_models = {_model(r["model"]) for r in declared_readers}
    for name in DATA_ISSUES:
        issues = parents(name)
        if issues is not None and (missing := reader_models - issues):
            found.append(f"{name} does not list the data issues of {sorted(missing)}")
    breaks = parents(FILE_BREAKS)
    wanted = {_model(r["model"]) for r in declared_readers if r.get("reexports")}
    if breaks is not None and (missing := wanted - breaks):
        found.append(f"{FILE_BREAKS} does not count the re-exports of {sorted(missing)}")
    integrity = parents(INTEGRITY_TEST, f"test.{PROJECT}.{INTEGRITY_TEST}")
    wanted = {_source(s["source"], s["feed"]) for s in streams}
    if integrity is not None and (missing := wanted - integrity):
        found.append(f"{INTEGRITY_TEST} does not check the raw records of {sorted(missing)}")
    return found


def _platforms(declared: dict, manifest: dict, project_dir: Path) -> list[str]:
    found = []
    platforms = {stream["platform"] for stream in purchase_streams(declared)}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if (node["resource_type"] == "test" and meta.get("name") == "accepted_values"
                and node.get("column_name") == "platform"):
            values = meta.get("kwargs", {}).get("values")
            if values != GENERATED_PLATFORMS and set(values or ()) != platforms:
                found.append(f"{node['name']}: accepted platforms {values} are written by "
                             f"hand; the registry's are {sorted(platforms)} "
                             f"(values: \"{GENERATED_PLATFORMS}\")")
    for seed in PLATFORM_SEEDS:
        with (project_dir / "seeds" / seed).open(encoding="utf-8", newline="") as handle:
            mapped = {row["platform"] for row in csv.DictReader(handle)}
        for platform in sorted(platforms - mapped):
            found.append(f"platform {platform} has no rows in seeds/{seed}")
    return found


def disagreements(declared: dict, manifest: dict, python_sources: tuple[Source, ...],
                  project_dir: Path) -> list[str]:
    """Where the registry ``declared`` and the project disagree, one sentence each: the
    loaders' sources (``python_sources``), the declaration itself, dbt's sources yml,
    the staging models, the lists the models are made of (their parents in the parsed
    ``manifest``), the accepted platforms and the seeds. Empty when all agree."""
    return [*_python(declared, python_sources), *_declaration(declared),
            *_sources_yml(declared, manifest), *_models(declared, manifest),
            *_platforms(declared, manifest, project_dir)]
