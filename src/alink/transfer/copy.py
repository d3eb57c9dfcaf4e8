"""Make a dataset's files available by copying (or hard-linking) them.

Use :class:`CopyFileTransfer` when the facility storage ("remote") is mounted
here but the local files must not depend on it (symlinks would), or combine it
with :class:`~alink.transfer.link.LinkFileTransfer` in a
:class:`~alink.transfer.select.SelectFileTransfer`.

.. code-block:: python

    transfer = CopyFileTransfer()
    first = dataset.files[0].remote_path
    async with transfer.connect_for_download(dataset, first) as con:
        await con.download_files(remote=[...], local=[...])

Downloads follow the same rules as links (validation, containment, all or
nothing, rollback, progress). Each copy is written where no one sees it under
its final name: in a folder that exists, into a temporary file linked into
place without replacing anything; a folder the download creates is built
whole under a hidden name and renamed into place once complete (see
``_staging``). So a crash never leaves a half-written file under its final
name, and a copy never writes through an existing symlink. The kernel moves
the bytes (``copy_file_range``) on worker threads with bounded concurrency.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from .._errors import FileNotAccessibleError, UnsafePathError
from .._model import File
from .._names import summarise
from .._paths import RemotePath
from . import _fs, _plan, _staging
from ._base import FilesystemTransferBase
from ._copy_ops import CopyOperation, HardLinkOperation
from ._download import DownloadConnectionBase, DownloadOptions, check_allowed_roots
from ._engine import Engine, ProgressCallback
from ._staging import Staging

if TYPE_CHECKING:
    from .._model import Dataset

__all__ = ["CopyDownloadConnection", "CopyFileTransfer", "CopyUploadConnection"]


def _default_engine() -> Engine:
    """Longer batches (a copy takes longer than a link) and one worker to start.

    Two threads copying small files into one folder contend for it in the
    kernel and are slower than one; once files turn out to be large, the
    engine adds a worker per CPU.
    """
    return Engine(batch_seconds=0.025, start_workers=1)


def _operation(hard_link: bool, *, accept_identical: bool) -> CopyOperation:
    kind = HardLinkOperation if hard_link else CopyOperation
    return kind(accept_identical=accept_identical)


#: What a hard-linking connection's ``method`` says when its last call
#: hard-linked some files and had to copy others (see ``method``).
_HARD_LINK_AND_COPY = "hard link and copy"


def _hard_link_method(operation: HardLinkOperation | None) -> str:
    """``"hard link"``, ``"copy"`` or ``"hard link and copy"``: what the
    files ``operation`` made are; ``"hard link"`` (what is tried) before any
    call, or when the call made no new file."""
    if operation is None:
        return "hard link"
    # Read once each: worker threads of a running call may still count.
    linked, copied = operation.linked, operation.copied
    if copied and linked:
        return _HARD_LINK_AND_COPY
    return "copy" if copied else "hard link"


class CopyDownloadConnection(DownloadConnectionBase):
    """Downloads by copying (or hard-linking); get one from
    :meth:`CopyFileTransfer.connect_for_download`.

    An existing local regular file with the remote file's size and content
    counts as done, so re-running a download is a no-op; anything else at a
    local path (another file, a symlink, a folder) raises ``FileExistsError``
    and is left untouched.
    """

    def __init__(
        self,
        *,
        source_folder: str,
        roots: tuple[str, ...] | None,
        options: DownloadOptions,
        hard_link: bool,
        swept: set[str] | None = None,
    ) -> None:
        super().__init__(source_folder=source_folder, roots=roots, options=options)
        self._hard_link = hard_link
        #: Parent folders already swept for leftovers (shared by the transfer).
        self._swept: set[str] = set() if swept is None else swept
        #: The operation of the latest ``download_files`` call, when it hard-links.
        self._last_links: HardLinkOperation | None = None

    @property
    def hard_link(self) -> bool:
        """Whether files are hard-linked where possible instead of copied."""
        return self._hard_link

    @property
    def method(self) -> str:
        """How this connection makes files (for reports).

        ``"copy"`` for a copying connection. A hard-linking one says what
        its latest :meth:`download_files` call did, since the kernel may
        refuse links (another filesystem, ``EPERM``, too many links) and those
        files are copied instead: ``"hard link"`` when every new file was
        linked, ``"copy"`` when every one was copied, ``"hard link and copy"``
        when some were copied. Before any call, or after a call that made no
        new file, it says what it tries: ``"hard link"``.
        """
        if not self._hard_link:
            return "copy"
        return _hard_link_method(self._last_links)

    async def _plan_staging(self, folders: Mapping[str, int]) -> Staging | None:
        return await anyio.to_thread.run_sync(_staging_for, folders, self._swept)

    async def _prepare_operation(
        self, folders: Mapping[str, int], staging: Staging | None
    ) -> CopyOperation:
        operation = _operation(self._hard_link, accept_identical=True)
        # Checked again as each file is opened: one swapped for a symlink
        # out of the dataset since the check is refused, not copied.
        operation.confine(self._roots)
        if isinstance(operation, HardLinkOperation):
            self._last_links = operation  # for ``method``
        if staging is not None:
            operation.stage(staging.staged_folders)
            folders = {f: n for f, n in folders.items() if staging.folder(f) == f}
        await anyio.to_thread.run_sync(operation.scan_folders, folders)
        return operation


def _staging_for(folders: Mapping[str, int], swept: set[str]) -> Staging | None:
    """On a worker thread: stage the new folders; sweep what killed runs left
    next to them (once per parent folder and transfer, see ``Staging.sweep``)."""
    staging = _staging.plan_staging(folders)
    if staging is not None:
        staging.sweep(swept)
    return staging


class CopyUploadConnection:
    """Uploads by copying local files into a remote folder; get one from
    :meth:`CopyFileTransfer.connect_for_upload`.

    Nothing that exists is ever overwritten. The connection remembers what it
    uploaded, so :meth:`revert_upload` removes exactly that (and the folders
    it created, once empty) and nothing else.
    """

    def __init__(
        self,
        *,
        source_folder: str,
        hard_link: bool,
        engine: Engine,
    ) -> None:
        self._source = source_folder
        self._hard_link = hard_link
        self._engine = engine
        self._operation = _operation(hard_link, accept_identical=False)
        #: Folders this connection created, parents before children.
        self._created_dirs: list[str] = []

    @property
    def source_folder(self) -> RemotePath:
        """The absolute remote folder this connection uploads to."""
        return RemotePath(self._source)

    @property
    def hard_link(self) -> bool:
        """Whether files are hard-linked where possible instead of copied."""
        return self._hard_link

    def remote_path(self, filename: str | RemotePath) -> RemotePath:
        """The full remote path for ``filename`` (relative to the source folder)."""
        return self.source_folder / filename

    async def upload_files(
        self, *files: File, progress: ProgressCallback | None = None
    ) -> list[File]:
        """Copy each file's ``local_path`` to ``source_folder / file.remote_path``.

        All or nothing: everything is validated first; if any copy fails (or
        the caller is cancelled), whatever this call created is removed again
        before the error propagates. ``progress(done, total)`` is called on the
        event loop as files complete.

        Returns:
            The files, in input order, marked as on the remote, with their
            size (``remote_path`` stays relative to the source folder).

        Raises:
            TypeError: an argument is not a :class:`~alink.File`.
            ValueError: a file has no local path, is not a regular file, or
                two files would be uploaded to the same remote path.
            UnsafePathError: a remote path lies outside the source folder.
            FileNotFoundError: a local file does not exist.
            FileExistsError: something already exists at a remote path.
        """
        if not files:
            return []
        # Planning and building the answer for 100k files is ~0.3 s of Python
        # each: on a worker thread, the event loop gets its turns meanwhile.
        local, targets = await _off_loop(
            len(files), _upload_pairs, self._source, files, _plan.working_directory()
        )
        stats = await anyio.to_thread.run_sync(
            _check_upload, self._source, local, targets
        )
        folders = list(dict.fromkeys(t.rpartition("/")[0] or "/" for t in targets))
        created: list[str] = []
        times: dict[str, tuple[int, int]] = {}
        try:
            await anyio.to_thread.run_sync(_fs.ensure_dirs, folders, created, times)
            await self._engine.run(self._operation, local, targets, progress=progress)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_fs.restore_dirs, created, times)
            raise
        self._created_dirs.extend(created)
        return await _off_loop(len(files), _uploaded_all, files, stats)

    async def revert_upload(self, *files: File) -> None:
        """Remove the given files if this connection uploaded them.

        A remote file is removed only while it is still the file this
        connection wrote; files it did not upload are left alone. Folders the
        connection created are removed once empty.

        Raises:
            OSError: a file could not be removed (all others were tried).
        """
        targets: list[str] = []
        for file in files:
            if not isinstance(file, File):
                raise TypeError(f"expected File objects, got {type(file).__name__}")
            path = _plan.absolute_remote(
                RemotePath(self._source) / file.remote_path, "/"
            )
            if _fs.is_inside(path, self._source) and path != self._source:
                targets.append(path)
        await anyio.to_thread.run_sync(self._revert, targets)

    def _revert(self, targets: list[str]) -> None:
        errors = self._operation.undo_all(targets)
        _fs.restore_dirs(self._created_dirs, {})
        self._created_dirs = [d for d in self._created_dirs if os.path.isdir(d)]
        if errors:
            raise errors[0]


def _upload_pairs(
    source: str, files: Sequence[File], cwd: str
) -> tuple[list[str], list[str]]:
    """Validated (local sources, remote targets) for an upload; no I/O."""
    remote: list[RemotePath] = []
    local: list[os.PathLike[str]] = []
    folder = RemotePath(source)
    for file in files:
        if not isinstance(file, File):
            raise TypeError(f"expected File objects, got {type(file).__name__}")
        if file.local_path is None:
            raise ValueError(
                f"cannot upload {file.remote_path.posix!r}: the file has no local path"
            )
        remote.append(folder / file.remote_path)
        local.append(file.local_path)
    # The roles are swapped: the remote paths must lie inside the folder.
    plan = _plan.plan_pairs(source, remote, local, cwd=cwd)
    _plan.check_no_duplicates(plan.sources)
    return list(plan.targets), plan.sources


def _check_upload(
    source: str, local: Sequence[str], targets: Sequence[str]
) -> list[os.stat_result]:
    """On a worker thread: every local file is a regular file, and no remote
    folder resolves (through a symlink) outside the source folder."""
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
    real_source = os.path.realpath(source)
    for parent in dict.fromkeys(t.rpartition("/")[0] for t in targets):
        real = os.path.realpath(parent)
        if not _fs.is_inside(real, real_source):
            raise UnsafePathError(
                f"remote folder {parent!r} resolves to {real!r}, outside the"
                f" source folder {source!r}"
            )
    return stats


_T = TypeVar("_T")
#: Files above which an upload's bookkeeping runs on a worker thread.
_OFFLOAD_FILES = 2048


async def _off_loop(count: int, func: Callable[..., _T], *args: Any) -> _T:
    """``func(*args)``, on a worker thread when ``count`` files make it long."""
    if count <= _OFFLOAD_FILES:
        return func(*args)
    return await anyio.to_thread.run_sync(func, *args)


def _uploaded_all(files: Sequence[File], stats: Sequence[os.stat_result]) -> list[File]:
    return [_uploaded(file, st) for file, st in zip(files, stats, strict=True)]


def _uploaded(file: File, st: os.stat_result) -> File:
    created = file.creation_time or datetime.fromtimestamp(st.st_mtime, UTC)
    return dataclasses.replace(file.uploaded(), size=st.st_size, creation_time=created)


def _upload_connect_checks(source: str, options: DownloadOptions) -> None:
    """On a worker thread: the upload folder can be reached from this machine.

    The folder itself may not exist yet (the upload creates it), but its top
    folder (``/data`` of ``/data/2025/x``) must: when it is missing, the
    storage is not mounted here. The nearest existing ancestor must be a folder.
    """
    top = "/" + source.split("/")[1] if source != "/" else "/"
    if not os.path.isdir(top):
        raise FileNotAccessibleError(
            f"cannot access {top!r} to upload into {source!r} from this machine"
            " (is the facility storage mounted here?)",
            remote_path=RemotePath(source),
        )
    probe = source
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise FileNotAccessibleError(
            f"cannot upload into {source!r}: {probe!r} is not a folder",
            remote_path=RemotePath(source),
        )
    if options.allowed_roots is not None:
        real = os.path.realpath(source)
        if not any(
            _fs.is_inside(real, os.path.realpath(r)) for r in options.allowed_roots
        ):
            raise UnsafePathError(
                f"the upload folder {source!r} resolves to {real!r}, outside the"
                " allowed roots"
            )


class CopyFileTransfer(FilesystemTransferBase[CopyDownloadConnection]):
    """Download and upload files by copying them on this machine's filesystem.

    Args:
        source_folder: Folder (pattern) for uploads, e.g.
            ``"/data/{owner}/{pid}"``; ``None`` uploads into the dataset's own
            source folder. Never used for downloads.
        hard_link: Hard-link instead of copying where possible (copying across
            filesystems or where the kernel refuses). A hard link shares its
            bytes with the original: changing one changes the other.
        allowed_roots: When given, connecting to a dataset whose source folder
            (or upload folder) is not inside one of these remote folders raises
            :class:`~alink.UnsafePathError` before any filesystem access.
        follow_external_symlinks: Allow remote files that are symlinks
            resolving outside the dataset's source folder (refused by default).
        engine: Batching and thread settings. The default uses longer batches
            than a link transfer's (25 ms instead of 4 ms; large files check
            for cancellation while they are copied) and starts with one
            worker thread, adding more once files turn out to be large.
    """

    def __init__(
        self,
        *,
        source_folder: str | RemotePath | None = None,
        hard_link: bool = False,
        allowed_roots: Sequence[str | RemotePath] | None = None,
        follow_external_symlinks: bool = False,
        engine: Engine | None = None,
    ) -> None:
        super().__init__(
            source_folder=source_folder,
            allowed_roots=allowed_roots,
            follow_external_symlinks=follow_external_symlinks,
            engine=engine if engine is not None else _default_engine(),
        )
        self._hard_link = hard_link
        #: Folders its downloads have swept for leftovers of killed copies.
        self._swept: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"CopyFileTransfer(source_folder={self._source_folder_pattern!r},"
            f" hard_link={self._hard_link!r},"
            f" allowed_roots={self._options.allowed_roots!r})"
        )

    @property
    def hard_link(self) -> bool:
        """Whether files are hard-linked where possible instead of copied."""
        return self._hard_link

    def _download_connection(
        self, source: str, roots: tuple[str, ...] | None
    ) -> CopyDownloadConnection:
        return CopyDownloadConnection(
            source_folder=source,
            roots=roots,
            options=self._options,
            hard_link=self._hard_link,
            swept=self._swept,
        )

    @asynccontextmanager
    async def connect_for_upload(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[CopyUploadConnection]:
        """Connect to the folder that uploads of ``dataset`` go to.

        That folder is :meth:`source_folder_for` ``(dataset)`` (a relative one
        is taken against the working directory); it is created by the first
        upload if needed. Checks, on a worker thread, that its top-level
        folder exists (the storage is mounted here).

        ``representative_file_path`` is accepted for the shape of
        :class:`~alink.typing.Uploader` and not looked at, as in Scitacean:
        the file does not exist before the upload, and where each file goes
        is checked by :meth:`CopyUploadConnection.upload_files`.

        Raises:
            ValueError: neither the transfer nor the dataset has a source folder.
            UnsafePathError: the folder is outside ``allowed_roots``.
            FileNotAccessibleError: the folder cannot be reached from here.
        """
        source = _plan.absolute_remote(
            self.source_folder_for(dataset), _plan.working_directory()
        )
        check_allowed_roots(source, self._options)
        await anyio.to_thread.run_sync(_upload_connect_checks, source, self._options)
        yield CopyUploadConnection(
            source_folder=source,
            hard_link=self._hard_link,
            engine=self._options.engine,
        )
