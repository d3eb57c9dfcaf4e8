"""Let the caller's event loop take the GIL from a thread that seldom lets go.

The SFTP flows run on a private asyncio loop's thread (``_sftp_bridge``).
With many requests in flight that thread is busy for long stretches: one
turn of its loop handles a hundred or more SFTP replies, and the requests
they trigger leave in one send at the end of the turn (``_sftp_wire``), so
no system call lets go of the GIL for milliseconds. The caller's loop, on
another thread, then waits for the GIL until CPython's switch interval
(5 ms) forces a hand-over: that was the p99 of a 1 ms ticker on the
caller's loop while 2,000 small files were checked and fetched (5.7 ms).

A short release now and then does not help: the waiting thread has to be
woken and scheduled before it can take the GIL, and a thread that goes
straight back to work takes it again first (``os.sched_yield`` measured no
better). Sleeping a few tens of microseconds is long enough for the waiter
to get in: calling :class:`Courtesy` once per reply, the thread sleeps 20 µs
every millisecond — p99 2.5-2.9 ms instead of 4.7-6.3 ms on both asyncio
and trio, for under 3 % of the thread's time (benchmarks/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Courtesy"]

#: Seconds of work between two pauses.
EVERY = 0.001
#: Seconds each pause lasts (without the GIL).
PAUSE = 2e-5


class Courtesy:
    """Call it once per unit of work on a busy thread: every ``every``
    seconds it sleeps ``pause`` seconds, which lets a thread waiting for
    the GIL take it. One per flow; not shared between threads."""

    __slots__ = ("_clock", "_every", "_next", "_pause", "_sleep")

    def __init__(
        self,
        every: float = EVERY,
        pause: float = PAUSE,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if every <= 0 or pause <= 0:
            raise ValueError("every and pause must be positive")
        self._every = every
        self._pause = pause
        self._clock = clock
        self._sleep = sleep
        self._next = clock() + every

    def __call__(self) -> None:
        self.at(self._clock())

    def at(self, now: float) -> None:
        """The same, for a caller that has just read the clock itself."""
        if now >= self._next:
            self._sleep(self._pause)
            self._next = self._clock() + self._every
