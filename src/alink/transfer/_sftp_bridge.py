"""A private asyncio event loop on a thread of its own, for asyncssh.

asyncssh runs on asyncio only, and alink runs on asyncio and trio. So every
SFTP connection gets an asyncio loop on a dedicated thread (anyio's blocking
portal), and *all* of its work — SSH, SFTP, the download and upload flows —
is anyio code that runs there, whichever loop the caller uses. The caller's
loop only starts jobs there and waits for them without blocking: a worker
thread waits for the job's result, so the caller's loop does next to
nothing while files move, and its latency is the best a transfer can give.

Cancellation crosses over: cancelling the waiting task cancels the job on
the private loop and waits (shielded) until the job has rolled back, so the
caller's ``except``/``finally`` runs after the cleanup, never during it.
Progress crosses back by polling: the job updates plain counters, and a task
on the caller's loop reports their changes to the caller's callbacks.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread

from ._engine import ProgressCallback

__all__ = ["Bridge", "Counters", "ProgressFailed", "report_progress"]

_T = TypeVar("_T")

#: How often the caller's loop looks at a running job's progress counters.
PUMP_SECONDS = 0.02
#: Calls of one connection that may wait for their jobs at once.
_WAITERS = 256


class _Cancelled(Exception):
    """The job was cancelled from the caller's side (never seen by callers)."""


class _Job:
    """One call of :meth:`Bridge.call`, as seen from the private loop."""

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False
        #: Set once the job has ended (and rolled back, if it had to).
        self.finished = threading.Event()

    async def run(
        self, func: Callable[..., Awaitable[_T]], args: tuple[Any, ...]
    ) -> _T:
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._cancelled:
                    scope.cancel()
                return await func(*args)
            raise _Cancelled
        finally:
            self.finished.set()

    def cancel(self) -> None:
        """On the private loop: cancel the job (before or while it runs)."""
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()


def _run_blocking(
    portal: anyio.from_thread.BlockingPortal,
    job: _Job,
    func: Callable[..., Awaitable[_T]],
    args: tuple[Any, ...],
) -> _T:
    """On a worker thread of the caller: run the job, wait for its outcome."""
    try:
        result: _T = portal.call(job.run, func, args)
        return result
    finally:
        job.finished.set()


class Bridge:
    """The private loop of one connection; start it with :meth:`start`."""

    def __init__(self) -> None:
        self._manager: (
            AbstractContextManager[anyio.from_thread.BlockingPortal] | None
        ) = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        #: The threads that wait for jobs: their own limit, so that many
        #: waiting calls never use up the default pool other code needs.
        self._waiting = anyio.CapacityLimiter(_WAITERS)

    async def start(self) -> None:
        """Start the loop's thread (from the caller's loop, without blocking it)."""
        manager = anyio.from_thread.start_blocking_portal("asyncio")
        self._portal = await anyio.to_thread.run_sync(manager.__enter__)
        self._manager = manager

    async def aclose(self) -> None:
        """Stop the loop and join its thread; shielded from cancellation."""
        manager, self._manager, self._portal = self._manager, None, None
        if manager is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    async def call(self, func: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """``await func(*args)`` on the private loop; its result or exception.

        If the caller is cancelled meanwhile, the job is cancelled too and
        this returns (raising the caller's cancellation) only once the job
        has finished, rollback included.
        """
        portal = self._portal
        if portal is None:
            raise RuntimeError("the SFTP connection is closed")
        job = _Job()
        try:
            return await anyio.to_thread.run_sync(
                _run_blocking,
                portal,
                job,
                func,
                args,
                abandon_on_cancel=True,
                limiter=self._waiting,
            )
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                waiting = self._waiting
                await anyio.to_thread.run_sync(portal.call, job.cancel, limiter=waiting)
                await anyio.to_thread.run_sync(job.finished.wait, limiter=waiting)
            raise


class ProgressFailed(Exception):
    """A progress callback raised: the job stops before its final step."""


@dataclass(slots=True)
class Counters:
    """Progress of a job, written on the private loop, read by the caller's.

    Plain integers: each write and read is atomic, and a report that is a
    moment late is harmless. ``total`` stays ``-1`` until the job knows it.

    Before its point of no return (renaming files into place), a job waits
    at :meth:`checkpoint` until the caller's loop has reported the final
    counts: a callback that raises then still fails the whole call and
    rolls it back, as with the local transfers, whose engine calls it inline.
    """

    done: int = 0
    total: int = -1
    bytes_done: int = 0
    bytes_total: int = -1
    verified: int = 0
    verify_total: int = -1
    #: Whether the caller's loop reports these counters (see report_progress).
    live: bool = False
    #: Whether the job waits at its checkpoint for a report.
    waiting: bool = False
    #: Whether a callback raised (set by the caller's loop).
    failed: bool = False
    resume: threading.Event = field(default_factory=threading.Event)
    #: Jobs on several private loops count into the same counters.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *, done: int = 0, bytes_done: int = 0, verified: int = 0) -> None:
        """Count work done (from any thread)."""
        with self.lock:
            self.done += done
            self.bytes_done += bytes_done
            self.verified += verified

    async def checkpoint(self) -> None:
        """On the private loop: wait until the current counts were reported.

        Raises:
            ProgressFailed: a progress callback raised.
        """
        if self.live and not self.failed:
            self.resume.clear()
            self.waiting = True
            try:
                await anyio.to_thread.run_sync(self.resume.wait, abandon_on_cancel=True)
            finally:
                self.waiting = False
        if self.failed:
            raise ProgressFailed


async def report_progress(
    counters: Counters,
    progress: ProgressCallback | None,
    byte_progress: ProgressCallback | None,
    verify_progress: ProgressCallback | None,
    finished: anyio.Event,
) -> None:
    """On the caller's loop: call the callbacks whenever the counters change,
    until ``finished`` is set (then once more, with the final counts).

    A callback's exception propagates, after marking the counters failed and
    letting a job waiting at its checkpoint go on (to stop).
    """
    last: list[tuple[int, int] | None] = [None, None, None]
    try:
        while True:
            done = finished.is_set()
            waiting = counters.waiting
            if counters.total >= 0:
                for k, callback, now in (
                    (0, progress, (counters.done, counters.total)),
                    (1, byte_progress, (counters.bytes_done, counters.bytes_total)),
                    (2, verify_progress, (counters.verified, counters.verify_total)),
                ):
                    if callback is not None and now[1] >= 0 and now != last[k]:
                        last[k] = now
                        callback(*now)
            if waiting:
                counters.resume.set()
            if done:
                return
            with anyio.move_on_after(PUMP_SECONDS):
                await finished.wait()
    except BaseException:
        counters.failed = True
        counters.resume.set()
        raise
