"""Work written as generators that pause between steps.

Long CPU-bound work (building 100k files, checking a huge folder) is written
as a generator that yields every few milliseconds. Run on a worker thread one
hand-off at a time, the event loop's thread gets the GIL between hand-offs;
run synchronously, :func:`finish` simply drives it to the end.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

__all__ = ["finish"]

T = TypeVar("T")


def finish(steps: Generator[None, None, T]) -> T:
    """Run ``steps`` to the end; return what the generator returns."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
