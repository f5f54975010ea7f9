"""breaks.csv is safe in a spreadsheet that splits on "," or on ";" (Excel in pt-BR): no
cell, however the file is split, starts a formula (issue 23)."""

from __future__ import annotations

import csv
import re
import unicodedata
from decimal import Decimal

import psycopg2
import pytest

from tallyhouse.reconciliation.report import spreadsheet_safe, write_report
from tallyhouse.reconciliation.runner import DDL

HOSTILE = [
    # (a value, what it becomes)
    ("=1+2", "'=1+2"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    # a formula after ";" is a cell of its own when the file is split on ";"
    ("X;=cmd|' /C calc'!A0", "X;'=cmd|' /C calc'!A0"),
    ("X,=cmd|' /C calc'!A0", "X,'=cmd|' /C calc'!A0"),
    ("a;b;@x", "a;b;'@x"),
    # leading whitespace, quotes
    (" =3+3", "' =3+3"),
    ("\u00a0=3+3", "'\u00a0=3+3"),
    ("X; =3+3", "X;' =3+3"),
    ('X;"=3+3"', "X;'\"=3+3\""),
    # full-width (and small) forms: NFKC makes them = + - @
    ("＝4+4", "'＝4+4"),
    ("＋4+4", "'＋4+4"),
    ("－4+4", "'－4+4"),
    ("＠SUM(A1)", "'＠SUM(A1)"),
    ("X;＝4+4", "X;'＝4+4"),
    ("\ufe66 1+1", "'\ufe66 1+1"),
    # tabs and line breaks: a cell of their own for some readers
    ("\t=x", "'\t'=x"),
    ("\r=x", "'\r'=x"),
    ("note\n=1+1", "note\n'=1+1"),
    ("note\r\n@x", "note\r\n'@x"),
    ("a\t+SUM(1)", "a\t'+SUM(1)"),
    # a number is a cell of its own only when it is the whole value
    ("a; -5", "a;' -5"),
    ("b\n+1", "b\n'+1"),
    ("-Infinity", "'-Infinity"),
]

CLEAN = [
    "-12.50", "+3", "12.5", "-0.50", "-1e3", " -7 ", "expected 10, got -5",
    "hotmart/hotmart_webhooks_2026-11-23.jsonl", "HP-1029384", "a@example.com",
    "refunded more than the customer paid", "price − fee", "it's fine", "'=already text",
    "X;Y", "", "R$ 1.234,56",
]


@pytest.mark.parametrize(("value", "safe"), HOSTILE)
def test_a_value_that_would_start_a_formula_gets_an_apostrophe(value, safe):
    assert spreadsheet_safe(value) == safe


@pytest.mark.parametrize("value", CLEAN)
def test_clean_values_and_negative_amounts_stay_as_they_are(value):
    assert spreadsheet_safe(value) == value


def test_numbers_stay_numbers():
    for number in (Decimal("-12.50"), Decimal("0"), -3, 2.5, True):
        assert spreadsheet_safe(number) is number
    assert spreadsheet_safe(None) == ""
    assert spreadsheet_safe(Decimal("-Infinity")) == "'-Infinity"


NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _runs(cell: str) -> bool:
    """A cell a spreadsheet would run: a tab or line break first, or = + - @ (in any
    Unicode form) after spaces and quotes, unless it is a plain number."""
    if cell[:1] in ("\t", "\r", "\n", "\0"):
        return True
    lead = unicodedata.normalize("NFKC", cell).lstrip().lstrip('"').lstrip()
    return lead[:1] in ("=", "+", "-", "@") and not NUMBER.fullmatch(cell.strip())


def _cells(text: str) -> dict[str, list[str]]:
    """Every cell of a CSV text as readers split it: on "," and on ";" (quotes honoured),
    and as a reader that ignores quotes would, on any separator or line break."""
    cells = {}
    for delimiter in (",", ";"):
        rows = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
        cells[delimiter] = [cell for row in rows for cell in row]
    cells["naive"] = re.split(r"\r\n|[,;\t\r\n]", text)
    return cells


@pytest.mark.parametrize(("value", "_"), HOSTILE)
def test_no_split_of_a_written_cell_starts_a_formula(value, _, tmp_path):
    path = tmp_path / "one.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["run", spreadsheet_safe(value), Decimal("-12.50")])
    for reader, cells in _cells(path.read_text(encoding="utf-8")).items():
        assert not [c for c in cells if _runs(c)], (reader, value, cells)


def test_breaks_csv_is_safe_split_on_comma_and_on_semicolon(database_url, tmp_path):
    """A real breaks.csv, through the report writer, with hostile entity ids and details."""
    run_id = "hostile-csv"
    entities = ["X;=cmd|' /C calc'!A0", " =3+3", "＝4+4", "a,＠SUM(A1)", "b\n+1", "c\t-1+x",
                'd;"=2+2"', "TX-123"]
    details = ["ok;-cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example")', "＋1 ; ＝2",
               "paid -12.50", "", "line\r\n@x", "fine", "price − fee"]
    with psycopg2.connect(database_url) as connection, connection.cursor() as cur:
        cur.execute(DDL)
        # the report also reads the books' totals; the breaks are all the CSV is made of
        cur.execute("create table marts.fct_transactions (platform text, currency_code text, "
                    "offer_price numeric, has_been_approved boolean)")
        cur.execute("insert into marts.rpt_reconciliation_summary (run_id, run_at, check_name, "
                    "invariant, severity, checked_table, description, passed, break_count, "
                    "duration_seconds) values (%s, now(), 'money_formulas', 2, 'WARN', "
                    "'marts.rpt_money_breaks', 'x', false, %s, 0)", (run_id, len(entities)))
        for entity, detail in zip(entities, details, strict=True):
            cur.execute("insert into marts.rpt_reconciliation_breaks (run_id, run_at, "
                        "check_name, invariant, severity, break_kind, entity_type, entity_id, "
                        "platform, currency_code, expected, actual, difference, "
                        "amount_at_stake, detail) values (%s, now(), 'money_formulas', 2, "
                        "'WARN', 'net_formula', 'transaction', %s, '=kiwify', 'BRL', 10, "
                        "22.5, -12.50, 12.50, %s)", (run_id, entity, detail))
    written = write_report(database_url, run_id, root=tmp_path)
    assert written.breaks == len(entities)
    text = written.csv_path.read_text(encoding="utf-8")
    cells = _cells(text)
    for reader in (",", ";", "naive"):
        assert not [c for c in cells[reader] if _runs(c)], (reader, text)

    with written.csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["difference"] for r in rows} == {"-12.50"}, "a negative amount stays a number"
    assert {r["amount_at_stake"] for r in rows} == {"12.50"}
    assert {r["platform"] for r in rows} == {"'=kiwify"}
    assert sorted(r["entity_id"] for r in rows) == sorted(spreadsheet_safe(e) for e in entities)
    assert "TX-123" in {r["entity_id"] for r in rows} and "paid -12.50" in {
        r["detail"] for r in rows}, "clean values unchanged"
    # only apostrophes were added: without them, every value is as stored
    assert sorted(r["entity_id"].replace("'", "") for r in rows) == sorted(
        e.replace("'", "") for e in entities)
