"""The SFTP upload flow, all or nothing; runs on the connection's private loop.

Every argument is validated first (the pure checks of the copy transfer's
uploads), then the local files are looked at (worker threads) and the
remote targets checked: nothing that exists on the server is ever
overwritten. Each file is written to a hidden temporary name in its folder
(created exclusively), given the local file's modification time, closed and
renamed to its name with SFTP's plain ``RENAME``, which never replaces an
existing file on OpenSSH servers. Permission bits are the server's defaults
for new files (its umask decides), as for any file created there.

The connection remembers what it uploaded (path, size, modification time),
so a failed call and :meth:`revert_upload` remove exactly that — files only
while they are still the ones uploaded, folders only once empty — and
nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .._errors import FileNotAccessibleError, UnsafePathError
from .._groups import task_group
from .._model import File
from .._names import summarise
from .._paths import RemotePath
from . import _fs, _plan
from ._copy_ops import temp_path
from ._download import DownloadOptions, check_allowed_roots
from ._gil import Courtesy
from ._sftp_bridge import Counters
from ._sftp_session import (
    Channel,
    Session,
    _load_asyncssh,
    error_detail,
    is_connection_error,
    mode_kind,
    transfer_error,
)
from .copy import _upload_pairs

if TYPE_CHECKING:
    import asyncssh

__all__ = ["UploadState", "connect_upload", "revert", "upload"]

#: Local files up to this size are read in one worker-thread hand-off.
_WHOLE = 4 << 20
#: Files uploaded at once on one SFTP channel.
_FILES_IN_FLIGHT = 16


@dataclasses.dataclass(slots=True)
class UploadState:
    """What one upload connection did, so that it can be taken back."""

    source: str
    real_source: str
    #: Remote path -> (size, modification time) of every file uploaded.
    uploaded: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Remote folders this connection created, parents first.
    created_dirs: list[str] = dataclasses.field(default_factory=list)


async def _stat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    ssh = _load_asyncssh()
    try:
        found: asyncssh.SFTPAttrs = await sftp.lstat(path)
    except (ssh.SFTPNoSuchFile, ssh.SFTPNoSuchPath):
        return None
    return found


async def connect_upload(
    session: Session,
    folder: RemotePath,
    representative: RemotePath | str | None,
    options: DownloadOptions,
) -> UploadState:
    """On the private loop: the upload folder can be reached and used.

    It may not exist yet (the first upload creates it), but the nearest
    folder above it that exists must be a folder, inside ``allowed_roots``
    once symlinks are resolved. The session is closed if a check fails.
    """
    ssh = _load_asyncssh()
    where = session.settings.where
    try:
        source = _plan.absolute_remote(folder, session.home)
        check_allowed_roots(source, options)
        sftp = session.channels[0].sftp
        probe = source
        while True:
            try:
                found = await sftp.stat(probe)
            except (ssh.SFTPNoSuchFile, ssh.SFTPNoSuchPath):
                if probe == "/":
                    raise
                probe = probe.rpartition("/")[0] or "/"
                continue
            except ssh.SFTPError as exc:
                raise FileNotAccessibleError(
                    f"cannot access {probe!r} on {where} to upload into {source!r}"
                    f" ({exc.reason or type(exc).__name__})",
                    remote_path=RemotePath(source),
                ) from exc
            break
        if mode_kind(found.permissions) != "folder":
            raise FileNotAccessibleError(
                f"cannot upload into {source!r} on {where}: {probe!r} is not a folder",
                remote_path=RemotePath(source),
            )
        real_probe: str = await sftp.realpath(probe)
        if options.allowed_roots is not None:
            real_roots = []
            for root in options.allowed_roots:
                try:
                    real_roots.append(await sftp.realpath(root))
                except ssh.SFTPError:
                    real_roots.append(root)
            if not any(_fs.is_inside(real_probe, r) for r in real_roots):
                raise UnsafePathError(
                    f"the upload folder {source!r} resolves to {real_probe!r} on"
                    f" {where}, outside the allowed roots"
                )
        if representative is not None:
            path = _plan.absolute_remote(RemotePath(source) / representative, "/")
            if not _fs.is_inside(path, source) or path == source:
                raise UnsafePathError(
                    f"representative file {str(representative)!r} lies outside the"
                    f" upload folder {source!r}"
                )
    except BaseException:
        await session.aclose()
        raise
    real_source = real_probe + source[len(probe) :] if probe != "/" else source
    return UploadState(source=source, real_source=real_source)


def _check_local(local: Sequence[str]) -> list[os.stat_result]:
    """On a worker thread: every local file exists and is a regular file."""
    stats: list[os.stat_result] = []
    missing: list[str] = []
    not_files: list[str] = []
    for path in local:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            missing.append(path)
            continue
        if not stat.S_ISREG(st.st_mode):
            not_files.append(path)
        stats.append(st)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} local file(s) to upload do not exist: {summarise(missing)}"
        )
    if not_files:
        raise ValueError(
            f"{len(not_files)} local path(s) to upload are not regular files:"
            f" {summarise(not_files)}"
        )
    return stats


def _read(path: str, offset: int, size: int) -> bytes:
    """On a worker thread: ``size`` bytes of ``path`` at ``offset``."""
    with open(path, "rb", buffering=0) as stream:
        stream.seek(offset)
        data = stream.read(size)
    if len(data) != size:
        raise OSError(f"{path!r} changed while it was uploaded")
    return data


class _Upload:
    """One ``upload_files`` call; see the module docstring."""

    def __init__(
        self,
        session: Session,
        state: UploadState,
        local: Sequence[str],
        targets: Sequence[str],
        stats: Sequence[os.stat_result],
        counters: Counters,
    ) -> None:
        self._ssh = _load_asyncssh()
        self._session = session
        self._state = state
        self._local = local
        self._targets = targets
        self._stats = stats
        self._counters = counters
        #: Remote temporary files this call created (and did not rename yet).
        self.temps: set[str] = set()
        #: Final remote files this call created.
        self.placed: dict[str, tuple[int, int]] = {}
        #: Final remote files whose rename was sent, with no answer (yet).
        self.renaming: dict[str, tuple[int, int]] = {}
        #: Remote folders this call created, parents first.
        self.dirs: list[str] = []
        self._queue = iter(range(len(targets)))

    async def check_targets(self) -> None:
        """Nothing may exist at a target; missing folders are noted."""
        sftp = self._session.channels[0].sftp
        existing: list[str] = []
        queue = iter(self._targets)
        courtesy = Courtesy()  # once per reply: see _gil

        async def worker() -> None:
            for target in queue:
                courtesy()
                if await _stat(sftp, target) is not None:
                    existing.append(target)

        async with task_group() as tg:
            for _ in range(64):
                tg.start_soon(worker)
        if existing:
            raise FileExistsError(
                f"{len(existing)} remote file(s) already exist and are never"
                f" overwritten: {summarise(sorted(existing))}; nothing was uploaded"
            )

    async def make_folders(self) -> None:
        """Create missing remote folders (journalled), parents first; refuse
        folders inside the upload folder that lead out of it (symlinks)."""
        ssh = self._ssh
        sftp = self._session.channels[0].sftp
        source, real_source = self._state.source, self._state.real_source
        known: set[str] = set()
        folders = dict.fromkeys(t.rpartition("/")[0] or "/" for t in self._targets)
        for folder in folders:
            missing: list[str] = []
            probe = folder
            while probe not in known:
                found = await _stat(sftp, probe)
                if found is None:
                    missing.append(probe)
                    probe = probe.rpartition("/")[0] or "/"
                    continue
                kind = mode_kind(found.permissions)
                if kind == "link" and _fs.is_inside(probe, source):
                    real = await sftp.realpath(probe)
                    if not _fs.is_inside(real, real_source):
                        raise UnsafePathError(
                            f"remote folder {probe!r} resolves to {real!r}, outside"
                            f" the upload folder {source!r}"
                        )
                    found = await sftp.stat(probe)
                    kind = mode_kind(found.permissions)
                if kind != "folder":
                    raise NotADirectoryError(
                        f"remote path {probe!r} exists and is not a folder"
                    )
                known.add(probe)
            for path in reversed(missing):
                try:
                    await sftp.mkdir(path)
                except ssh.SFTPFailure:
                    if await _stat(sftp, path) is None:
                        raise
                else:
                    self.dirs.append(path)
                known.add(path)

    async def run(self) -> None:
        channels = self._session.channels
        errors: list[BaseException] = []
        courtesy = Courtesy()  # once per file: see _gil

        async def worker(channel_index: int, scope: anyio.CancelScope) -> None:
            try:
                for k in self._queue:
                    courtesy()
                    await self._one(channels[channel_index], k)
            except Exception as exc:
                errors.append(exc)
                scope.cancel()

        async with task_group() as tg:
            for c in range(len(channels)):
                for _ in range(_FILES_IN_FLIGHT):
                    tg.start_soon(worker, c, tg.cancel_scope)
        if errors:
            raise errors[0]

    async def _write(
        self, remote: asyncssh.SFTPClientFile, data: bytes, offset: int, block: int
    ) -> None:
        """Write ``data`` at ``offset`` in blocks, all requests in flight at once."""
        if len(data) <= block:
            await remote.write(data, offset)
            return
        view = memoryview(data)
        errors: list[BaseException] = []

        async def one(start: int, scope: anyio.CancelScope) -> None:
            try:
                await remote.write(bytes(view[start : start + block]), offset + start)
            except Exception as exc:
                errors.append(exc)
                scope.cancel()

        async with task_group() as tg:
            for start in range(0, len(data), block):
                tg.start_soon(one, start, tg.cancel_scope)
        if errors:
            raise errors[0]

    async def _one(self, channel: Channel, k: int) -> None:
        sftp, block = channel.sftp, channel.block
        ssh = self._ssh
        local, target, st = self._local[k], self._targets[k], self._stats[k]
        folder, _, name = target.rpartition("/")
        size = st.st_size
        mtime = int(st.st_mtime)
        for _ in range(100):
            temp = temp_path(folder or "/", name)
            # Noted before the request: cancelled in flight, the file may
            # have been made (the name is this process's own: no one else's).
            self.temps.add(temp)
            try:
                # block_size=0: each write is one request; this class pipelines.
                remote = await sftp.open(temp, "xb", block_size=0)
            except ssh.SFTPFailure:
                self.temps.discard(temp)  # refused: it is not ours
                if await _stat(sftp, temp) is not None:
                    continue  # taken: try another name
                raise
            break
        else:  # pragma: no cover - a hundred collisions with unique names
            raise OSError(f"could not create a temporary file in {folder!r}")
        try:
            for offset in range(0, size, _WHOLE):
                count = min(_WHOLE, size - offset)
                data = await anyio.to_thread.run_sync(_read, local, offset, count)
                await self._write(remote, data, offset, block)
                self._counters.add(bytes_done=count)
            await remote.utime((int(st.st_atime), mtime))
        finally:
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(5),
                contextlib.suppress(Exception),  # the outcome is decided already
            ):
                await remote.close()
        # Noted before the rename is sent: cancelled (or cut off) while in
        # flight, it may have happened, and the undo must look (it removes
        # the file only if it has our size and time).
        self.renaming[target] = (size, mtime)
        try:
            await sftp.rename(temp, target)
        except ssh.SFTPError as exc:
            if not is_connection_error(exc):
                del self.renaming[target]  # refused: nothing was placed
            raise
        del self.renaming[target]
        self.placed[target] = (size, mtime)
        self.temps.discard(temp)
        self._counters.add(done=1)

    async def undo(self) -> list[BaseException]:
        """Remove what this call created (shielded by the caller)."""
        sftp = self._session.channels[0].sftp
        problems: list[BaseException] = []
        for temp in list(self.temps):
            try:
                await sftp.remove(temp)
            except Exception as exc:
                if await _may_exist(sftp, temp):
                    problems.append(_left(temp, exc))
        problems += await _remove_ours(sftp, {**self.placed, **self.renaming})
        problems += await _remove_dirs(sftp, self.dirs, report=True)
        return problems


def _left(path: str, error: BaseException) -> OSError:
    """What could not be removed from the server, and why."""
    return OSError(errno.EIO, f"not removed ({error_detail(error)})", path)


async def _may_exist(sftp: asyncssh.SFTPClient, path: str) -> bool:
    """Whether ``path`` is (or, unable to look, may still be) on the server."""
    try:
        return await _stat(sftp, path) is not None
    except Exception:
        return True


async def _safe_stat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    try:
        return await _stat(sftp, path)
    except Exception:
        return None


async def _remove_ours(
    sftp: asyncssh.SFTPClient, files: dict[str, tuple[int, int]]
) -> list[BaseException]:
    """Remove each remote file while it still has the size and time we gave it."""
    problems: list[BaseException] = []
    for path, (size, mtime) in files.items():
        try:
            found = await _stat(sftp, path)
            if (
                found is not None
                and mode_kind(found.permissions) == "file"
                and (found.size, int(found.mtime or 0)) == (size, mtime)
            ):
                await sftp.remove(path)
        except Exception as exc:
            problems.append(_left(path, exc))
    return problems


async def _remove_dirs(
    sftp: asyncssh.SFTPClient, dirs: list[str], *, report: bool = False
) -> list[BaseException]:
    """Remove remote folders we created, deepest first, where empty again.

    A folder that is not empty (someone else's files) or gone is fine; with
    ``report``, one that could not be looked at (the connection is lost) is
    returned as a problem.
    """
    ssh = _load_asyncssh()
    problems: list[BaseException] = []
    for path in reversed(dirs):
        try:
            await sftp.rmdir(path)
        except ssh.SFTPError as exc:
            if report and is_connection_error(exc):
                problems.append(_left(path, exc))
    return problems


async def upload(
    session: Session, state: UploadState, files: Sequence[File], counters: Counters
) -> list[File]:
    """See ``SFTPUploadConnection.upload_files``; on the private loop."""
    if not files:
        counters.total = counters.bytes_total = 0
        return []
    local, targets = _upload_pairs(state.source, files, _plan.working_directory())
    stats = await anyio.to_thread.run_sync(_check_local, local)
    counters.total = len(files)
    counters.bytes_total = sum(st.st_size for st in stats)
    counters.done = counters.bytes_done = 0
    job = _Upload(session, state, local, targets, stats, counters)
    try:
        await job.check_targets()
        await job.make_folders()
        await job.run()
        await counters.checkpoint()  # a failing progress callback undoes it
    except BaseException as exc:
        with anyio.CancelScope(shield=True), anyio.move_on_after(30):
            try:
                problems = await job.undo()
            except Exception as error:
                problems = [error]
        if problems:
            exc.add_note(
                f"alink could not remove {len(problems)} remote entry(ies) it"
                " created: " + "; ".join(str(p) for p in problems[:5])
            )
        if isinstance(exc, Exception) and (
            is_connection_error(exc) or isinstance(exc, _load_asyncssh().SFTPError)
        ):
            unfinished = [t for t in targets if t not in job.placed]
            left = [str(getattr(p, "filename", None) or p) for p in problems]
            raise transfer_error(
                session.settings, exc, "uploading", unfinished, left=left
            ) from exc
        raise
    state.uploaded.update(job.placed)
    state.created_dirs.extend(job.dirs)
    return [_uploaded(file, st) for file, st in zip(files, stats, strict=True)]


def _uploaded(file: File, st: os.stat_result) -> File:
    created = file.creation_time or datetime.fromtimestamp(int(st.st_mtime), UTC)
    return dataclasses.replace(file.uploaded(), size=st.st_size, creation_time=created)


async def revert(session: Session, state: UploadState, files: Sequence[File]) -> None:
    """See ``SFTPUploadConnection.revert_upload``; on the private loop."""
    chosen: dict[str, tuple[int, int]] = {}
    for file in files:
        if not isinstance(file, File):
            raise TypeError(f"expected File objects, got {type(file).__name__}")
        path = _plan.absolute_remote(RemotePath(state.source) / file.remote_path, "/")
        if path in state.uploaded:
            chosen[path] = state.uploaded[path]
    sftp = session.channels[0].sftp
    try:
        problems = await _remove_ours(sftp, chosen)
        for path in chosen:
            state.uploaded.pop(path, None)
        await _remove_dirs(sftp, state.created_dirs)
    except Exception as exc:
        if is_connection_error(exc):
            raise transfer_error(session.settings, exc, "reverting an upload") from exc
        raise
    state.created_dirs = [
        d for d in state.created_dirs if await _safe_stat(sftp, d) is not None
    ]
    if problems:
        raise problems[0]
