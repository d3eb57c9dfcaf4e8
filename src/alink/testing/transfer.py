"""A file transfer whose remote storage is a dictionary: for tests.

:class:`FakeFileTransfer` keeps the "remote" files in memory (full remote
path -> bytes), downloads by writing those bytes to local files and uploads
by reading local files into the dictionary. It satisfies
:class:`alink.typing.FileTransfer`, so it can stand in for
``LinkFileTransfer``/``CopyFileTransfer`` in a :class:`~alink.Client` or a
:class:`~alink.transfer.select.SelectFileTransfer`, and it records what it
transferred:

.. code-block:: python

    from alink import Client
    from alink.testing.transfer import FakeFileTransfer

    transfer = FakeFileTransfer(files={"/data/run1/a.dat": b"abc"})
    client = Client.from_token(url=url, token=token, file_transfer=transfer)
    async with client:
        dataset = await client.get_dataset(pid)  # sourceFolder /data/run1: a.dat
        dataset = await client.download_files(dataset, target=tmp_path)
    assert (tmp_path / "a.dat").read_bytes() == b"abc"
    assert [t.remote for t in transfer.downloaded] == ["/data/run1/a.dat"]

It keeps the rules of alink's real transfers where they cost little: every
argument is checked before anything is written; all missing remote files
are reported in one :class:`~alink.FileNotAccessibleError`; connecting
checks the representative file; an existing local file is never
overwritten unless the caller asks to replace it (the :class:`~alink.Client`
decides that, see ``force=``); a download is all or nothing, cancellation
included; an upload never overwrites a remote file. The local side is the
real disk (worker threads, never the event loop).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
import secrets
import stat
from collections.abc import AsyncIterator, Collection, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

import anyio
import anyio.to_thread

from .._errors import FileNotAccessibleError, UnsafePathError
from .._model import File
from .._names import summarise
from .._paths import RemotePath
from ..transfer._engine import ProgressCallback, RunResult, VerifyCallback
from ..transfer._source_folder import source_folder_for

if TYPE_CHECKING:
    from .._model import Dataset

__all__ = [
    "FakeDownloadConnection",
    "FakeFileTransfer",
    "FakeUploadConnection",
    "Transferred",
]

#: Remote storage: full remote path -> content.
RemoteFiles = MutableMapping[RemotePath, bytes]
_FilesArgument = (
    Mapping[RemotePath, bytes]
    | Mapping[str, bytes]
    | Mapping[str | RemotePath, bytes]
    | None
)

#: Up to this many files, arguments are checked on the event loop's thread.
_INLINE_FILES = 2000
#: Files written per worker-thread hand-off (progress is reported between).
_CHUNK_FILES = 256
#: ... or fewer, once their content adds up to this many bytes.
_CHUNK_BYTES = 16 << 20
#: ``os.link`` failures that mean "no hard links here", not "name taken".
_NO_LINKS = frozenset(
    e
    for e in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP)
    if e is not None
)


class Transferred(NamedTuple):
    """One file a :class:`FakeFileTransfer` wrote (downloaded or uploaded)."""

    #: The full remote path.
    remote: RemotePath
    #: The local file written (download) or read (upload).
    local: Path
    #: Its size in bytes.
    size: int


def _remote_key(key: object) -> RemotePath:
    if not isinstance(key, str | RemotePath):
        raise TypeError(
            f"remote paths must be str or RemotePath, got {type(key).__name__}"
        )
    return RemotePath(key).resolve()


def _storage(files: _FilesArgument, what: str) -> RemoteFiles:
    """``files`` as remote storage: a mutable mapping is used as it is (shared),
    with keys normalised in place; anything else is copied."""
    if files is None:
        return {}
    if isinstance(files, str | bytes) or not isinstance(files, Mapping):
        raise TypeError(f"{what} must be a mapping of remote path -> bytes")
    items: list[tuple[str | RemotePath, bytes]] = list(files.items())
    normal: dict[RemotePath, bytes] = {}
    renamed: list[str | RemotePath] = []
    for key, content in items:
        path = _remote_key(key)
        if not isinstance(content, bytes):
            raise TypeError(
                f"{what}[{str(key)!r}] must be bytes, got {type(content).__name__}"
            )
        if normal.get(path, content) != content:
            raise ValueError(f"{what} holds two different contents for {path.posix!r}")
        normal[path] = content
        if str(key) != path.posix:
            renamed.append(key)
    if not isinstance(files, MutableMapping):
        return normal
    store = cast(RemoteFiles, files)
    for key in renamed:
        del store[key]  # type: ignore[arg-type]
    for key in renamed:
        path = _remote_key(key)
        store[path] = normal[path]
    return store


def _inside(path: RemotePath, folder: RemotePath) -> bool:
    return path != folder and path.is_relative_to(folder)


class FakeFileTransfer:
    """Download and upload files to and from a dictionary instead of a server.

    Args:
        files: The remote storage: full remote path (source folder / path in
            the datablock) -> content. A ``dict`` (any mutable mapping) is
            used as it is, not copied: the test, and other transfers made
            with the same ``files`` (e.g. ``files=other.files``), see every
            upload. Keys may be ``str`` or :class:`~alink.RemotePath`; keys
            that are not written as ``RemotePath`` writes them (``a//b``,
            ``a/../b``) are normalised in place when the transfer is made
            (add later ones as ``RemotePath`` or in that clean form).
        reverted: Where :meth:`FakeUploadConnection.revert_upload` puts the
            files it removes (same rules as ``files``).
        source_folder: Folder (pattern) for uploads, e.g.
            ``"/data/{owner}/{pid}"``; ``None`` uploads into the dataset's
            own source folder. Never used for downloads.

    Attributes:
        files: The remote storage.
        reverted: Files removed again by ``revert_upload``, with their content.
        downloaded: Every file written by a download, in order (files that
            were already in place are not listed).
        uploaded: Every file uploaded, in order (reverted ones too).
    """

    def __init__(
        self,
        *,
        files: _FilesArgument = None,
        reverted: _FilesArgument = None,
        source_folder: str | RemotePath | None = None,
    ) -> None:
        self.files: RemoteFiles = _storage(files, "files")
        self.reverted: RemoteFiles = _storage(reverted, "reverted")
        self.downloaded: list[Transferred] = []
        self.uploaded: list[Transferred] = []
        self._source_folder_pattern = (
            RemotePath(source_folder) if source_folder is not None else None
        )

    def __repr__(self) -> str:
        return (
            f"FakeFileTransfer(files={len(self.files)},"
            f" downloaded={len(self.downloaded)}, uploaded={len(self.uploaded)})"
        )

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        """The folder uploads for ``dataset`` go to (pattern or its source folder)."""
        return source_folder_for(dataset, self._source_folder_pattern)

    @asynccontextmanager
    async def connect_for_download(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[FakeDownloadConnection]:
        """Connect for downloading files of ``dataset`` from :attr:`files`.

        ``dataset.source_folder / representative_file_path`` must be in
        :attr:`files`; without a representative file, some file must lie in
        the source folder. So a :class:`~alink.transfer.select.SelectFileTransfer`
        moves on to its next child when this fake does not hold the dataset.

        Raises:
            ValueError: the dataset has no source folder.
            FileNotAccessibleError: the representative file (or, without
                one, any file of the source folder) is not in :attr:`files`.
        """
        folder = _source_folder(dataset)
        if representative_file_path is not None:
            probe = _remote_key(folder / RemotePath(representative_file_path))
            if probe not in self.files:
                raise FileNotAccessibleError(
                    f"the fake file transfer holds no file {probe.posix!r}",
                    remote_path=RemotePath(representative_file_path),
                )
        elif not any(_inside(_remote_key(k), folder) for k in self.files):
            raise FileNotAccessibleError(
                f"the fake file transfer holds no file in {folder.posix!r}",
                remote_path=folder,
            )
        yield FakeDownloadConnection(self, folder)

    @asynccontextmanager
    async def connect_for_upload(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[FakeUploadConnection]:
        """Connect for uploading files of ``dataset`` into :attr:`files`.

        Uploads go to :meth:`source_folder_for` ``(dataset)``.

        Raises:
            ValueError: neither the transfer nor the dataset has a source folder.
            UnsafePathError: ``representative_file_path`` lies outside that folder.
        """
        folder = self.source_folder_for(dataset).resolve()
        if representative_file_path is not None:
            probe = _remote_key(folder / RemotePath(representative_file_path))
            if not _inside(probe, folder):
                raise UnsafePathError(
                    f"representative file {str(representative_file_path)!r} lies"
                    f" outside the upload folder {folder.posix!r}"
                )
        yield FakeUploadConnection(self, folder)


def _source_folder(dataset: Dataset) -> RemotePath:
    folder = dataset.source_folder
    if folder is None:
        raise ValueError(
            f"dataset {dataset.pid or ''} has no source folder; its files cannot be"
            " located on the remote".replace("  ", " ")
        )
    return folder.resolve()


@dataclasses.dataclass
class _Journal:
    """What one download changed on disk, so that it can be undone."""

    #: Folders created, parents first.
    folders: list[str] = dataclasses.field(default_factory=list)
    #: Files created: (path, (device, inode)) — removed only while still ours.
    created: list[tuple[str, tuple[int, int]]] = dataclasses.field(default_factory=list)
    #: Entries replaced: (path, hidden backup of the old entry).
    replaced: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: Hidden temporary names still to remove.
    temporary: list[str] = dataclasses.field(default_factory=list)
    #: (atime, mtime) in ns of existing folders, from before they were changed.
    times: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    def touching(self, folder: str) -> None:
        """Remember an existing folder's times before changing its entries."""
        if folder not in self.times and folder not in self.folders:
            st = os.stat(folder)
            self.times[folder] = (st.st_atime_ns, st.st_mtime_ns)

    def undo(self) -> None:
        """Remove what was created and put replaced entries back (worker thread)."""
        for path in self.temporary:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for path, identity in reversed(self.created):
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) == identity:
                    os.unlink(path)
        for path, backup in reversed(self.replaced):
            with contextlib.suppress(OSError):
                os.replace(backup, path)
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        for folder, times in self.times.items():
            with contextlib.suppress(OSError):
                os.utime(folder, ns=times)

    def commit(self) -> None:
        """Drop the backups of replaced entries (worker thread)."""
        for path in self.temporary:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for _, backup in self.replaced:
            with contextlib.suppress(OSError):
                os.unlink(backup)


