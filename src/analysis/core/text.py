"""Reader text: numbers, intervals and data values as leadership reads them.

Every number that reaches a reader goes through these formatters. A value that does
not exist (None, NaN, infinite, NaT, pandas NA) is never printed as ``nan``/``None``:
it becomes :data:`NOT_AVAILABLE` or, better, the caller's stated reason. An interval
is shown only when both ends exist and differ; a zero-width interval is not a 95%
interval and is not shown as one.

:func:`reader_text_problems` finds what must never appear in reader text; tests run it
over rendered packs.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

NOT_AVAILABLE = "not available"


def finite(x: Any) -> float | None:
    """``x`` as a float if it is a finite number, else None (None, NaN, inf, NA, NaT, text)."""
    if x is None or isinstance(x, bool | str):
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def pct(x: Any, decimals: int = 1, missing: str = NOT_AVAILABLE) -> str:
    """A share (0.25) as a percentage ("25.0%")."""
    value = finite(x)
    return missing if value is None else f"{100 * value:.{decimals}f}%"


def money(x: Any, missing: str = NOT_AVAILABLE) -> str:
    """An amount, abbreviated from thousands on (1.2k, 3.4m, 5.6bn)."""
    value = finite(x)
    if value is None:
        return missing
    sign = "-" if value < 0 else ""
    value = abs(value)
    for limit, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if value >= limit:
            return f"{sign}{value / limit:.1f}{suffix}"
    return f"{sign}{value:,.0f}"


def count(x: Any, missing: str = NOT_AVAILABLE) -> str:
    """A whole count with thousands separators."""
    value = finite(x)
    return missing if value is None else f"{round(value):,}"


def number(x: Any, digits: int = 3, missing: str = NOT_AVAILABLE) -> str:
    """A number to ``digits`` significant digits ("1.06", "0.0421")."""
    value = finite(x)
    return missing if value is None else f"{value:.{digits}g}"


def has_interval(low: Any, high: Any) -> bool:
    """True when both ends exist and the interval has width (a 0-width interval is none)."""
    a, b = finite(low), finite(high)
    return a is not None and b is not None and b > a


def span(low: Any, high: Any, fmt=number, missing: str = "no interval") -> str:
    """"a to b" (a table's interval column), or ``missing`` when there is no real interval."""
    return f"{fmt(low)} to {fmt(high)}" if has_interval(low, high) else missing


def interval(low: Any, high: Any, fmt=number, level: float = 0.95) -> str:
    """"95% interval a to b", or "" when there is no real interval to show."""
    if not has_interval(low, high):
        return ""
    return f"{100 * level:.0f}% interval {span(low, high, fmt)}"


_MATHTEXT = re.compile(r"([$\\^_{}])")


def chart_label(text: Any) -> str:
    """A data value (a channel, a category) made safe for a matplotlib label.

    House style turns math text off (``text.parse_math``); this escapes the dollar sign
    and the other math-text characters as well, for figures drawn outside the style."""
    value = NOT_AVAILABLE if text is None else str(text)
    return _MATHTEXT.sub(r"\\\1", value) if "$" in value else value


def html_text(text: Any) -> str:
    """A data value escaped for an HTML table or paragraph."""
    return html.escape(NOT_AVAILABLE if text is None else str(text))


_FORBIDDEN = re.compile(
    r"(?<![\w-])(nan%?|NaN|None|NaT|<NA>|-?inf|-?Infinity)(?![\w-])"
    r"|np\.float64\(|np\.int64\(|dtype:|array\(",
)


def reader_text_problems(text: str) -> list[str]:
    """The fragments of ``text`` that must never reach a reader, each with its context."""
    found = []
    for match in _FORBIDDEN.finditer(text):
        start, end = max(match.start() - 40, 0), min(match.end() + 40, len(text))
        found.append(text[start:end].replace("\n", " "))
    return found
