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

import errno
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread

from .._groups import task_group
from . import _fs
from ._gil import Courtesy

__all__ = ["Engine", "Finisher", "ProgressCallback", "RunResult", "VerifyCallback"]

#: ``progress(done, total)``, called on the event loop after each batch.
ProgressCallback = Callable[[int, int], object]
#: ``verify(index, local_path)``, called on worker threads after all pairs exist.
VerifyCallback = Callable[[int, str], None]


class Finisher(Protocol):
    """A last step of a run, after every pair exists (on a worker thread).

    For example showing folders that were built under a hidden name.
    """

    def commit(self) -> None:
        """Finish the run; on failure, :meth:`undo` takes back what it did."""

    def undo(self) -> list[BaseException]:
        """Take back :meth:`commit` (before the run's own rollback)."""

    def restore(self, undone: bool) -> list[BaseException]:
        """Tidy up after the run's own rollback (``undone``: it left nothing)."""


#: Items in a worker's first batch; later batches adapt to how long it took.
_FIRST_BATCH = 64
#: Pieces one chunk of sequential work is run in (a courtesy after each).
_PIECES = 4


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _timed(
    func: Callable[[int, int], object], start: int, stop: int
) -> tuple[BaseException | None, float, float]:
    """On a worker thread: run ``func`` over ``range(start, stop)``; time it there.

    The range goes to ``func`` in a few consecutive pieces with a
    :class:`~._gil.Courtesy` between them: such work holds the GIL, and a
    pause every millisecond lets the event loop's thread in without
    waiting for the end of the chunk (see ``_gil``).

    Returns ``(error, wall seconds, thread CPU seconds)``. Timing inside the
    thread leaves out queueing and hand-off delays; CPU time tells waiting on
    I/O (more threads help) from working (more threads only contend). A
    returned or raised exception is passed on as the error, and the rest of
    the range is not run.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    courtesy = Courtesy()
    step = max(1, -(-(stop - start) // _PIECES))
    error: BaseException | None = None
    for first in range(start, stop, step):
        try:
            result = func(first, min(stop, first + step))
        except Exception as exc:
            result = exc
        if isinstance(result, BaseException):
            error = result
            break
        courtesy()
    return error, time.perf_counter() - wall, time.thread_time() - cpu


def _advance(steps: Iterator[object], seconds: float) -> tuple[bool, float, float]:
    """On a worker thread: run steps for about ``seconds``.

    Every millisecond or so the thread pauses briefly between two steps, so
    the event loop's thread gets the GIL without waiting for the end of the
    hand-off (:class:`~._gil.Courtesy`; one clock reading serves both).

    Returns ``(more to do, wall seconds, thread CPU seconds)``.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    deadline = wall + seconds
    courtesy = Courtesy()
    clock = time.perf_counter
    more = False
    for _ in steps:
        now = clock()
        if now >= deadline:
            more = True
            break
        courtesy.at(now)
    return more, time.perf_counter() - wall, time.thread_time() - cpu


class _SharedJobs:
    """Jobs (generators of steps) handed out to several worker threads."""

    def __init__(self, jobs: Iterable[Iterator[object]]) -> None:
        self._jobs = iter(jobs)
        self._lock = threading.Lock()

    def _next(self) -> Iterator[object] | None:
        with self._lock:
            return next(self._jobs, None)

    def steps(self) -> Iterator[object]:
        """One worker's steps: whole jobs, one after another, until none is left."""
        while (job := self._next()) is not None:
            yield from job


class _Ranges:
    """Consecutive ranges of ``range(total)``, taken by worker threads."""

    __slots__ = ("_lock", "_next", "_total")

    def __init__(self, total: int) -> None:
        self._total = total
        self._next = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> tuple[int, int] | None:
        """The next ``size`` items (fewer at the end); ``None`` when none are left."""
        with self._lock:
            start = self._next
            if start >= self._total:
                return None
            self._next = stop = min(self._total, start + size)
        return start, stop

    def left(self) -> int:
        """How many items nobody has taken yet."""
        return self._total - self._next

    def close(self) -> None:
        """Hand out nothing more (a worker failed)."""
        with self._lock:
            self._next = self._total


