"""Numbers for people: sizes, counts, durations and rates."""

from __future__ import annotations

__all__ = ["count", "duration", "plural", "rate", "size"]

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes below 1 KiB stay exact (``"10 B"``)."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def count(n: int) -> str:
    """``20000`` -> ``"20,000"``."""
    return f"{n:,}"


def plural(n: int, word: str) -> str:
    """``plural(1, "file")`` -> ``"1 file"``, ``plural(2, "file")`` -> ``"2 files"``."""
    return f"{count(n)} {word}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """``0.1234`` -> ``"0.12 s"``, ``0.0012`` -> ``"1.2 ms"``,
    ``75`` -> ``"1 min 15 s"``."""
    if seconds < 0.1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def rate(n: int, seconds: float, unit: str = "files/s") -> str:
    """``n`` per second, rounded for reading (``"142,000 files/s"``)."""
    if seconds <= 0:
        return f"- {unit}"
    per_second = n / seconds
    if per_second >= 1000:
        per_second = round(per_second, -3)
    return f"{per_second:,.0f} {unit}"