def _hidden_name(path: str) -> str:
    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}.{secrets.token_hex(4)}.alink-fake"


def _make_parents(path: str, journal: _Journal) -> None:
    parent = os.path.dirname(path)
    missing: list[str] = []
    while parent and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    if missing:
        journal.touching(parent or ".")
    for folder in reversed(missing):
        os.mkdir(folder)
        journal.folders.append(folder)
    journal.touching(os.path.dirname(path) or ".")


def _write_new(path: str, content: bytes, journal: _Journal) -> str:
    """Write ``content`` under a hidden name next to ``path``; return the name."""
    hidden = _hidden_name(path)
    fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    journal.temporary.append(hidden)
    with os.fdopen(fd, "wb") as stream:
        stream.write(content)
    return hidden


def _place(hidden: str, path: str, *, replace: bool, journal: _Journal) -> None:
    """Give the written file its final name; never replace what is not ours to."""
    if replace and os.path.lexists(path):
        backup = _hidden_name(path)
        try:
            os.link(path, backup, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            os.rename(path, backup)  # no hard links here: a moment without it
        journal.replaced.append((path, backup))
        os.replace(hidden, path)
        journal.temporary.remove(hidden)
        return
    try:
        os.link(hidden, path)  # fails if something appeared at ``path``
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", path) from None
        os.rename(hidden, path)
    else:
        os.unlink(hidden)
    journal.temporary.remove(hidden)
    st = os.lstat(path)
    journal.created.append((path, (st.st_dev, st.st_ino)))


def _write_chunk(items: Sequence[tuple[str, bytes, bool]], journal: _Journal) -> None:
    """Write ``(local path, content, replace)`` items (worker thread)."""
    for path, content, replace in items:
        _make_parents(path, journal)
        hidden = _write_new(path, content, journal)
        _place(hidden, path, replace=replace, journal=journal)


def _inspect_local(
    local: Sequence[str], contents: Sequence[bytes], replace: Collection[int]
) -> set[int]:
    """Indices whose local file already holds the content (worker thread).

    Raises ``FileExistsError`` naming every other existing entry not to be
    replaced, and for folders where files should go.
    """
    done: set[int] = set()
    taken: list[str] = []
    for i, path in enumerate(local):
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISDIR(st.st_mode):
            taken.append(path)
        elif i in replace:
            continue
        elif (
            stat.S_ISREG(st.st_mode)
            and st.st_size == len(contents[i])
            and Path(path).read_bytes() == contents[i]
        ):
            done.add(i)
        else:
            taken.append(path)
    if taken:
        raise FileExistsError(
            f"{len(taken)} local path(s) already exist with other content (or are"
            f" folders or links): {summarise(taken)}; nothing was downloaded"
        )
    return done


class FakeDownloadConnection:
    """Downloads from a :class:`FakeFileTransfer`'s files; get one from
    :meth:`FakeFileTransfer.connect_for_download`."""

    #: How this connection makes files, as reports name it (``DownloadReport``).
    method = "fake"

    def __init__(self, transfer: FakeFileTransfer, source_folder: RemotePath) -> None:
        self._transfer = transfer
        self._source = source_folder

    @property
    def source_folder(self) -> RemotePath:
        """The dataset's source folder."""
        return self._source

    async def download_file(
        self, *, remote: RemotePath | str, local: str | os.PathLike[str]
    ) -> RunResult:
        """Download one file; see :meth:`download_files`."""
        return await self.download_files(remote=[remote], local=[local])

    async def download_files(
        self,
        *,
        remote: Sequence[RemotePath | str],
        local: Sequence[str | os.PathLike[str]],
        progress: ProgressCallback | None = None,
        replace: bool | Collection[int] = False,
        verify: VerifyCallback | None = None,
        verify_progress: ProgressCallback | None = None,
    ) -> RunResult:
        """Write the content of each ``remote[i]`` to ``local[i]``, all or nothing.

        Takes the same arguments as alink's real download connections. A
        local file that already holds the content counts as done (a re-run
        is a no-op); anything else at a local path is an error unless its
        index is in ``replace``, and then it is replaced atomically. Missing
        parent folders are created. On any failure or cancellation,
        everything this call wrote is removed and replaced entries come back.

        Args:
            remote: Full remote paths inside the source folder.
            local: Where each file goes.
            progress: ``progress(done, total)``, called on the event loop.
            replace: ``True`` or the indices of pairs whose existing local
                entry (not a folder) is replaced.
            verify: ``verify(index, local_path)``, called on a worker thread
                for every pair once all exist; raising rolls the call back.
            verify_progress: ``verify_progress(done, total)``, called on the
                event loop as ``verify`` calls complete.

        Returns:
            What was written, replaced and already in place.

        Raises:
            ValueError: ``remote`` and ``local`` differ in length, a local path
                occurs twice, or a ``replace`` index is out of range.
            UnsafePathError: a remote path outside the source folder, or a
                local path without a real file name.
            FileNotAccessibleError: remote files are not in the fake's files
                (all of them are named).
            FileExistsError: something else is already at a local path.
        """
        if isinstance(remote, str | RemotePath) or isinstance(local, str | os.PathLike):
            raise TypeError("remote and local must be sequences of paths")
        if len(remote) != len(local):
            raise ValueError(
                f"remote and local must have the same length, got {len(remote)}"
                f" remote and {len(local)} local paths"
            )
        prepare = functools.partial(
            self._prepare, remote, local, replace, self._transfer.files
        )
        if len(remote) > _INLINE_FILES:  # keep the event loop free
            remotes, locals_, indices, contents = await anyio.to_thread.run_sync(
                prepare
            )
        else:
            remotes, locals_, indices, contents = prepare()
        done = await anyio.to_thread.run_sync(
            _inspect_local, locals_, contents, indices
        )
        pending = [i for i in range(len(remotes)) if i not in done]
        total = len(remotes)
        journal = _Journal()
        written = len(done)
        try:
            if progress is not None:
                progress(written, total)
            for chunk in _chunks(pending, contents):
                await anyio.to_thread.run_sync(
                    _write_chunk,
                    [(locals_[i], contents[i], i in indices) for i in chunk],
                    journal,
                )
                written += len(chunk)
                if progress is not None:
                    progress(written, total)
            if verify is not None:
                await _verify_all(verify, locals_, contents, verify_progress)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(journal.undo)
            raise
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(journal.commit)
        self._transfer.downloaded.extend(
            Transferred(remotes[i], Path(locals_[i]), len(contents[i])) for i in pending
        )
        return RunResult(
            created=len(pending), already_done=len(done), replaced=len(journal.replaced)
        )

    def _prepare(
        self,
        remote: Sequence[RemotePath | str],
        local: Sequence[str | os.PathLike[str]],
        replace: bool | Collection[int],
        store: Mapping[RemotePath, bytes],
    ) -> tuple[list[RemotePath], list[str], Collection[int], list[bytes]]:
        """Check every argument and look up every content (no disk access)."""
        remotes = [_remote_key(r) for r in remote]
        locals_ = [_local_text(p) for p in local]
        self._check(remotes, locals_)
        indices = _replace_indices(replace, len(remotes))
        missing = [r for r in remotes if r not in store]
        if missing:
            raise FileNotAccessibleError(
                f"{len(missing)} remote file(s) are not in the fake file transfer:"
                f" {summarise([m.posix for m in missing])}; nothing was created",
                remote_path=missing[0],
                remote_paths=missing,
            )
        return remotes, locals_, indices, [store[r] for r in remotes]

    def _check(self, remotes: Sequence[RemotePath], local: Sequence[str]) -> None:
        outside = [r.posix for r in remotes if not _inside(r, self._source)]
        if outside:
            raise UnsafePathError(
                f"{len(outside)} remote path(s) lie outside the dataset's source"
                f" folder {self._source.posix!r}: {summarise(outside)}"
            )
        nameless = [p for p in local if os.path.basename(p) in ("", ".", "..")]
        if nameless:
            raise UnsafePathError(
                f"{len(nameless)} local path(s) do not end in a file name:"
                f" {summarise(nameless)}"
            )
        seen: set[str] = set()
        twice = []
        for path in local:
            key = os.path.abspath(path)
            if key in seen:
                twice.append(path)
            seen.add(key)
        if twice:
            raise ValueError(
                f"{len(twice)} local path(s) occur more than once: {summarise(twice)}"
            )


def _local_text(path: object) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"local paths must be str or PathLike, got {type(path).__name__}"
        )
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError("local paths must be text, not bytes")
    if "\x00" in text:
        raise UnsafePathError(f"local path contains a NUL byte: {text!r}")
    return text


