"""Amounts as a person reads them: per currency, never summed across currencies."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# symbol, thousands separator, decimal separator
CURRENCY_FORMATS = {
    "BRL": ("R$", ".", ","),
    "USD": ("US$", ",", "."),
    "EUR": ("€", ".", ","),
    "GBP": ("£", ",", "."),
}


def format_amount(amount, unit: str | None) -> str:
    """``R$ 1.234,56`` for BRL, ``US$ 1,234.56`` for USD, ``1.234 points`` for points."""
    if amount is None:
        return "—"
    value = Decimal(str(amount))
    if unit in (None, "", "records", "events", "transactions", "points", "reports"):
        text = _group(f"{value.quantize(Decimal(1), ROUND_HALF_UP):,}", ".", ",")
        return f"{text} {unit}" if unit else text
    symbol, thousands, decimal = CURRENCY_FORMATS.get(unit, (unit, ",", "."))
    sign = "-" if value < 0 else ""
    text = _group(f"{abs(value).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}", thousands,
                  decimal)
    return f"{sign}{symbol} {text}"


def _group(text: str, thousands: str, decimal: str) -> str:
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)
