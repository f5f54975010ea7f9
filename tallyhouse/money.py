"""Amounts, counts, rates and dates as a person in Brazil reads them: one format (pt-BR)
for every currency, each amount with its own currency's symbol, never summed across
currencies.

``R$ 1.234,56``, ``US$ 1.234,56``, ``€ 1.234,56``; counts ``5.961``; rates ``16,8%``;
days ``02/12/2026``; months ``dez/2026``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

# the symbol of each currency; the separators are pt-BR's for all of them
CURRENCY_SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€", "GBP": "£"}
COUNTED_UNITS = ("records", "events", "transactions", "points", "reports", "hours")
MONTHS = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")


def is_currency(unit: str | None) -> bool:
    """A three-letter upper-case code (BRL, USD) is a currency; points, records are not."""
    return bool(unit) and len(unit) == 3 and unit.isalpha() and unit.isupper()


def format_amount(amount, unit: str | None) -> str:
    """``R$ 1.234,56`` for BRL, ``US$ 1.234,56`` for USD, ``1.234 points`` for points."""
    if amount is None:
        return "—"
    value = Decimal(str(amount))
    if not is_currency(unit):
        text = format_count(value)
        return f"{text} {unit}" if unit else text
    symbol = CURRENCY_SYMBOLS.get(unit, unit)
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol} {format_decimal(abs(value), 2)}"


def format_decimal(value, places: int = 2) -> str:
    """1234.5 -> ``1.234,50`` (pt-BR separators, rounded half up)."""
    quantum = Decimal(1).scaleb(-places)
    number = Decimal(str(value)).quantize(quantum, ROUND_HALF_UP)
    return _pt(f"{number:,.{places}f}")


def format_count(value) -> str:
    """5961 -> ``5.961``; None -> ``—``."""
    if value is None:
        return "—"
    whole = Decimal(str(value)).quantize(Decimal(1), ROUND_HALF_UP)
    return _pt(f"{whole:,}")


def format_rate(value, places: int = 1) -> str:
    """A share from 0 to 1 as a percentage: 0.168 -> ``16,8%``; None / NaN -> ``—``."""
    if value is None:
        return "—"
    number = Decimal(str(value))
    if not number.is_finite():
        return "—"
    return f"{format_decimal(number * 100, places)}%"


def format_date(value) -> str:
    """``02/12/2026``."""
    if value is None:
        return "—"
    day = value.date() if isinstance(value, datetime) else value
    return f"{day:%d/%m/%Y}"


def format_month(value) -> str:
    """``dez/2026``: a month in Portuguese, never ISO."""
    if value is None:
        return "—"
    day = value.date() if isinstance(value, datetime) else value
    if not isinstance(day, date):
        return str(value)
    return f"{MONTHS[day.month - 1]}/{day.year}"


def amounts_line(totals: dict, joiner: str = " + ") -> str:
    """``R$ 4.213,50 + US$ 20,50`` (currencies in a fixed order: BRL first, then by code)."""
    units = sorted(totals, key=lambda u: (u != "BRL", not is_currency(u), u))
    return joiner.join(format_amount(totals[u], u) for u in units)


def _pt(text: str) -> str:
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")
