"""One registry (issue 24): every source, feed, reader and purchase event stream is declared
once (var ``registry`` in dbt_project.yml), and the loaders' feeds, dbt's sources yml, the
staging models, the lists the models are made of and the seeds agree with it
(:func:`tallyhouse.registry.disagreements`). The project's real parts are read: the
declaration with PyYAML, the dbt project parsed once into its manifest (no database).
A declaration broken on purpose shows that the check can fail."""

from __future__ import annotations

import copy
import json

import pytest

from tallyhouse import registry as check
from tallyhouse.config import project_root
from tallyhouse.dbt import ensure_manifest
from tallyhouse.sources import FEEDS, SOURCES, registry, sources_of


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


@pytest.fixture(scope="module")
def declared() -> dict:
    return registry()


def disagreements(declared: dict, manifest: dict, python_sources=None) -> list[str]:
    return check.disagreements(declared, manifest,
                               python_sources or sources_of(declared), project_root())


def test_the_project_agrees_with_the_registry(declared, manifest):
    assert check.disagreements(declared, manifest, SOURCES, project_root()) == []


def test_python_feeds_are_the_registry_feeds(declared):
    assert [(f.source, f.name) for f in FEEDS] == [
        (f["source"], f["name"]) for f in check.feeds(declared)]
    # every kind of feed is there: webhooks, API pages, CSV ledgers with their header
    assert {f.origin for f in FEEDS} == {"delivered", "api"}
    assert all(f.columns for f in FEEDS if f.fmt == "csv")


def test_every_feed_is_a_dbt_source_and_every_reader_reads_it(declared, manifest):
    sources = {(n["source_name"], n["name"]) for n in manifest["sources"].values()}
    for feed in FEEDS:
        assert (feed.source, feed.name) in sources
    for reader in check.readers(declared):
        node = manifest["nodes"][f"model.tallyhouse.{reader['model']}"]
        assert f"source.tallyhouse.{reader['source']}.{reader['feed']}" in (
            node["depends_on"]["nodes"])


def test_every_purchase_stream_feeds_the_unified_events(declared, manifest):
    streams = check.purchase_streams(declared)
    # a platform's webhooks and its sales API (snapshots) are two streams of one platform
    assert [(s["platform"], s["snapshot"]) for s in streams] == [
        ("hotmart", False), ("hotmart", True), ("kiwify", False), ("kiwify", True),
        ("eduzz", False), ("eduzz", True), ("pix", False)]
    unioned = manifest["nodes"]["model.tallyhouse.int_transaction_events_unioned"]
    mapped = manifest["nodes"]["model.tallyhouse.int_transaction_events_mapped"]
    for stream in streams:
        assert f"model.tallyhouse.{stream['events']}" in unioned["depends_on"]["nodes"]
        assert f"model.tallyhouse.{stream['model']}" in mapped["depends_on"]["nodes"]


def _feed(declared: dict, name: str) -> dict:
    return next(f for s in declared["sources"] for f in s["feeds"] if f["name"] == name)


def _source(declared: dict, name: str) -> dict:
    return next(s for s in declared["sources"] if s["name"] == name)


def _reader_of_a_missing_model(declared):
    _feed(declared, "hotmart_webhooks")["readers"].append(
        {"model": "stg_hotmart__refund_events", "entity": "platform_transaction_id"})


def _feed_missing_from_the_sources_yml(declared):
    _source(declared, "eduzz")["feeds"].append(
        {"name": "eduzz_refunds", "format": "jsonl", "origin": "api"})


def _feed_dbt_still_declares(declared):
    _source(declared, "payouts")["feeds"].clear()


def _stream_of_a_missing_relation(declared):
    _feed(declared, "pix_payments")["readers"][0]["purchase_events"]["events"] = "int_pix__x"


def _readers_swapped(declared):
    payments, orders = _feed(declared, "pix_payments"), _feed(declared, "pix_orders")
    payments["readers"], orders["readers"] = orders["readers"], payments["readers"]


def _platform_without_seed_rows(declared):
    _feed(declared, "pix_payments")["readers"][0]["purchase_events"]["platform"] = "vtex"


def _delivered_feed_without_freshness(declared):
    _feed(declared, "hotmart_sales_summary")["origin"] = "delivered"


@pytest.mark.parametrize("break_it, expected", [
    (_reader_of_a_missing_model,
     "reader stg_hotmart__refund_events of feed hotmart_webhooks is no dbt model"),
    (_feed_missing_from_the_sources_yml,
     "feed eduzz_refunds of the registry is no table of dbt source eduzz "
     "(models/staging/<source>/_<source>__sources.yml)"),
    (_feed_dbt_still_declares,
     "dbt source table payouts.payout_lines (schema raw) is no feed of the registry"),
    (_stream_of_a_missing_relation, "purchase stream pix: events int_pix__x is no dbt model"),
    (_readers_swapped, "reader stg_pix__orders does not read source pix.pix_payments"),
    (_platform_without_seed_rows,
     "platform vtex has no rows in seeds/platform_status_mapping.csv"),
    (_delivered_feed_without_freshness,
     "dbt source hotmart.hotmart_sales_summary is delivered and has no freshness window "
     "(stale_sources would never report it)"),
])
def test_a_broken_declaration_is_caught(declared, manifest, break_it, expected):
    broken = copy.deepcopy(declared)
    break_it(broken)
    found = disagreements(broken, manifest)
    assert expected in found, found


def test_python_sources_not_from_the_registry_are_caught(declared, manifest):
    assert disagreements(declared, manifest, python_sources=SOURCES[:-1]) == [
        "tallyhouse.sources.SOURCES is not the registry's sources and feeds"]