def _run_slice(
    batch: Callable[[int, int], BaseException | None],
    ranges: _Ranges,
    size: int,
    next_size: Callable[[int, float], int],
    seconds: float,
    cancelled: type[BaseException],
) -> tuple[int, int, BaseException | None, float, float]:
    """On a worker thread: run batches taken from ``ranges`` for about ``seconds``.

    Going straight on to the next batch, instead of a round trip through the
    event loop after each one, keeps the thread busy when the loop's thread
    waits for a CPU (both cores creating entries). Stops early when the
    awaiting task is cancelled, between two batches.

    Returns ``(items done, next batch size, error, wall seconds, thread CPU
    seconds)``; the error is the one a batch returned, or one it raised.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    deadline = wall + seconds
    done = 0
    error: BaseException | None = None
    while (taken := ranges.take(size)) is not None:
        start, stop = taken
        began = time.perf_counter()
        try:
            error = batch(start, stop)
        except Exception as exc:
            error = exc
        if error is not None:
            break
        now = time.perf_counter()
        done += stop - start
        size = next_size(size, now - began)
        if now >= deadline or _cancelled(cancelled):
            break
    return done, size, error, time.perf_counter() - wall, time.thread_time() - cpu


def _cancelled(cancelled: type[BaseException]) -> bool:
    """On a worker thread: whether the task awaiting it has been cancelled."""
    try:
        anyio.from_thread.check_cancelled()
    except cancelled:
        return True
    return False


#: What :meth:`_PairTrial.observe` asks for: start the second worker, stop
#: it, or nothing.
_TrialStep = Literal["pair", "retire", ""]


class _PairTrial:
    """Whether a second worker makes fast items go faster: measured, not assumed.

    Two threads create symlinks 1.5 to 1.9 times as fast as one on machines
    where the kernel's share of the work dominates, but on others they only
    fight over the GIL and together go slower than one alone. So a run
    starts with one worker, notes its rate over a couple of slices, adds the
    second, and keeps it only if the pair beats the lone worker by ``gain``.
    A pair that was retired is tried again after a while (twice as long
    each time): one slice on a shared machine is a small sample, and a
    verdict taken in a moment of contention should not hold for a run of
    minutes. Pure bookkeeping (no clock of its own): easy to test.
    """

    __slots__ = (
        "_after",
        "_gain",
        "_paired_at",
        "_retries",
        "_solo",
        "_solo_from",
        "_solo_slices",
        "_together",
        "verdict",
    )

    #: Slices the lone worker runs before the second one starts (the first
    #: one's batches are still growing).
    SOLO_SLICES = 2
    #: Solo slices after a retirement before the pair is tried again (then
    #: twice as many after each further retirement).
    RETRY_SLICES = 8

    def __init__(self, gain: float) -> None:
        self._gain = gain
        self._solo = 0.0
        self._solo_slices = 0
        self._after = self.SOLO_SLICES
        self._retries = 0
        #: Slices begun before this ran (partly) beside the retired worker.
        self._solo_from = float("-inf")
        self._paired_at: float | None = None
        self._together: dict[int, float] = {}
        #: ``None`` while undecided, ``True`` once the pair is kept, ``False``
        #: while it is retired (it may be tried again).
        self.verdict: bool | None = None

    def observe(
        self, worker: int, began: float, done: int, seconds: float
    ) -> _TrialStep:
        """Record a slice of ``done`` items that took ``seconds`` (begun at ``began``).

        Returns ``"pair"`` when the second worker should start now (the
        caller then calls :meth:`paired`), ``"retire"`` when it should stop,
        else ``""``.
        """
        if self.verdict is True or done <= 0 or seconds <= 0:
            return ""
        rate = done / seconds
        if self._paired_at is None:
            if began < self._solo_from:
                return ""  # it ran beside the worker just retired
            self._solo = max(self._solo, rate)
            self._solo_slices += 1
            return "pair" if self._solo_slices >= self._after else ""
        if began < self._paired_at:
            return ""  # this slice ran partly alone
        self._together[worker] = rate
        if len(self._together) < 2:
            return ""
        if sum(self._together.values()) >= self._solo * self._gain:
            self.verdict = True
            return ""
        self.verdict = False
        self._after = self.RETRY_SLICES << self._retries
        self._retries += 1
        self._solo_from = began + seconds
        self._paired_at = None
        self._together.clear()
        self._solo = 0.0
        self._solo_slices = 0
        return "retire"

    def paired(self, now: float) -> None:
        """The second worker started (or, not gone yet, stays) at ``now``."""
        self._paired_at = now


@dataclass(slots=True)
class RunResult:
    """What a run did with its pairs.

    Attributes:
        created: Pairs this run made, ``replaced`` ones included.
        already_done: Pairs already in the wanted state, left untouched (a
            symlink to the same file; an identical copy).
        replaced: Existing entries this run replaced (see ``replace=``).
    """

    created: int
    already_done: int
    replaced: int = 0


@dataclass(slots=True)
class _Journal:
    """Everything a run created, so it can be undone."""

    #: ``[start, end]`` spans; a worker thread sets ``end`` when its batch stops.
    ranges: list[list[int]] = field(default_factory=list)
    already_done: list[int] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    #: Times of existing folders this run changes, to restore on rollback.
    times: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Identity of every folder the run uses, to detect folders swapped mid-run.
    ids: dict[str, _fs.Identity] = field(default_factory=dict)

    def created_count(self) -> int:
        return sum(b - a for a, b in self.ranges) - len(self.already_done)


@dataclass(slots=True)
class Engine:
    """Batching and concurrency settings; users normally keep the defaults.

    A run starts with ``start_workers`` threads. Left at ``None``, a run
    with two or more CPUs tries both: on some machines two threads create
    symlinks 1.5 (one folder) to 1.9 (many folders) times as fast as one,
    because most of the work happens in the kernel, outside the GIL; on
    others they only contend for the GIL and are slower than one. The run
    starts one worker, adds a second, and keeps it only if the pair is
    faster by ``pair_gain`` (see ``_PairTrial``).
    When items turn out to be slow, the run adds workers: while they work
    (large copies), up to one per CPU but one (which stays free for the
    event loop); while they mostly wait (network storage), up to
    ``max_workers``, as more threads overlap the waiting without contending
    for the GIL.

    Attributes:
        max_workers: Most worker threads one run uses at once.
        start_workers: Worker threads a run starts with; ``None`` means two
            when this process may use two or more CPUs, else one.
        slow_item_seconds: Per-item time above which a run adds a worker.
        batch_seconds: Target duration of one batch, the unit of undo and of
            cancellation: long enough to amortise its bookkeeping, short
            enough for prompt cancellation.
        slice_seconds: How long a worker thread goes on taking batches before
            it reports progress to the event loop (at least one batch; ``0``
            reports after every batch).
        min_batch: Smallest batch size.
        max_batch: Largest batch size.
        pair_gain: With ``start_workers=None``, the second worker is kept
            only while the pair runs fast items at least this many times as
            fast as one worker alone (measured at the start of each run).
    """

    max_workers: int = 8
    start_workers: int | None = None
    slow_item_seconds: float = 50e-6
    batch_seconds: float = 0.004
    slice_seconds: float = 0.025
    min_batch: int = 8
    max_batch: int = 16384
    pair_gain: float = 1.15

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if not 0 < self.min_batch <= self.max_batch:
            raise ValueError("need 0 < min_batch <= max_batch")
        if self.start_workers is not None and self.start_workers < 1:
            raise ValueError("start_workers must be at least 1")
        if not self.pair_gain > 0:
            raise ValueError("pair_gain must be above 0")

    def _start_workers(self, total: int) -> int:
        """How many workers a run of ``total`` items starts with."""
        wanted = self.start_workers
        if wanted is None:
            wanted = 2 if _usable_cpus() >= 2 else 1
        # A second worker only pays off once each has a few batches to do.
        return max(1, min(wanted, self.max_workers, total // _FIRST_BATCH // 2))

    def _next_size(self, size: int, elapsed: float) -> int:
        """The size of the next batch, so that it lasts about ``batch_seconds``."""
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
        and must not block the loop. Chunks last about ``batch_seconds``: such
        work holds the GIL, and the end of a chunk is where the event loop's
        thread gets it without waiting for the interpreter's 5 ms switch
        interval.
        """
        size = max(self.min_batch, min(self.max_batch, initial))
        start = 0
        while start < total:
            stop = min(total, start + size)
            error, elapsed, _ = await anyio.to_thread.run_sync(
                _timed, func, start, stop, limiter=limiter
            )
            if error is not None:
                raise error
            size = self._next_size(size, elapsed)
            start = stop

    async def run_steps(
        self,
        jobs: Iterable[Iterator[object]],
        *,
        limiter: anyio.CapacityLimiter | None = None,
        workers: int = 1,
    ) -> bool:
        """Drive generators of work steps on worker threads to their ends.

        Each hand-off runs steps for about ``batch_seconds``, so long
        sequential work (listing a huge folder) stays interruptible, and the
        event loop's thread gets the GIL between hand-offs instead of waiting
        for the interpreter's switch interval. Jobs start on one worker;
        while steps mostly wait on I/O (high-latency storage), more workers
        take further jobs at once, up to ``max_workers``; ``workers`` start
        at once (a caller that knows the storage is slow). The first error
        stops the rest and is raised.

        Returns whether the steps mostly waited (slow storage: their threads
        ran for under a quarter of their time): a next batch of jobs on the
        same storage may start with more workers.
        """
        pending = _SharedJobs(jobs)
        limiter = limiter or anyio.CapacityLimiter(self.max_workers)
        workers = max(1, min(workers, self.max_workers))
        first_error: BaseException | None = None
        totals = [0.0, 0.0]  # wall and thread CPU seconds of every hand-off

        async def worker(tg: anyio.abc.TaskGroup) -> None:
            nonlocal workers, first_error
            # Small jobs (a folder of ten files) share a hand-off: the worker's
            # steps run through job after job until the time budget is spent.
            steps = pending.steps()
            more = True
            while more:
                try:
                    more, wall, cpu = await anyio.to_thread.run_sync(
                        _advance, steps, self.batch_seconds, limiter=limiter
                    )
                except Exception as exc:
                    first_error = first_error or exc
                    tg.cancel_scope.cancel()
                    return
                totals[0] += wall
                totals[1] += cpu
                if (
                    more
                    and workers < self.max_workers
                    and wall > self.slow_item_seconds * 20
                    and cpu < wall / 2
                ):
                    workers += 1
                    tg.start_soon(worker, tg)

        async with task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker, tg)
        if first_error is not None:
            raise first_error
        # Waiting for three quarters of the time or more: a thread that only
        # waits for a CPU on a busy machine (it gets half of one or more) is
        # not taken for slow storage.
        wall, cpu = totals
        return wall > self.slow_item_seconds * 40 and cpu < wall / 4

    async def _run_parallel(
        self,
        batch: Callable[[int, int], BaseException | None],
        total: int,
        limiter: anyio.CapacityLimiter,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        """Run ``batch(start, stop)`` over ``range(total)`` on worker threads.

        Starts with :meth:`_start_workers` workers (with ``start_workers``
        left at ``None``: one, then a second kept only if it pays off, see
        :class:`_PairTrial`) and adds more (up to ``max_workers``) while
        items are slow. The first error a batch returns stops the others and
        is raised.
        """
        ranges = _Ranges(total)
        workers = 0
        wanted = self._start_workers(total)
        first_error: BaseException | None = None
        cancelled = anyio.get_cancelled_exc_class()
        trial: _PairTrial | None = None
        #: Where a trial that finds slow items leaves off: the default start.
        planned = wanted
        if self.start_workers is None and wanted >= 2:
            trial = _PairTrial(self.pair_gain)
            wanted = 1
        ids = itertools.count()

        async def worker(tg: anyio.abc.TaskGroup, size: int) -> None:
            nonlocal workers, wanted, first_error, trial
            me = next(ids)
            while first_error is None:
                if workers > wanted:
                    workers -= 1  # retired: the pair was no faster
                    return
                began = time.perf_counter()
                done, size, error, wall, cpu = await anyio.to_thread.run_sync(
                    _run_slice,
                    batch,
                    ranges,
                    size,
                    self._next_size,
                    self.slice_seconds,
                    cancelled,
                    limiter=limiter,
                )
                if done and on_batch is not None and error is None:
                    try:
                        on_batch(done)
                    except BaseException as exc:  # e.g. a progress callback
                        # A SystemExit or KeyboardInterrupt too: the first
                        # error wins and is raised alone, like a batch's.
                        error = exc
                if error is not None:
                    first_error = first_error or error
                    ranges.close()
                    tg.cancel_scope.cancel()
                    return
                left = ranges.left()
                if not left:
                    return
                slow = wall > self.slow_item_seconds * max(1, done)
                if trial is not None and slow:
                    # Slow items (hashing, large copies, slow storage): no
                    # trial; the workers a run starts with by default, then
                    # the rule below.
                    trial = None
                    if workers < planned and left > size:
                        wanted = workers = workers + 1
                        tg.start_soon(worker, tg, size)
                        continue
                if trial is not None:
                    step = trial.observe(me, began, done, wall)
                    if step == "pair" and left > size:
                        wanted = 2
                        trial.paired(time.perf_counter())
                        if workers < 2:  # else the retired one has not left
                            workers += 1
                            tg.start_soon(worker, tg, size)
                        continue
                    if step == "retire":
                        wanted = 1
                        continue
                if (
                    workers < self.max_workers
                    and slow
                    # Waiting (slow storage): threads overlap the waits.
                    # Working (large copies): a thread per CPU but one, which
                    # stays free for the event loop.
                    and (cpu < wall / 2 or workers < _usable_cpus() - 1)
                    and left > size
                ):
                    wanted = workers = workers + 1
                    tg.start_soon(worker, tg, size)

        first = max(self.min_batch, min(self.max_batch, _FIRST_BATCH))
        async with task_group() as tg:
            workers = wanted
            for _ in range(workers):
                tg.start_soon(worker, tg, first)
        if first_error is not None:
            raise first_error

    async def run(
        self,
        operation: _fs.Operation,
        sources: Sequence[str],
        targets: Sequence[str],
        *,
        folders: Sequence[str] = (),
        fresh: Collection[str] = (),
        progress: ProgressCallback | None = None,
        replace: Collection[int] = (),
        verify: VerifyCallback | None = None,
        finish: Finisher | None = None,
        verify_progress: ProgressCallback | None = None,
    ) -> RunResult:
        """Create ``folders`` (if missing), then apply ``operation`` to every pair.

        Folders at or below one in ``fresh`` must be made by this run (see
        :func:`~alink.transfer._fs.ensure_dirs`).

        ``replace`` lists pairs whose existing target is replaced atomically
        (the old entry comes back if the run fails). Once every pair exists,
        ``finish.commit()`` runs, shielded from cancellation; then ``verify``
        is called for every pair, and an exception from it fails the run;
        ``verify_progress(done, total)`` follows it on the event loop.

        All or nothing: if anything fails or the caller is cancelled, what this
        run created is undone before the exception propagates (a plain
        exception, never an ``ExceptionGroup``).
        """
        total = len(sources)
        journal = _Journal()
        limiter = anyio.CapacityLimiter(self.max_workers)
        done = 0
        replacing = (
            _fs.ReplacingOperation(operation, _chosen(targets, replace))
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

        verified = 0

        def checked(count: int) -> None:
            nonlocal verified
            verified += count
            if verify_progress is not None:
                verify_progress(verified, total)

        def check(start: int, stop: int) -> BaseException | None:
            assert verify is not None
            try:
                for i, target in zip(
                    range(start, stop), targets[start:stop], strict=True
                ):
                    verify(i, target)
            except BaseException as exc:  # like a batch's: returned, never raised
                return exc
            return None

        try:
            if folders:
                await self._make_folders(folders, fresh, journal, limiter)
            if progress is not None:
                progress(0, total)
            await self._run_parallel(apply, total, limiter, advanced)
            if finish is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(finish.commit)
            if verify is not None:
                if verify_progress is not None:
                    verify_progress(0, total)
                await self._run_parallel(check, total, limiter, checked)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                problems = []
                if finish is not None:
                    problems += await anyio.to_thread.run_sync(_steps, finish.undo)
                problems += await self._rollback(active, sources, targets, journal)
                if finish is not None:
                    # A folder's time not put back leaves no entry behind.
                    undone = not _fs.left_behind(problems)
                    problems += await anyio.to_thread.run_sync(
                        _steps, lambda: finish.restore(undone)
                    )
            for note in _rollback_notes(problems):
                exc.add_note(note)
            raise
        replaced = 0
        if replacing is not None:
            replaced = replacing.replaced
            # Past the point of no return: drop the backups of replaced entries.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(replacing.commit)
        return RunResult(
            created=journal.created_count(),
            already_done=len(journal.already_done),
            replaced=replaced,
        )

    async def _make_folders(
        self,
        folders: Sequence[str],
        fresh: Collection[str],
        journal: _Journal,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        await self.run_chunked(
            lambda a, b: _fs.ensure_dirs(
                folders[a:b], journal.dirs, journal.times, journal.ids, fresh
            ),
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
    ) -> list[BaseException]:
        """Undo what the journal holds; return the steps that failed.

        A failed step never stops the others, and never replaces the error
        that caused the rollback (the caller attaches these as a note).
        """
        problems: list[BaseException] = []
        spans = [span for span in journal.ranges if span[1] > span[0]]
        skip = set(journal.already_done)
        # Never undo through a folder that was swapped mid-run (e.g. for a
        # symlink to somewhere else): what looks like ours there may not be.
        moved = await anyio.to_thread.run_sync(_fs.changed_folders, journal.ids)
        problems.extend(
            OSError(errno.ESTALE, f"{why}; left alone what alink made below it", path)
            for path, why in moved.items()
            if why
        )
        try:
            if spans:
                # Spans hold at most max_batch pairs each: undo a few per call.
                await self.run_chunked(
                    lambda a, b: problems.extend(
                        _fs.undo_spans(
                            operation, sources, targets, spans[a:b], skip, moved
                        )
                    ),
                    len(spans),
                    initial=1,
                )
        finally:
            if journal.dirs or journal.times:
                problems.extend(
                    await anyio.to_thread.run_sync(
                        _fs.restore_dirs, journal.dirs, journal.times, moved
                    )
                )
        return problems


def _steps(func: Callable[[], list[BaseException]]) -> list[BaseException]:
    """On a worker thread: the problems ``func`` reports, or the one it raised
    (a rollback step must never replace the error that caused the rollback)."""
    try:
        return func()
    except Exception as exc:
        return [exc]


def _chosen(targets: Sequence[str], indices: Collection[int]) -> set[str]:
    """The targets at ``indices``; all of them in bulk (see ``_plan.Texts``)."""
    if indices == range(len(targets)):
        return set(targets)
    return {targets[i] for i in indices}


def _rollback_notes(problems: Sequence[BaseException]) -> list[str]:
    """Tell the caller what the rollback could not undo: which entries may
    remain, and apart from them which folders keep a changed time."""
    notes: list[str] = []
    left = _fs.left_behind(problems)
    if left:
        shown = "; ".join(str(p) for p in left[:5])
        more = f"; and {len(left) - 5} more" if len(left) > 5 else ""
        notes.append(
            f"alink could not undo {len(left)} step(s) of this download, so"
            f" these entries may remain: {shown}{more}"
        )
    times = _fs.folder_times_note(problems)
    if times is not None:
        notes.append(times)
    return notes
