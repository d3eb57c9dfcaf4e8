"""Read what the catalogue needs about local files: size, time and checksum.

Everything touching the disk runs on worker threads. A thread takes files
one after another for about :data:`_HANDOFF_SECONDS` before it reports back,
so 100k small files are some dozens of thread hand-offs, not 100k. Files are
hashed as a stream through one 1 MiB buffer per thread, so memory stays
bounded whatever their size. Threads start at one per CPU but one (hashing
is CPU work that releases the GIL; one CPU stays free for the event loop);
while they mostly *wait* (network storage), more are added, up to
``max_workers``. A large file checks for cancellation every 64 MiB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread

from ._groups import task_group
from ._model import File
from ._names import summarise
from .client._checksum import normalize_algorithm

__all__ = ["describe_files"]

_BUFFER = 1 << 20
#: Bytes hashed between two cancellation checks.
_CANCEL_EVERY = 64 << 20
#: How long a worker thread goes on taking files before it reports back: the
#: Python work per small file holds the GIL, and each hand-off is where the
#: event loop's thread surely gets it (20k 1 KiB files: 0.43 s with 4 ms
#: hand-offs, 0.62 s and a worse loop lag with 25 ms).
_HANDOFF_SECONDS = 0.004
_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class _Shared:
    """The files to describe and what was found, shared by the worker threads."""

    def __init__(
        self, files: Sequence[File], algorithm: str | None, name: str | None
    ) -> None:
        self.files = files
        self.algorithm = algorithm
        #: The algorithm's name as the caller spelt it (what ``chkAlg`` says).
        self.name = name
        self.results: list[File | None] = [None] * len(files)
        self.missing: list[str] = []
        self.not_files: list[str] = []
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            index = self._next
            if index >= len(self.files):
                return None
            self._next += 1
            return index

    def left(self) -> int:
        return len(self.files) - self._next

    def found(self, index: int, size: int, mtime_ns: int, checksum: str | None) -> None:
        self.results[index] = dataclasses.replace(
            self.files[index],
            size=size,
            creation_time=datetime.fromtimestamp(mtime_ns / 1e9, UTC),
            checksum=checksum,
            checksum_algorithm=self.name if checksum is not None else None,
        )


def _hash(fd: int, algorithm: str, buffer: bytearray) -> tuple[int, str]:
    digest = hashlib.new(algorithm)
    view = memoryview(buffer)
    total = 0
    since_check = 0
    while count := os.readv(fd, [buffer]):
        digest.update(view[:count])
        total += count
        since_check += count
        if since_check >= _CANCEL_EVERY:
            since_check = 0
            anyio.from_thread.check_cancelled()
    return total, digest.hexdigest()


def _describe_one(shared: _Shared, index: int, buffer: bytearray) -> None:
    path = os.fspath(shared.files[index].local_path)  # type: ignore[arg-type]
    algorithm = shared.algorithm
    try:
        if algorithm is None:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                shared.not_files.append(path)
                return
            shared.found(index, st.st_size, st.st_mtime_ns, None)
            return
        fd = os.open(path, _O_READ)
    except FileNotFoundError:
        shared.missing.append(path)
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            shared.not_files.append(path)
            return
        size, checksum = _hash(fd, algorithm, buffer)
        # The size is what was hashed; a file still being written is caught
        # when the upload reports another size.
        shared.found(index, size, os.fstat(fd).st_mtime_ns, checksum)
    finally:
        os.close(fd)


def _work(shared: _Shared, seconds: float) -> tuple[bool, float, float]:
    """On a worker thread: describe files for about ``seconds``.

    Returns ``(more left, wall seconds, thread CPU seconds)``.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    deadline = wall + seconds
    buffer = bytearray(_BUFFER) if shared.algorithm is not None else bytearray()
    while (index := shared.take()) is not None:
        _describe_one(shared, index, buffer)
        if time.perf_counter() >= deadline:
            break
        anyio.from_thread.check_cancelled()
    return shared.left() > 0, time.perf_counter() - wall, time.thread_time() - cpu


async def describe_files(
    files: Sequence[File],
    *,
    checksum_algorithm: str | None,
    max_workers: int = 8,
) -> list[File]:
    """The files with ``size``, ``creation_time`` and checksum read from disk.

    Each file's ``local_path`` is read; its ``creation_time`` becomes the
    file's modification time (UTC), its checksum is computed with
    ``checksum_algorithm`` (``None``: no checksum, only ``stat``). Remote
    paths and other attributes are kept.

    Raises:
        ValueError: a file has no local path, a path is not a regular file,
            or the algorithm is unknown.
        FileNotFoundError: local files do not exist (all are named).
        OSError: a file could not be read.
    """
    algorithm = (
        normalize_algorithm(checksum_algorithm)
        if checksum_algorithm is not None
        else None
    )
    for file in files:
        if file.local_path is None:
            raise ValueError(
                f"file {file.remote_path.posix!r} has no local path to read"
            )
    if not files:
        return []
    shared = _Shared(files, algorithm, checksum_algorithm)
    limiter = anyio.CapacityLimiter(max(1, max_workers))
    workers = max(1, min(_usable_cpus() - 1, max_workers, len(files)))
    first_error: BaseException | None = None

    async def worker(tg: anyio.abc.TaskGroup) -> None:
        nonlocal workers, first_error
        more = True
        while more:
            try:
                more, wall, cpu = await anyio.to_thread.run_sync(
                    _work, shared, _HANDOFF_SECONDS, limiter=limiter
                )
            except Exception as exc:
                first_error = first_error or exc
                tg.cancel_scope.cancel()
                return
            if more and workers < max_workers and cpu < wall / 2:
                workers += 1  # mostly waiting on storage: overlap more waits
                tg.start_soon(worker, tg)

    async with task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker, tg)
    if first_error is not None:
        raise first_error
    if shared.missing:
        raise FileNotFoundError(
            f"{len(shared.missing)} local file(s) do not exist:"
            f" {summarise(sorted(shared.missing))}"
        )
    if shared.not_files:
        raise ValueError(
            f"{len(shared.not_files)} local path(s) are not regular files:"
            f" {summarise(sorted(shared.not_files))}"
        )
    described = shared.results
    assert None not in described
    return described  # type: ignore[return-value]
