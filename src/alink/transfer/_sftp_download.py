"""The SFTP download flow, all or nothing; runs on the connection's private loop.

1. Plan: the same validation as every transfer (``_download.plan_download``:
   lengths, containment, file names, duplicates); nothing is touched.
2. Check the remote files: one pipelined ``LSTAT`` per file (symlinks are
   resolved on the server and must stay inside the dataset); every missing,
   unreadable or non-regular file is reported in one error.
3. Look at the local paths (worker threads): a regular file with the remote
   file's size and modification time is already done, also where the caller
   asked to replace it (as with the local transfers, ``replace`` replaces
   what differs); ``verify`` checks it, and one that fails is downloaded
   again if the caller asked to replace it. Anything else that exists is
   refused unless the caller asked to replace it.
4. Fetch: many files in flight on each SFTP channel, each read in blocks as
   large as the server allows with a bounded read-ahead, so memory stays
   bounded whatever the file sizes. Every file goes to a hidden temporary
   name next to its target; local writes run on a worker thread, in batches.
   ``verify`` checks each complete temporary file.
5. Place: once every file is complete, the engine renames them into place
   (never replacing anything, except what the caller asked to replace, which
   is swapped atomically with a backup until the end).

On any failure or cancellation, every temporary file, every placed file and
every folder the call created is removed, under a shielded cancel scope,
before the one exception propagates.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast, overload

import anyio
import anyio.to_thread

from .._errors import (
    FileNotAccessibleError,
    IntegrityError,
    LocalFileConflictError,
    UnsafePathError,
)
from .._groups import task_group
from .._names import summarise
from .._paths import RemotePath
from . import _fs, _plan
from ._copy_ops import remove_stale_temps
from ._download import DownloadOptions, check_allowed_roots, plan_download
from ._engine import Engine, RunResult, VerifyCallback
from ._gil import Courtesy
from ._sftp_bridge import Counters
from ._sftp_local import (
    LocalFindings,
    PlaceOperation,
    RemoteAttrs,
    TempFiles,
    inspect_targets,
    is_chosen,
    process_umask,
    remove_temps,
)
from ._sftp_session import (
    Channel,
    Lane,
    Session,
    _load_asyncssh,
    is_connection_error,
    mode_kind,
    transfer_error,
)

if TYPE_CHECKING:
    import asyncssh

__all__ = ["DownloadTuning", "Opened", "connect_download", "download"]


@dataclass(frozen=True, slots=True)
class DownloadTuning:
    """Concurrency and memory limits of SFTP downloads.

    Attributes:
        files_per_channel: Files in flight on one SFTP channel.
        large_per_channel: Files that fill a read-ahead window on their own,
            in flight on one channel (besides the others).
        checks_per_channel: ``LSTAT`` requests in flight on one channel.
        readahead: Read requests in flight for one large file.
        memory: Bytes of file data held in memory at most (blocks requested
            but not yet written locally).
        widen_bytes: Downloads of at least this many bytes use more
            channels, up to the transfer's limit.
        widen_files: Downloads of at least this many files use more
            channels, up to the transfer's limit.
    """

    files_per_channel: int = 64
    large_per_channel: int = 2
    checks_per_channel: int = 128
    readahead: int = 16
    memory: int = 64 << 20
    widen_bytes: int = 64 << 20
    widen_files: int = 512


class _Against(Sequence[RemotePath | str]):
    """The caller's remote paths, relative ones taken against the login folder.

    A view, converted a slice at a time: the plan reads it in slices.
    """

    def __init__(self, items: Sequence[RemotePath | str], home: str) -> None:
        self._items = items
        self._home = RemotePath(home)

    def __len__(self) -> int:
        return len(self._items)

    def _one(self, item: RemotePath | str) -> RemotePath | str:
        if isinstance(item, RemotePath):
            return item if item.is_absolute() else self._home / item
        if isinstance(item, str) and not item.startswith("/"):
            return self._home / item
        return item

    @overload
    def __getitem__(self, index: int) -> RemotePath | str: ...

    @overload
    def __getitem__(self, index: slice) -> list[RemotePath | str]: ...

    def __getitem__(
        self, index: int | slice
    ) -> RemotePath | str | list[RemotePath | str]:
        if isinstance(index, slice):
            return [self._one(item) for item in self._items[index]]
        return self._one(self._items[index])


def _any_relative(items: Sequence[RemotePath | str]) -> bool:
    """Whether any remote path is relative (then it is taken against the
    login folder, not this process's working directory)."""
    for item in items:
        if isinstance(item, RemotePath):
            if not item.is_absolute():
                return True
        elif isinstance(item, str) and not item.startswith("/"):
            return True
    return False


class _Inaccessible(Exception):
    """A remote file could not be opened or read, or it changed while it was
    read (by plan index); ``error`` is the cause, if there is one."""

    def __init__(self, index: int, error: BaseException | None, why: str) -> None:
        super().__init__(why)
        self.index = index
        self.error = error
        self.why = why


@dataclass(slots=True)
class _Report:
    missing: list[int] = field(default_factory=list)
    denied: list[int] = field(default_factory=list)
    not_files: list[int] = field(default_factory=list)
    escaping: list[int] = field(default_factory=list)


def _describe(kind: str, paths: Sequence[str]) -> str:
    return f"{len(paths)} {kind}: {summarise(paths)}"


def _as_remote(path: RemotePath | str) -> RemotePath:
    return path if isinstance(path, RemotePath) else RemotePath(path)


async def _pool(count: int, worker: Callable[[], Any]) -> None:
    """Run ``count`` copies of ``worker``; the first error cancels the others
    and is raised as itself (never an ``ExceptionGroup``)."""
    errors: list[BaseException] = []

    async def run(scope: anyio.CancelScope) -> None:
        try:
            await worker()
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    async with task_group() as tg:
        for _ in range(count):
            tg.start_soon(run, tg.cancel_scope)
    if errors:
        raise errors[0]


# ------------------------------------------------------------ remote checks


async def check_remote(
    session: Session,
    plan: _plan.Plan,
    layout: _plan.Layout,
    source: str,
    roots: tuple[str, ...] | None,
    remote: Sequence[RemotePath | str],
    tuning: DownloadTuning,
) -> RemoteAttrs:
    """Look at every remote file; raise if any cannot be downloaded."""
    ssh = _load_asyncssh()
    channel = session.channels[0]
    sftp = channel.sftp
    attrs = RemoteAttrs.sized(len(plan))
    report = _Report()
    sources = plan.sources
    escaping_folders: set[str] = set()
    missing_folders: set[str] = set()

    # Once per reply: see _gil (128 replies per loop turn hold the GIL long).
    courtesy = Courtesy()
    if roots is not None:
        # Folders below the source folder may be symlinks leading out.
        folders = iter([f for f in layout.remote if f != source])

        async def check_folder() -> None:
            for folder in folders:
                courtesy()
                try:
                    real = await sftp.realpath(folder)
                except (ssh.SFTPNoSuchFile, ssh.SFTPNoSuchPath):
                    missing_folders.add(folder)
                    continue
                except ssh.SFTPPermissionDenied:
                    continue  # the files' own checks report it
                if not any(_fs.is_inside(real, r) for r in roots):
                    escaping_folders.add(folder)

        await _pool(tuning.checks_per_channel, check_folder)

    indices = iter(range(len(plan)))

    async def check_file() -> None:
        for i in indices:
            courtesy()
            path = sources[i]
            parent = path.rpartition("/")[0] or "/"
            if parent in escaping_folders:
                report.escaping.append(i)
                continue
            if parent in missing_folders:
                report.missing.append(i)
                continue
            try:
                found = await sftp.lstat(path)
                kind = mode_kind(found.permissions)
                if kind == "link":
                    if roots is not None:
                        real = await sftp.realpath(path)
                        if not any(_fs.is_inside(real, r) for r in roots):
                            report.escaping.append(i)
                            continue
                    found = await sftp.stat(path)
                    kind = mode_kind(found.permissions)
            except (ssh.SFTPNoSuchFile, ssh.SFTPNoSuchPath):
                report.missing.append(i)
                continue
            except ssh.SFTPPermissionDenied:
                report.denied.append(i)
                continue
            if kind != "file":
                report.not_files.append(i)
                continue
            attrs.sizes[i] = found.size or 0
            attrs.mtimes[i] = int(found.mtime or 0)
            attrs.atimes[i] = int(found.atime or found.mtime or 0)
            attrs.modes[i] = found.permissions or 0o644

    await _pool(tuning.checks_per_channel, check_file)
    if report.escaping:
        raise UnsafePathError(
            _describe(
                "remote file(s) are symlinks that resolve outside the dataset's"
                " source folder (pass follow_external_symlinks=True to allow)",
                [sources[i] for i in sorted(report.escaping)],
            )
        )
    bad = sorted(report.missing + report.denied + report.not_files)
    if bad:
        parts = []
        for kind, found_list in (
            ("remote file(s) do not exist", report.missing),
            ("remote file(s) cannot be read (permission denied)", report.denied),
            ("remote path(s) are not regular files", report.not_files),
        ):
            if found_list:
                parts.append(_describe(kind, [sources[i] for i in sorted(found_list)]))
        paths = [_as_remote(remote[i]) for i in bad]
        raise FileNotAccessibleError(
            "; ".join(parts) + f" (on {session.settings.where}); nothing was created",
            remote_path=paths[0],
            remote_paths=paths,
        )
    return attrs


# ------------------------------------------------------------- local writes


class _Writer:
    """Writes downloaded data into temporary files, on the private loop's thread.

    That thread is a worker of its own (the caller's event loop never runs
    this), and writing there, between SFTP packets, costs a system call per
    block (tens of microseconds into the page cache). Handing each block to
    yet another thread was measured twice as slow: every hand-off waits for
    the GIL, which the SSH processing on this thread holds most of the time.
    Verification (hashing) does go to worker threads: it is long and
    releases the GIL.
    """

    def __init__(
        self,
        temps: TempFiles,
        targets: Sequence[str],
        attrs: RemoteAttrs,
        verify: VerifyCallback | None,
        umask: int,
        counters: Counters,
    ) -> None:
        self.temps = temps
        self._targets = targets
        self._attrs = attrs
        self._verify = verify
        self._umask = umask
        self._counters = counters
        self._verifying = anyio.CapacityLimiter(max(1, min(4, os.cpu_count() or 1)))
        #: Large files this writer opened (closed at the end, whatever happens).
        self.opened: set[int] = set()

    def _times_mode(self, i: int) -> tuple[tuple[int, int], int]:
        attrs = self._attrs
        return (attrs.atimes[i], attrs.mtimes[i]), attrs.modes[i] & 0o777 & ~self._umask

    def open(self, i: int) -> None:
        self.opened.add(i)
        self.temps.open(i, self._targets[i])

    def write(self, i: int, data: bytes, offset: int) -> None:
        self.temps.write(i, data, offset)

    def close(self, i: int) -> None:
        self.temps.close(i)

    def whole(self, i: int, data: bytes) -> str:
        """A complete small file: written, given its times and mode; its
        temporary path (see :meth:`check`)."""
        times, mode = self._times_mode(i)
        return self.temps.write_whole(i, self._targets[i], data, times, mode)

    def finish(self, i: int) -> str:
        """The last block of a large file is written: close it; its temporary
        path (see :meth:`check`)."""
        times, mode = self._times_mode(i)
        return self.temps.finish(i, times, mode)

    async def check(self, i: int, temp: str) -> None:
        """Verify a complete temporary file (once the remote file is known
        not to have changed while it was read: see ``_Fetch._settle``)."""
        if self._verify is not None:
            try:
                await anyio.to_thread.run_sync(
                    self._verify, i, temp, limiter=self._verifying
                )
            except IntegrityError as exc:
                # Name the file the user asked for, not our hidden temporary.
                text = str(exc)
                if temp in text:
                    raise IntegrityError(text.replace(temp, self._targets[i])) from exc
                raise
            self._counters.add(verified=1)


# ------------------------------------------------------------------- fetch


@dataclass(slots=True)
class _Shared:
    """What the private loops fetching one download share (thread-safe)."""

    plan: _plan.Plan
    attrs: RemoteAttrs
    temps: TempFiles
    #: The files nobody has taken yet: ``next()`` on them is atomic. Files
    #: that fill a read-ahead window on their own are queued apart, and few
    #: are taken at a time, so that a lane opened later still finds some.
    queue: Iterator[int]
    large: Iterator[int]
    counters: Counters
    verify: VerifyCallback | None
    tuning: DownloadTuning
    umask: int
    #: Plan indices whose temporary file is complete.
    completed: set[int] = field(default_factory=set)


class _Fetch:
    """Download pending files into temporary files, many at once, on the
    running private loop; with ``lanes``, further loops take files from the
    same queue."""

    def __init__(self, session: Session, shared: _Shared) -> None:
        self._ssh = _load_asyncssh()
        self._session = session
        self._shared = shared
        self._sources = shared.plan.sources
        self._attrs = shared.attrs
        self._queue = shared.queue
        self._writer = _Writer(
            shared.temps,
            shared.plan.targets,
            shared.attrs,
            shared.verify,
            shared.umask,
            shared.counters,
        )
        self._counters = shared.counters
        self._tuning = tuning = shared.tuning
        block = min(c.block for c in session.channels)
        self._tokens = anyio.Semaphore(max(4, tuning.memory // block))
        self._errors: list[BaseException] = []
        #: Once per file: see _gil.
        self._courtesy = Courtesy()

    async def run(self, widen_to: int, lanes: int = 1) -> None:
        """Fetch until the queue is empty; ``widen_to`` channels here, and up
        to ``lanes`` private loops in all (this one included)."""
        try:
            async with task_group() as workers:
                for channel in list(self._session.channels):
                    self._start(workers, channel)
                if widen_to > len(self._session.channels):
                    workers.start_soon(self._widen, workers, widen_to)
                if lanes > 1:
                    workers.start_soon(self._lanes, workers, lanes, widen_to)
        finally:
            # Files whose download stopped half-way must not stay open.
            self._writer.temps.close_all(self._writer.opened)
        if self._errors:
            raise self._errors[0]

    async def _lanes(self, tg: anyio.abc.TaskGroup, wanted: int, widen_to: int) -> None:
        """Use the session's further lanes (opening them first where needed)."""
        session = self._session
        for lane in session.lanes[: wanted - 1]:
            tg.start_soon(self._on_lane, lane, widen_to, tg.cancel_scope)
        while len(session.lanes) + 1 < wanted:
            added = await session.add_lane()
            if added is None:
                return
            tg.start_soon(self._on_lane, added, widen_to, tg.cancel_scope)

    async def _on_lane(
        self, lane: Lane, widen_to: int, scope: anyio.CancelScope
    ) -> None:
        shared = self._shared
        try:
            await lane.bridge.call(_fetch_on_lane, lane.session, shared, widen_to)
        except Exception as exc:
            self._errors.append(exc)
            scope.cancel()

    def _start(self, tg: anyio.abc.TaskGroup, channel: Channel) -> None:
        for _ in range(self._tuning.large_per_channel):
            tg.start_soon(self._worker, channel, self._shared.large, tg.cancel_scope)
        for _ in range(self._tuning.files_per_channel):
            tg.start_soon(self._worker, channel, self._queue, tg.cancel_scope)

    async def _widen(self, tg: anyio.abc.TaskGroup, wanted: int) -> None:
        """Open further channels here and put them to work."""
        known = len(self._session.channels)
        await self._session.widen(wanted)
        for channel in self._session.channels[known:]:
            self._start(tg, channel)

    async def _worker(
        self, channel: Channel, queue: Iterator[int], scope: anyio.CancelScope
    ) -> None:
        try:
            for i in queue:
                await self._fetch(channel, i)
        except Exception as exc:
            self._errors.append(exc)
            scope.cancel()

    async def _open(self, channel: Channel, i: int) -> asyncssh.SFTPClientFile:
        ssh = self._ssh
        try:
            # block_size=0: each read is one request; this class pipelines.
            return await channel.sftp.open(self._sources[i], "rb", block_size=0)
        except (ssh.SFTPNoSuchFile, ssh.SFTPNoSuchPath) as exc:
            raise _Inaccessible(i, exc, "it no longer exists") from exc
        except ssh.SFTPPermissionDenied as exc:
            raise _Inaccessible(i, exc, "permission denied") from exc

    async def _read(
        self,
        file: asyncssh.SFTPClientFile,
        i: int,
        offset: int,
        size: int,
        *,
        last: bool = False,
    ) -> bytes:
        """Exactly ``size`` bytes at ``offset`` (a server may answer short).

        ``last``: the file should end there, and the request may be one byte
        longer (the caller keeps to the server's largest read): one byte
        more is asked for, and getting it means the file grew since it was
        checked: a copy of its old size would be a truncated file, passed
        as complete.
        """
        ask = size + 1 if last else size
        data = cast("bytes", await file.read(ask, offset))
        if len(data) == size:
            return data
        parts = [data]
        got = len(data)
        while got < size:
            more = cast("bytes", await file.read(ask - got, offset + got))
            if not more:
                raise _Inaccessible(
                    i,
                    EOFError(),
                    _changed(f"it became shorter than the {self._had(i)}"),
                )
            parts.append(more)
            got += len(more)
        if got > size:
            raise _Inaccessible(
                i, None, _changed(f"it has more than the {self._had(i)}")
            )
        return b"".join(parts)

    def _had(self, i: int) -> str:
        return f"{self._attrs.sizes[i]} bytes it had when it was checked"

    async def _fetch(self, channel: Channel, i: int) -> None:
        """Download file ``i`` into its temporary file, all of it or nothing.

        A file that changed since :func:`check_remote` looked at it fails
        the call (``_Inaccessible``): its copy would be the start of a longer
        file, or a mix of old and new bytes, under the modification time
        seen then, and the call would report success. The last read of
        each file asks for a byte more than is left, where that stays within
        the server's largest read: getting it means the file grew, and it
        costs nothing (a file that shrank answers short anyway). That leaves
        empty files and files of whole blocks: they, and every file read in
        blocks, get an ``FSTAT`` sent with their ``CLOSE``, which also sees a
        rewrite of as many bytes (:meth:`_settle`). A file read in one
        request does not: that one request more per small file measured 20
        to 30 % slower for 2000 files of 64 KiB, so a small file rewritten
        with as many bytes goes unnoticed (its copy keeps the modification
        time seen, so a re-run finds it differs).
        """
        self._courtesy()
        size, block = self._attrs.sizes[i], channel.block
        file = await self._open(channel, i)
        try:
            if 0 < size < block:
                async with self._tokens:
                    data = await self._read(file, i, 0, size, last=True)
                    temp = self._writer.whole(i, data)
                self._counters.add(bytes_done=size)
            elif size:
                temp = await self._fetch_blocks(file, block, i, size)
            else:
                temp = self._writer.whole(i, b"")
        except BaseException:
            await _close(file)
            raise
        if 0 < size < block:
            await _close(file)
        else:
            await self._settle(file, i)
        await self._writer.check(i, temp)
        self._shared.completed.add(i)
        self._counters.add(done=1)

    async def _settle(self, file: asyncssh.SFTPClientFile, i: int) -> None:
        """Close ``file``, every block of it read; raise if it changed since
        it was checked (its size or modification time differ).

        The ``FSTAT`` leaves in the same send as the ``CLOSE`` that follows
        it (the closing task starts only after this one has written its
        request, and ``_sftp_wire`` sends a loop turn's packets together), and
        the server answers both in order, after the reads: no round trip more
        than the close's own. It catches what the longer last read cannot:
        a file that grew by the time a whole last block (or an empty file's
        nothing) was read, or one rewritten with as many bytes.
        """
        found: list[asyncssh.SFTPAttrs | BaseException] = []
        async with task_group() as tg:
            tg.start_soon(_close, file)
            try:
                found.append(await file.stat())
            except Exception as exc:  # raised once the close is done
                found.append(exc)
        now = found[0]
        if isinstance(now, BaseException):
            raise now
        size, mtime = self._attrs.sizes[i], self._attrs.mtimes[i]
        if now.size is not None and now.size != size:
            raise _Inaccessible(
                i,
                None,
                _changed(f"it has {now.size} bytes now, not the {self._had(i)}"),
            )
        if now.mtime is not None and int(now.mtime) != mtime:
            raise _Inaccessible(
                i, None, _changed("it was modified again after it was checked")
            )

    async def _fetch_blocks(
        self, file: asyncssh.SFTPClientFile, block: int, i: int, size: int
    ) -> str:
        """A large file: blocks with bounded read-ahead, written as they come;
        its temporary path."""
        writer = self._writer
        writer.open(i)
        errors: list[BaseException] = []
        tuning, tokens = self._tuning, self._tokens
        # Blocks in flight for this file. New requests go out in groups (once
        # ``refill`` slots are free), all started in one loop turn: their
        # packets then leave in one send (see ``_sftp_wire``).
        refill = max(1, tuning.readahead // 2)
        inflight = 0
        wake = anyio.Event()

        async def one(offset: int, scope: anyio.CancelScope) -> None:
            nonlocal inflight
            try:
                want = min(block, size - offset)
                # The last block asks for a byte more, where it is not whole.
                data = await self._read(file, i, offset, want, last=want < block)
                writer.write(i, data, offset)
                self._counters.add(bytes_done=len(data))
            except Exception as exc:
                errors.append(exc)
                scope.cancel()
            finally:
                inflight -= 1
                tokens.release()
                if tuning.readahead - inflight >= refill:
                    wake.set()

        offsets = iter(range(0, size, block))
        try:
            async with task_group() as tg:
                offset = next(offsets, None)
                while offset is not None:
                    if not inflight:
                        await tokens.acquire()  # at least one block, waiting
                    else:
                        try:
                            tokens.acquire_nowait()
                        except anyio.WouldBlock:  # memory: wait for our blocks
                            wake = anyio.Event()
                            await wake.wait()
                            continue
                    inflight += 1
                    tg.start_soon(one, offset, tg.cancel_scope)
                    offset = next(offsets, None)
                    if offset is not None and inflight >= tuning.readahead:
                        wake = anyio.Event()
                        await wake.wait()
            if errors:
                raise errors[0]
        except BaseException:
            writer.close(i)
            raise
        return writer.finish(i)


def _changed(detail: str) -> str:
    """Why a download fails when a remote file changed while it was read."""
    return f"it changed while it was downloaded ({detail})"


async def _close(file: asyncssh.SFTPClientFile) -> None:
    """Close a remote file, whatever happens around (shielded, bounded);
    a failure is ignored: the outcome is decided already."""
    with (
        anyio.CancelScope(shield=True),
        anyio.move_on_after(5),
        contextlib.suppress(Exception),
    ):
        await file.close()


async def _fetch_on_lane(session: Session, shared: _Shared, widen_to: int) -> None:
    """On a further lane's private loop: take files from the shared queue."""
    await _Fetch(session, shared).run(widen_to)


# ---------------------------------------------------------------- the flow


def _widen_to(
    session: Session, attrs: RemoteAttrs, pending: Sequence[int], tuning: DownloadTuning
) -> tuple[int, int]:
    """How many channels (per lane) and lanes a download of ``pending`` uses.

    Small downloads keep to the first channel: opening more costs round
    trips that only pay off on large ones. A further lane (an SSH login of
    its own) is only worth it for several large files: for many small ones
    it measured slower (1.09 to 1.36 s against 0.96 to 1.18 s for 2000 files
    of 64 KiB); for 4 files of 256 MiB about 10 % faster on a loaded machine
    but a third slower on a quiet one, hence only with ``connections`` > 1.
    """
    total = sum(attrs.sizes[i] for i in pending)
    channels = 1
    if len(pending) >= tuning.widen_files or total >= tuning.widen_bytes:
        channels = session.max_channels
    lanes = 1
    if total >= tuning.widen_bytes:
        large = sum(1 for i in pending if attrs.sizes[i] >= tuning.widen_bytes // 4)
        lanes = max(1, min(session.max_connections, large))
    return channels, lanes


async def download(
    session: Session,
    source: str,
    roots: tuple[str, ...] | None,
    remote: Sequence[RemotePath | str],
    local: Sequence[str | os.PathLike[str]],
    replace: bool | Collection[int],
    verify: VerifyCallback | None,
    counters: Counters,
    engine: Engine,
    swept: set[str],
    tuning: DownloadTuning,
) -> RunResult:
    """See ``SFTPDownloadConnection.download_files``; on the private loop."""
    if isinstance(remote, str | RemotePath) or isinstance(local, str | os.PathLike):
        raise TypeError("remote and local must be sequences of paths")
    against: Sequence[RemotePath | str] = remote
    if await anyio.to_thread.run_sync(_any_relative, remote):
        against = _Against(remote, session.home)
    plan, layout = await plan_download(
        engine, source, against, local, replace, cwd=_plan.working_directory()
    )
    count = len(plan)
    if not count:
        counters.total = counters.bytes_total = 0
        return RunResult(created=0, already_done=0)
    try:
        attrs = await check_remote(
            session, plan, layout, source, roots, against, tuning
        )
    except Exception as exc:
        if is_connection_error(exc):
            raise transfer_error(session.settings, exc, "checking files") from exc
        raise
    targets = plan.targets
    findings = LocalFindings()
    await engine.run_chunked(
        lambda a, b: inspect_targets(targets, a, b, attrs, replace, findings),
        count,
        initial=4096,
    )
    _refuse_existing(findings, targets)
    counters.total = count
    counters.bytes_total = sum(attrs.sizes)
    if verify is not None and findings.done:
        await _verify_done(engine, findings, targets, replace, verify, counters)
    done = set(findings.done)
    pending = [i for i in range(count) if i not in done] if done else range(count)
    counters.add(done=len(done), bytes_done=sum(attrs.sizes[i] for i in done))
    if not pending:
        if verify is not None:
            counters.verify_total = count
        await counters.checkpoint()
        return RunResult(created=0, already_done=len(done))
    placed = await _transfer(
        session, plan, attrs, pending, findings, verify, counters, engine, swept, tuning
    )
    return RunResult(
        created=placed.created, already_done=len(done), replaced=placed.replaced
    )


async def _verify_done(
    engine: Engine,
    findings: LocalFindings,
    targets: Sequence[str],
    replace: bool | Collection[int],
    verify: VerifyCallback,
    counters: Counters,
) -> None:
    """Verify the files that are done already (their size and modification
    time are the remote file's).

    One that fails with :class:`~alink.IntegrityError` although the caller
    asked to replace it is downloaded again instead: its bytes differ, so
    it is not what the download would make (an edit that kept the size and
    the time). Not asked to replace it, the error fails the call.
    """
    differ: list[int] = []
    done = findings.done

    def check(a: int, b: int) -> None:
        for i in done[a:b]:
            try:
                verify(i, targets[i])
            except IntegrityError:
                if not is_chosen(replace, i):
                    raise
                differ.append(i)  # list.append: atomic across worker threads
                continue
            counters.add(verified=1)

    await engine.run_chunked(check, len(done), initial=16)
    if differ:
        again = set(differ)
        findings.done = [i for i in done if i not in again]
        findings.replacing.extend(differ)


def _refuse_existing(findings: LocalFindings, targets: Sequence[str]) -> None:
    if findings.folders:
        shown = summarise([targets[i] for i in sorted(findings.folders)])
        raise FileExistsError(
            f"{len(findings.folders)} local path(s) are folders, where files"
            f" should go: {shown}; nothing was downloaded"
        )
    if findings.conflicts:
        paths = [targets[i] for i in sorted(findings.conflicts)]
        summary = (
            f"{len(paths)} local path(s) already exist and differ from the remote"
            " files (size or modification time): they were left untouched and"
            f" nothing was downloaded: {summarise(paths)}"
        )
        raise LocalFileConflictError(
            summary + " (pass replace=... to replace them)",
            paths=paths,
            reasons=["differs from the remote file"] * len(paths),
            summary=summary,
        )


async def _transfer(
    session: Session,
    plan: _plan.Plan,
    attrs: RemoteAttrs,
    pending: Sequence[int],
    findings: LocalFindings,
    verify: VerifyCallback | None,
    counters: Counters,
    engine: Engine,
    swept: set[str],
    tuning: DownloadTuning,
) -> RunResult:
    targets = plan.targets
    temps = TempFiles()
    created: list[str] = []
    times: dict[str, tuple[int, int]] = {}
    ids: dict[str, _fs.Identity] = {}
    folders = list(dict.fromkeys(targets[i].rpartition("/")[0] or "/" for i in pending))
    umask = await anyio.to_thread.run_sync(process_umask)
    shared: _Shared | None = None
    try:
        await engine.run_chunked(
            lambda a, b: _fs.ensure_dirs(folders[a:b], created, times, ids),
            len(folders),
            initial=256,
        )
        fresh = set(created)
        old = [f for f in folders if f not in fresh and f not in swept]
        if old:
            swept.update(old)
            await anyio.to_thread.run_sync(lambda: [remove_stale_temps(f) for f in old])
        window = tuning.readahead * min(c.block for c in session.channels)
        large = [i for i in pending if attrs.sizes[i] >= window]
        others = [i for i in pending if attrs.sizes[i] < window] if large else pending
        queues = iter(others), iter(large)
        shared = _Shared(plan, attrs, temps, *queues, counters, verify, tuning, umask)
        channels, lanes = _widen_to(session, attrs, pending, tuning)
        await _Fetch(session, shared).run(channels, lanes)
        if verify is not None:
            # Each file was verified as it completed; report the phase as a
            # whole, after the transfer (as the engine does).
            counters.verify_total = len(plan)
        await counters.checkpoint()  # a failing progress callback stops us here
        replacing = set(findings.replacing)
        sources = [temps.paths[i] for i in pending]
        final = [targets[i] for i in pending]
        chosen = [j for j, i in enumerate(pending) if i in replacing]
        return await engine.run(
            PlaceOperation(temps.ids), sources, final, replace=chosen
        )
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            problems: list[OSError] = await anyio.to_thread.run_sync(
                remove_temps, list(temps.paths.values())
            )
            moved = await anyio.to_thread.run_sync(_fs.changed_folders, ids)
            problems += await anyio.to_thread.run_sync(
                _fs.restore_dirs, created, times, moved
            )
        left = _fs.left_behind(problems)
        if left:
            exc.add_note(
                f"alink could not remove {len(left)} temporary entry(ies): "
                + "; ".join(str(p) for p in left[:5])
            )
        if (kept_times := _fs.folder_times_note(problems)) is not None:
            exc.add_note(kept_times)
        if isinstance(exc, _Inaccessible):
            path = plan.sources[exc.index]
            raise FileNotAccessibleError(
                f"cannot download {path!r} from {session.settings.where}:"
                f" {exc.why}; nothing was kept",
                remote_path=RemotePath(path),
            ) from exc.error
        if isinstance(exc, Exception) and (
            is_connection_error(exc) or isinstance(exc, _load_asyncssh().SFTPError)
        ):
            completed = shared.completed if shared is not None else set()
            unfinished = [plan.sources[i] for i in pending if i not in completed]
            raise transfer_error(
                session.settings, exc, "downloading", unfinished
            ) from exc
        raise


# ------------------------------------------------------------------ connect


@dataclass(frozen=True, slots=True)
class Opened:
    """What connecting for downloads found out."""

    session: Session
    #: The dataset's absolute source folder on the server.
    source: str
    #: Real folders remote files must resolve into; ``None``: anywhere.
    roots: tuple[str, ...] | None


async def _real(session: Session, path: str) -> str | None:
    ssh = _load_asyncssh()
    try:
        real: str = await session.channels[0].sftp.realpath(path)
    except ssh.SFTPError:
        return None
    return real


async def connect_download(
    session: Session,
    folder: RemotePath,
    representative: RemotePath | str | None,
    options: DownloadOptions,
) -> Opened:
    """On the private loop: check the source folder and the representative file.

    The session is closed again if a check fails.
    """
    ssh = _load_asyncssh()
    where = session.settings.where
    try:
        source = _plan.absolute_remote(folder, session.home)
        check_allowed_roots(source, options)
        sftp = session.channels[0].sftp
        try:
            found = await sftp.stat(source)
        except ssh.SFTPError as exc:
            raise FileNotAccessibleError(
                f"cannot access the dataset's source folder {source!r} on {where}"
                f" ({exc.reason or type(exc).__name__})",
                remote_path=RemotePath(source),
            ) from exc
        if mode_kind(found.permissions) != "folder":
            raise FileNotAccessibleError(
                f"the dataset's source folder {source!r} on {where} is not a folder",
                remote_path=RemotePath(source),
            )
        real_source = await _real(session, source) or source
        real_allowed: tuple[str, ...] | None = None
        if options.allowed_roots is not None:
            real_allowed = tuple(
                [await _real(session, r) or r for r in options.allowed_roots]
            )
            if not any(_fs.is_inside(real_source, r) for r in real_allowed):
                raise UnsafePathError(
                    f"the dataset's source folder {source!r} resolves to"
                    f" {real_source!r} on {where}, outside the allowed roots"
                )
        if representative is not None:
            # Only probed, never downloaded: it may lie anywhere (as in
            # Scitacean and the local transfers).
            path = _plan.absolute_remote(RemotePath(source) / representative, "/")
            try:
                await sftp.stat(path)
            except ssh.SFTPError as exc:
                raise FileNotAccessibleError(
                    f"cannot access {path!r} on {where}"
                    f" ({exc.reason or type(exc).__name__})",
                    remote_path=_as_remote(representative),
                ) from exc
    except BaseException:
        await session.aclose()
        raise
    roots = real_allowed if options.follow_external_symlinks else (real_source,)
    return Opened(session, source, roots)
