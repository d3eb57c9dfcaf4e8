"""Measure how long the event loop was blocked, with a ticker task.

The ticker sleeps for a short interval again and again; whenever it wakes up
late, something held the event loop for (about) that long. The worst delay
seen is the figure the demo reports.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["LoopLag", "measure_loop_lag"]


class LoopLag:
    """The worst lateness of the ticker (seconds) and the phase it happened in.

    Set :attr:`phase` as the work moves on, to learn *when* the loop was
    blocked longest.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.worst = 0.0
        self.worst_phase = ""
        self.phase = ""
        self.ticks = 0

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await anyio.sleep(self.interval)
            late = time.perf_counter() - start - self.interval
            self.ticks += 1
            if late > self.worst:
                self.worst = late
                self.worst_phase = self.phase


@asynccontextmanager
async def measure_loop_lag(interval: float = 0.001) -> AsyncIterator[LoopLag]:
    """Tick every ``interval`` seconds while the block runs."""
    lag = LoopLag(interval)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lag._tick)
        try:
            yield lag
        finally:
            tg.cancel_scope.cancel()
