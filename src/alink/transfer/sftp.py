"""Download and upload a dataset's files over SSH (SFTP) when the storage is
not mounted here.

.. code-block:: python

    transfer = SelectFileTransfer(
        [LinkFileTransfer(), SFTPFileTransfer(host="login.facility.example")]
    )

:class:`SFTPFileTransfer` has the names and call shapes of Scitacean's
``scitacean.transfer.sftp.SFTPFileTransfer``, awaitable, on asyncio and
trio. It gives the same guarantees as the local transfers: everything is
validated first, all missing remote files are reported at once, files are
written to a temporary name beside their target and renamed into place once
all are complete (and verified), and whatever a failed or cancelled call
created is removed again. Many files move at once over each SFTP channel,
large ones in blocks with bounded memory.

SSH is asyncssh's, on a private asyncio loop of each connection (see
:doc:`the design notes <../design>`). Host keys are checked against
``known_hosts``: an unknown host, or one whose key changed, is refused.
Needs the ``sftp`` extra: ``pip install 'alink[sftp]'``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .._groups import task_group
from .._model import Dataset, File
from .._paths import RemotePath
from ._download import DownloadOptions, check_allowed_roots
from ._engine import Engine, ProgressCallback, RunResult, VerifyCallback
from ._sftp_bridge import Bridge, Counters, ProgressFailed, report_progress
from ._sftp_download import DownloadTuning, Opened, connect_download, download
from ._sftp_session import (
    DEFAULT_CIPHERS,
    Connector,
    Session,
    SSHSettings,
    open_session,
)
from ._sftp_upload import UploadState, connect_upload, revert, upload
from ._source_folder import source_folder_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "DEFAULT_CIPHERS",
    "SFTPDownloadConnection",
    "SFTPFileTransfer",
    "SFTPUploadConnection",
]


async def _with_progress(
    bridge: Bridge,
    job: Callable[[Counters], Awaitable[Any]],
    progress: ProgressCallback | None,
    byte_progress: ProgressCallback | None,
    verify_progress: ProgressCallback | None = None,
) -> Any:
    """Run ``job(counters)`` on the private loop; report its progress here.

    A progress callback that raises fails the call (it is rolled back) with
    that error. Never raises an ``ExceptionGroup``.
    """
    counters = Counters()
    if progress is None and byte_progress is None and verify_progress is None:
        return await bridge.call(job, counters)
    counters.live = True
    finished = anyio.Event()
    errors: list[BaseException] = []
    result: Any = None

    async def pump(scope: anyio.CancelScope) -> None:
        try:
            await report_progress(
                counters, progress, byte_progress, verify_progress, finished
            )
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    try:
        async with task_group() as tg:
            tg.start_soon(pump, tg.cancel_scope)
            try:
                result = await bridge.call(job, counters)
            except ProgressFailed:
                pass  # the callback's own error is in ``errors``
            except Exception as exc:
                errors.append(exc)
            finally:
                finished.set()
    finally:
        counters.resume.set()  # never leave a job waiting at its checkpoint
    if errors:
        raise errors[0]
    return result


class _Connection:
    """What download and upload connections share: the private loop and session."""

    def __init__(self, bridge: Bridge, session: Session) -> None:
        self._bridge = bridge
        self._session = session

    @property
    def host(self) -> str:
        """The file server's host name."""
        return self._session.settings.host


