"""Run a plan's filesystem operations on worker threads, all or nothing.

One engine serves every transfer: the operation (symlink, copy, hard link)
is the only thing that differs. The engine hands pairs to worker threads in
batches whose size adapts to how long a batch takes, so a batch stays short
(progress, cancellation, loop latency) yet long enough to amortise the thread
hand-off. Everything created is journalled; on failure or cancellation it is
undone under a shielded cancel scope before the one original exception
propagates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.to_thread

from . import _fs

__all__ = ["Engine", "ProgressCallback", "RunResult", "VerifyCallback"]

#: ``progress(done, total)``, called on the event loop after each batch.
ProgressCallback = Callable[[int, int], object]
#: ``verify(index, local_path)``, called on worker threads after all pairs exist.
VerifyCallback = Callable[[int, str], None]


def _timed(
    func: Callable[[int, int], object], start: int, stop: int
) -> tuple[BaseException | None, float]:
    """On a worker thread: run ``func(start, stop)`` and time it there.

    Timing inside the thread leaves out queueing and hand-off delays, which
    say nothing about how much work a batch should hold. A returned exception
    is passed on as the error; a raised one is caught and passed on too.
    """
    began = time.perf_counter()
    try:
        result = func(start, stop)
    except Exception as exc:
        return exc, time.perf_counter() - began
    error = result if isinstance(result, BaseException) else None
    return error, time.perf_counter() - began


@dataclass(slots=True)
class RunResult:
    """What a run did: how many pairs it created and how many were already done."""

    created: int
    already_done: int


@dataclass(slots=True)
class _Journal:
    """Everything a run created, so it can be undone."""

    #: ``[start, end]`` spans; a worker thread sets ``end`` when its batch stops.
    ranges: list[list[int]] = field(default_factory=list)
    already_done: list[int] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    #: Times of existing folders this run changes, to restore on rollback.
    times: dict[str, tuple[int, int]] = field(default_factory=dict)

    def created_indices(self) -> list[int]:
        skip = set(self.already_done)
        return [
            i
            for start, stop in self.ranges
            for i in range(start, stop)
            if i not in skip
        ]

    def created_count(self) -> int:
        return sum(b - a for a, b in self.ranges) - len(self.already_done)


@dataclass(slots=True)
class Engine:
    """Batching and concurrency settings; users normally keep the defaults.

    Attributes:
        workers: Worker threads used at once by one run. Creating entries in
            one folder serialises in the kernel, so more threads only help
            across folders or on high-latency storage.
        batch_seconds: Target duration of one batch: long enough to amortise
            a thread hand-off, short enough for prompt progress and
            cancellation.
        min_batch: Smallest batch size.
        max_batch: Largest batch size.
    """

    workers: int = 2
    batch_seconds: float = 0.004
    min_batch: int = 16
    max_batch: int = 16384

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if not 0 < self.min_batch <= self.max_batch:
            raise ValueError("need 0 < min_batch <= max_batch")

    def _next_size(self, size: int, elapsed: float) -> int:
        if elapsed <= 0:
            return min(self.max_batch, size * 4)
        factor = min(4.0, max(0.25, self.batch_seconds / elapsed))
        return max(self.min_batch, min(self.max_batch, math.ceil(size * factor)))

    async def run_chunked(
        self,
        func: Callable[[int, int], object],
        total: int,
        *,
        limiter: anyio.CapacityLimiter | None = None,
        initial: int = 1024,
    ) -> None:
        """Call ``func(start, stop)`` over ``range(total)`` in adaptive chunks, in
        order, one chunk at a time on a worker thread.

        For sequential work (planning, checking) that must stay interruptible
        and must not block the loop.
        """
        size = max(self.min_batch, min(self.max_batch, initial))
        start = 0
        while start < total:
            stop = min(total, start + size)
            error, elapsed = await anyio.to_thread.run_sync(
                _timed, func, start, stop, limiter=limiter
            )
            if error is not None:
                raise error
            size = self._next_size(size, elapsed)
            start = stop

    async def _run_parallel(
        self,
        batch: Callable[[int, int], BaseException | None],
        total: int,
        limiter: anyio.CapacityLimiter,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        """Run ``batch(start, stop)`` over ``range(total)`` on up to ``workers``
        threads; the first error a batch returns cancels the rest and is raised.
        """
        cursor = 0
        first_error: BaseException | None = None

        async def worker(scope: anyio.CancelScope) -> None:
            nonlocal cursor, first_error
            size = self.min_batch * 16
            while cursor < total and first_error is None:
                start = cursor
                stop = cursor = min(total, start + size)
                error, elapsed = await anyio.to_thread.run_sync(
                    _timed, batch, start, stop, limiter=limiter
                )
                if error is not None:
                    if first_error is None:
                        first_error = error
                    scope.cancel()
                    return
                size = self._next_size(size, elapsed)
                if on_batch is not None:
                    on_batch(stop - start)

        workers = min(self.workers, max(1, math.ceil(total / 256)))
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker, tg.cancel_scope)
        if first_error is not None:
            raise first_error

    async def run(
        self,
        operation: _fs.Operation,
        sources: Sequence[str],
        targets: Sequence[str],
        *,
        folders: Sequence[str] = (),
        progress: ProgressCallback | None = None,
        replace: Collection[int] = (),
        verify: VerifyCallback | None = None,
    ) -> RunResult:
        """Create ``folders`` (if missing), then apply ``operation`` to every pair.

        ``replace`` lists pairs whose existing target is replaced atomically
        (the old entry comes back if the run fails). ``verify`` is called for
        every pair once all exist; an exception from it fails the run.

        All or nothing: if anything fails or the caller is cancelled, what this
        run created is undone before the exception propagates (a plain
        exception, never an ``ExceptionGroup``).
        """
        total = len(sources)
        journal = _Journal()
        limiter = anyio.CapacityLimiter(self.workers)
        done = 0
        replacing = (
            _fs.ReplacingOperation(operation, {targets[i] for i in replace})
            if replace
            else None
        )
        active: _fs.Operation = replacing if replacing is not None else operation

        def apply(start: int, stop: int) -> BaseException | None:
            span = [start, start]
            journal.ranges.append(span)
            return _fs.apply_batch(
                active, sources, targets, span, stop, journal.already_done
            )

        def advanced(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, total)

        def check(start: int, stop: int) -> BaseException | None:
            assert verify is not None
            try:
                for i in range(start, stop):
                    verify(i, targets[i])
            except Exception as exc:
                return exc
            return None

        try:
            if folders:
                await self._make_folders(folders, journal, limiter)
            if progress is not None:
                progress(0, total)
            await self._run_parallel(apply, total, limiter, advanced)
            if verify is not None:
                await self._run_parallel(check, total, limiter)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._rollback(active, sources, targets, journal)
            raise
        if replacing is not None:
            # Past the point of no return: drop the backups of replaced entries.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(replacing.commit)
        return RunResult(
            created=journal.created_count(),
            already_done=len(journal.already_done),
        )

    async def _make_folders(
        self,
        folders: Sequence[str],
        journal: _Journal,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        await self.run_chunked(
            lambda a, b: _fs.ensure_dirs(folders[a:b], journal.dirs, journal.times),
            len(folders),
            limiter=limiter,
            initial=256,
        )

    async def _rollback(
        self,
        operation: _fs.Operation,
        sources: Sequence[str],
        targets: Sequence[str],
        journal: _Journal,
    ) -> None:
        indices = journal.created_indices()
        if indices:
            await self.run_chunked(
                lambda a, b: _fs.undo_batch(operation, sources, targets, indices[a:b]),
                len(indices),
            )
        if journal.dirs or journal.times:
            await anyio.to_thread.run_sync(
                _fs.restore_dirs, journal.dirs, journal.times
            )