def _replace_indices(replace: bool | Collection[int], count: int) -> Collection[int]:
    if replace is True:
        return range(count)
    if replace is False:
        return ()
    indices = set(replace)
    bad = sorted(i for i in indices if not 0 <= i < count)
    if bad:
        raise ValueError(f"replace indices out of range: {bad[:5]}")
    return indices


def _chunks(pending: Sequence[int], contents: Sequence[bytes]) -> list[list[int]]:
    chunks: list[list[int]] = []
    chunk: list[int] = []
    weight = 0
    for i in pending:
        if chunk and (len(chunk) >= _CHUNK_FILES or weight >= _CHUNK_BYTES):
            chunks.append(chunk)
            chunk, weight = [], 0
        chunk.append(i)
        weight += len(contents[i])
    if chunk:
        chunks.append(chunk)
    return chunks


async def _verify_all(
    verify: VerifyCallback,
    local: Sequence[str],
    contents: Sequence[bytes],
    progress: ProgressCallback | None,
) -> None:
    """Call ``verify`` for every pair on worker threads, reporting progress."""
    total = len(local)
    if progress is not None:
        progress(0, total)
    done = 0
    for chunk in _chunks(range(total), contents):
        await anyio.to_thread.run_sync(_verify_chunk, verify, local, chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def _verify_chunk(
    verify: VerifyCallback, local: Sequence[str], chunk: Sequence[int]
) -> None:
    for i in chunk:
        verify(i, local[i])


class FakeUploadConnection:
    """Uploads into a :class:`FakeFileTransfer`'s files; get one from
    :meth:`FakeFileTransfer.connect_for_upload`.

    Nothing that exists is ever overwritten; :meth:`revert_upload` removes
    only what this connection uploaded.
    """

    def __init__(self, transfer: FakeFileTransfer, source_folder: RemotePath) -> None:
        self._transfer = transfer
        self._source = source_folder
        #: What this connection put into the storage (the very bytes objects).
        self._uploaded: dict[RemotePath, bytes] = {}

    @property
    def source_folder(self) -> RemotePath:
        """The folder this connection uploads to."""
        return self._source

    def remote_path(self, filename: str | RemotePath) -> RemotePath:
        """The full remote path for ``filename`` (relative to the source folder)."""
        return self._source / filename

    async def upload_files(self, *files: File) -> list[File]:
        """Read each file's ``local_path`` into ``source_folder / file.remote_path``.

        All or nothing: every file is checked and read before any is stored.

        Returns:
            The files, in input order, marked as on the remote, with their
            size (and, if they had none, their modification time as
            creation time); ``remote_path`` is unchanged.

        Raises:
            TypeError: an argument is not a :class:`~alink.File`.
            ValueError: a file has no local path, is not a regular file, or
                two files would be uploaded to the same remote path.
            UnsafePathError: a remote path lies outside the source folder.
            FileNotFoundError: local files do not exist (all are named).
            FileExistsError: remote files exist already (all are named).
        """
        targets: list[RemotePath] = []
        paths: list[Path] = []
        for file in files:
            if not isinstance(file, File):
                raise TypeError(f"expected File objects, got {type(file).__name__}")
            if file.local_path is None:
                raise ValueError(
                    f"cannot upload {file.remote_path.posix!r}: the file has no"
                    " local path"
                )
            targets.append(_remote_key(self._source / file.remote_path))
            paths.append(file.local_path)
        outside = [t.posix for t in targets if not _inside(t, self._source)]
        if outside:
            raise UnsafePathError(
                f"{len(outside)} file(s) would be uploaded outside the upload"
                f" folder {self._source.posix!r}: {summarise(outside)}"
            )
        seen: set[RemotePath] = set()
        twice: list[str] = []
        for target in targets:
            if target in seen:
                twice.append(target.posix)
            seen.add(target)
        if twice:
            raise ValueError(f"several files would be uploaded to {summarise(twice)}")
        store = self._transfer.files
        existing = [t.posix for t in targets if t in store]
        if existing:
            raise FileExistsError(
                f"{len(existing)} remote file(s) exist already and are not"
                f" overwritten: {summarise(existing)}; nothing was uploaded"
            )
        read = await anyio.to_thread.run_sync(_read_all, paths)
        uploaded: list[File] = []
        for file, target, path, (content, mtime) in zip(
            files, targets, paths, read, strict=True
        ):
            store[target] = content
            self._uploaded[target] = content
            self._transfer.uploaded.append(Transferred(target, path, len(content)))
            uploaded.append(
                dataclasses.replace(
                    file.uploaded(),
                    size=len(content),
                    creation_time=file.creation_time
                    or datetime.fromtimestamp(mtime, UTC),
                )
            )
        return uploaded

    async def revert_upload(self, *files: File) -> None:
        """Remove the given files if this connection uploaded them.

        Each removed file moves to the transfer's ``reverted``. Files this
        connection did not upload, or that were changed since, are left alone.
        """
        store = self._transfer.files
        for file in files:
            if not isinstance(file, File):
                raise TypeError(f"expected File objects, got {type(file).__name__}")
            target = _remote_key(self._source / file.remote_path)
            content = self._uploaded.get(target)
            if content is not None and store.get(target) is content:
                del store[target]
                del self._uploaded[target]
                self._transfer.reverted[target] = content


def _read_all(paths: Sequence[Path]) -> list[tuple[bytes, float]]:
    """Each local file's content and modification time (worker thread)."""
    missing: list[str] = []
    not_files: list[str] = []
    out: list[tuple[bytes, float]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            missing.append(str(path))
            continue
        if not stat.S_ISREG(st.st_mode):
            not_files.append(str(path))
            continue
        out.append((path.read_bytes(), st.st_mtime))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} local file(s) to upload do not exist: {summarise(missing)}"
        )
    if not_files:
        raise ValueError(
            f"{len(not_files)} local path(s) to upload are not regular files:"
            f" {summarise(not_files)}"
        )
    return out