class SFTPDownloadConnection(_Connection):
    """Downloads over SFTP; get one from :meth:`SFTPFileTransfer.connect_for_download`.

    A local regular file with the remote file's size and modification time
    (what an earlier download of the same file leaves) counts as done, so
    re-running a download moves nothing; anything else at a local path
    raises ``FileExistsError`` and is left untouched, unless the caller asks
    to replace it.
    """

    def __init__(
        self,
        bridge: Bridge,
        opened: Opened,
        options: DownloadOptions,
        swept: set[str],
        tuning: DownloadTuning,
    ) -> None:
        super().__init__(bridge, opened.session)
        self._opened = opened
        self._options = options
        self._swept = swept
        self._tuning = tuning

    @property
    def source_folder(self) -> RemotePath:
        """The dataset's absolute source folder on the server."""
        return RemotePath(self._opened.source)

    @property
    def method(self) -> str:
        """How this connection makes files (for reports): ``"sftp"``."""
        return "sftp"

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
        byte_progress: ProgressCallback | None = None,
        replace: bool | Collection[int] = False,
        verify: VerifyCallback | None = None,
        verify_progress: ProgressCallback | None = None,
    ) -> RunResult:
        """Download each ``remote[i]`` to ``local[i]``, all or nothing.

        Everything is validated before anything is transferred; all missing
        or unreadable remote files are reported at once. Files are written
        under hidden temporary names next to their targets and renamed into
        place once every one is complete. On any failure or cancellation,
        whatever this call created is removed again (and replaced entries
        come back).

        Args:
            remote: Full remote paths inside the dataset's source folder (a
                relative one is taken against the login folder).
            local: Where each file goes; missing parent folders are created.
            progress: ``progress(done, total)`` in files, called on the event
                loop as files complete.
            byte_progress: ``byte_progress(done, total)`` in bytes, likewise.
            replace: ``True`` or the indices of pairs whose existing local
                file, where it differs, is downloaded again and replaced
                atomically: the path never goes missing and the old file
                returns if the call fails. A file already in place (the
                remote file's size and modification time, and passing
                ``verify``) is left as it is and counted as already done,
                as with the local transfers.
            verify: ``verify(index, local_path)``, called on worker threads
                for each file once it is complete (on its temporary name,
                before it is renamed into place) and for each file that was
                already done; raising (e.g. :class:`~alink.IntegrityError`)
                rolls the whole call back.
            verify_progress: ``verify_progress(done, total)`` in files, called
                on the event loop as ``verify`` calls complete.

        Returns:
            What was downloaded, replaced and already in place.

        Raises:
            ValueError: ``remote`` and ``local`` differ in length, or a local
                path occurs twice.
            UnsafePathError: a remote path outside the source folder, a local
                path without a real file name, or a remote symlink leading out
                of the dataset.
            FileNotAccessibleError: remote files are missing, unreadable or
                not regular files; or one changed while it was downloaded
                (it grew or shrank, or was rewritten), which fails the call:
                everything it created is removed, and a later call, once the
                file has settled, downloads it.
            FileExistsError: something else is already at a local path (a
                :class:`~alink.LocalFileConflictError` for files that differ).
            FileTransferError: the connection was lost or the server failed
                part-way (everything this call created is removed).
        """
        opened = self._opened

        async def job(counters: Counters) -> RunResult:
            return await download(
                opened.session,
                opened.source,
                opened.roots,
                remote,
                local,
                replace,
                verify,
                counters,
                self._options.engine,
                self._swept,
                self._tuning,
            )

        result: RunResult = await _with_progress(
            self._bridge, job, progress, byte_progress, verify_progress
        )
        return result


class SFTPUploadConnection(_Connection):
    """Uploads over SFTP; get one from :meth:`SFTPFileTransfer.connect_for_upload`.

    Nothing that exists on the server is ever overwritten. The connection
    remembers what it uploaded, so :meth:`revert_upload` removes exactly that
    (and the folders it created, once empty) and nothing else.
    """

    def __init__(self, bridge: Bridge, session: Session, state: UploadState) -> None:
        super().__init__(bridge, session)
        self._state = state

    @property
    def source_folder(self) -> RemotePath:
        """The absolute remote folder this connection uploads to."""
        return RemotePath(self._state.source)

    def remote_path(self, filename: str | RemotePath) -> RemotePath:
        """The full remote path for ``filename`` (relative to the source folder)."""
        return self.source_folder / filename

    async def upload_files(
        self,
        *files: File,
        progress: ProgressCallback | None = None,
        byte_progress: ProgressCallback | None = None,
    ) -> list[File]:
        """Upload each file's ``local_path`` to ``source_folder / file.remote_path``.

        All or nothing: everything is validated and every target checked
        first; each file is written to a temporary name and renamed into
        place; if anything fails (or the caller is cancelled), whatever this
        call created on the server is removed again before the error
        propagates.

        Returns:
            The files, in input order, marked as on the remote, with their
            size; ``remote_path`` stays relative to the source folder.

        Raises:
            TypeError: an argument is not a :class:`~alink.File`.
            ValueError: a file has no local path, is not a regular file, or
                two files would be uploaded to the same remote path.
            UnsafePathError: a remote path lies outside the source folder.
            FileNotFoundError: a local file does not exist.
            FileExistsError: something already exists at a remote path.
            FileTransferError: the connection was lost or the server failed
                part-way (what this call created is removed).
        """
        session, state = self._session, self._state

        async def job(counters: Counters) -> list[File]:
            return await upload(session, state, files, counters)

        result: list[File] = await _with_progress(
            self._bridge, job, progress, byte_progress
        )
        return result

    async def revert_upload(self, *files: File) -> None:
        """Remove the given files if this connection uploaded them.

        A remote file is removed only while it still has the size and
        modification time it was uploaded with; files this connection did
        not upload are left alone. Folders it created are removed once empty.
        """
        session, state = self._session, self._state

        async def job() -> None:
            await revert(session, state, files)

        await self._bridge.call(job)


class SFTPFileTransfer:
    """Download and upload files over SFTP (SSH), on asyncio and trio.

    By default it logs in the way ``ssh`` would: the user's SSH agent and
    keys, ``~/.ssh/config`` (host aliases, user, port, identity files, proxy
    jumps) and ``~/.ssh/known_hosts``.

    Args:
        host: The file server (or a host alias from the SSH config).
        port: Its SSH port; default: the SSH config's for the host, else 22.
        username: Login name; default: the SSH config's, else the local user.
        password: Password for the login, or the passphrase of
            ``key_filename`` (Scitacean's convention). Never logged or shown.
        key_filename: A private key file to log in with.
        passphrase: The passphrase of ``key_filename``, when it differs from
            ``password``. Never logged or shown.
        source_folder: Folder (pattern) for uploads, e.g.
            ``"/data/{owner}/{pid}"``; never used for downloads.
        connect: ``await connect(host, port)`` returning an
            ``asyncssh.SSHClientConnection``, for custom authentication (it
            runs on the connection's private asyncio loop). When given, the
            login options above are not used.
        known_hosts: A ``known_hosts`` file to check the server's host key
            against; default: the user's (or the SSH config's).
        accept_unknown_host_keys: Accept a server that has no entry at all in
            ``known_hosts`` (insecure: anyone on the network path can pose as
            a server never seen before). A server whose listed key differs is
            refused even so.
        ssh_config: ``True``: the user's ``~/.ssh/config`` (when there is
            one); ``False``/``None``: none; or a path.
        ciphers: Cipher preference (default :data:`DEFAULT_CIPHERS`: AES-GCM
            first, the fastest where the CPU has AES instructions); ``None``
            leaves the choice to asyncssh and the SSH config.
        connect_timeout: Seconds to connect and log in.
        connections: SSH connections one transfer connection may use, each
            on a thread of its own; with more than one, downloads of several
            large files (64 MiB in all) open further ones. One is the
            default: SSH work in Python holds the GIL, so two private loops
            mostly take turns (measured on 2 cores: 4 files of 256 MiB at
            440-520 MiB/s on one connection, 320-330 MiB/s on two). More may
            pay where one TCP connection cannot fill a long, lossy link.
        channels: SFTP channels (sessions) per SSH connection for large
            downloads; each has its own flow-control window and server
            process, which helps on long-distance links.
        allowed_roots: When given, connecting to a dataset whose source folder
            (or upload folder) is not inside one of these remote folders
            raises :class:`~alink.UnsafePathError` before any file is touched.
        follow_external_symlinks: Allow remote files that are symlinks
            resolving outside the dataset's source folder (refused by default).
        engine: Batching and thread settings for the local side.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        key_filename: str | os.PathLike[str] | None = None,
        passphrase: str | None = None,
        source_folder: str | RemotePath | None = None,
        connect: Connector | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        accept_unknown_host_keys: bool = False,
        ssh_config: bool | str | os.PathLike[str] | None = True,
        ciphers: Sequence[str] | None = DEFAULT_CIPHERS,
        connect_timeout: float = 30.0,
        connections: int = 1,
        channels: int = 1,
        allowed_roots: Sequence[str | RemotePath] | None = None,
        follow_external_symlinks: bool = False,
        engine: Engine | None = None,
    ) -> None:
        if not isinstance(host, str) or not host.strip():
            raise ValueError("host must be a non-empty host name")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
        ):
            raise ValueError(f"port must be a TCP port number, got {port!r}")
        if connections < 1 or channels < 1:
            raise ValueError("connections and channels must be at least 1")
        if isinstance(ciphers, str):
            raise TypeError("ciphers must be a sequence of cipher names")
        config: str | tuple[()] | None
        if ssh_config is True:
            config = ()
        elif ssh_config is False or ssh_config is None:
            config = None
        else:
            config = os.fspath(ssh_config)
        self._settings = SSHSettings(
            host=host.strip(),
            port=port,
            username=username,
            password=password,
            key_filename=os.fspath(key_filename) if key_filename is not None else None,
            passphrase=passphrase,
            known_hosts=os.fspath(known_hosts) if known_hosts is not None else None,
            accept_unknown_host_keys=accept_unknown_host_keys,
            ssh_config=config,
            ciphers=tuple(ciphers) if ciphers is not None else None,
            connect_timeout=connect_timeout,
            connect=connect,
        )
        self._connections = connections
        self._channels = channels
        self._source_folder_pattern = (
            RemotePath(source_folder) if source_folder is not None else None
        )
        self._options = DownloadOptions(
            allowed_roots=allowed_roots,
            follow_external_symlinks=follow_external_symlinks,
            engine=engine,
        )
        self._tuning = DownloadTuning()
        #: Local folders already swept for what killed downloads left.
        self._swept: set[str] = set()

    def __repr__(self) -> str:
        settings = self._settings
        return (
            f"SFTPFileTransfer(host={settings.host!r}, port={settings.port},"
            f" username={settings.username!r},"
            f" source_folder={self._source_folder_pattern!r})"
        )

    @property
    def host(self) -> str:
        """The file server's host name (or SSH config alias)."""
        return self._settings.host

    @property
    def port(self) -> int | None:
        """The file server's SSH port (``None``: the SSH config's, else 22)."""
        return self._settings.port

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        """The folder uploads for ``dataset`` go to.

        The transfer's ``source_folder`` pattern filled in for ``dataset``, or
        the dataset's own source folder when the transfer has no pattern.
        """
        return source_folder_for(dataset, self._source_folder_pattern)

    @asynccontextmanager
    async def _session(
        self, check: Callable[[Session], Awaitable[Any]]
    ) -> AsyncIterator[tuple[Bridge, Session, Any]]:
        """A private loop, a logged-in session on it and what ``check`` found;
        closed again on exit (shielded)."""
        bridge = Bridge()
        await bridge.start()
        try:
            settings = self._settings

            async def opening() -> tuple[Session, Any]:
                session = await open_session(
                    settings, connections=self._connections, channels=self._channels
                )
                return session, await check(session)

            session, found = await bridge.call(opening)
            try:
                yield bridge, session, found
            finally:
                with anyio.CancelScope(shield=True):
                    await bridge.call(session.aclose)
        finally:
            await bridge.aclose()

    def _refuse_outside_roots(self, dataset: Dataset) -> None:
        """Raise :class:`~alink.UnsafePathError` now (no I/O) if the dataset's
        source folder is absolute and outside ``allowed_roots`` (a relative one
        is taken against the login folder, known only once connected)."""
        if dataset.source_folder is None:
            return
        folder = _source_folder(dataset)
        if folder.is_absolute():
            check_allowed_roots(folder.resolve().posix, self._options)

    @asynccontextmanager
    async def connect_for_download(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[SFTPDownloadConnection]:
        """Connect to the server for downloading files of ``dataset``.

        Logs in, then checks that the dataset's source folder and
        ``source_folder / representative_file_path`` exist there. Downloads
        always read from the dataset's own source folder, never from the
        transfer's ``source_folder`` pattern (that one is for uploads).

        Raises:
            ValueError: the dataset has no source folder.
            UnsafePathError: the source folder is outside ``allowed_roots``.
            FileNotAccessibleError: the server cannot be reached, refuses the
                host key or the login, or the folder or file is not there.
        """
        self._refuse_outside_roots(dataset)
        folder = _source_folder(dataset)
        options = self._options

        async def check(session: Session) -> Opened:
            return await connect_download(
                session, folder, representative_file_path, options
            )

        async with self._session(check) as (bridge, _, opened):
            yield SFTPDownloadConnection(
                bridge, opened, self._options, self._swept, self._tuning
            )

    @asynccontextmanager
    async def connect_for_upload(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[SFTPUploadConnection]:
        """Connect to the server for uploading files of ``dataset``.

        Uploads go to :meth:`source_folder_for` ``(dataset)`` (a relative one
        is taken against the login folder), which the first upload creates if
        needed. Checks that the nearest folder above it exists and, when
        given, that ``representative_file_path`` lies inside it.

        Raises:
            ValueError: neither the transfer nor the dataset has a source folder.
            UnsafePathError: the folder is outside ``allowed_roots``.
            FileNotAccessibleError: the server or the folder cannot be reached.
        """
        folder = self.source_folder_for(dataset)
        if folder.is_absolute():
            check_allowed_roots(folder.resolve().posix, self._options)
        options = self._options

        async def check(session: Session) -> UploadState:
            return await connect_upload(
                session, folder, representative_file_path, options
            )

        async with self._session(check) as (bridge, session, state):
            yield SFTPUploadConnection(bridge, session, state)


def _source_folder(dataset: Dataset) -> RemotePath:
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a Dataset, got {type(dataset).__name__}")
    folder = dataset.source_folder
    if folder is None:
        raise ValueError(
            f"dataset {dataset.pid or ''} has no source folder; its files cannot be"
            " located on the remote".replace("  ", " ")
        )
    return folder
