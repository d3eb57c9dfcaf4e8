"""``alink.Client``: read datasets from SciCat, download their files, upload new
ones, async.

Mirrors Scitacean's ``Client`` (same factory names, same ``get_dataset``,
``download_files`` and ``upload_new_dataset_now`` shapes), but every call is
awaitable, one connection pool
is reused for all requests, and a dataset with its files arrives in a single
request.
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from urllib.parse import quote_plus

import anyio
import httpx
import msgspec

from .._errors import ScicatCommError, ScicatLoginError
from .._model import PID, Dataset
from ..transfer._engine import ProgressCallback
from ..typing import Downloader
from ._download import VerifyLevel
from ._download import download_files as _download_files
from ._http import HttpSession, Reply, RetryPolicy, normalize_base_url
from ._parse import parse_dataset
from ._select import FileSelector
from ._token import Token
from ._upload import upload_new_dataset
from ._upload_body import DEFAULT_MAX_DATABLOCK_BYTES

__all__ = ["Client"]

_log = logging.getLogger("alink.client")

#: Default limit of a response body: a 100k-file dataset is about 25 MB.
DEFAULT_MAX_RESPONSE_SIZE = 512 * 1024 * 1024
#: Default limit of files in one dataset.
DEFAULT_MAX_FILES = 2_000_000
#: Default timeout of each request phase (connect, read, write, pool), seconds.
DEFAULT_TIMEOUT = 30.0


class Client:
    """An async SciCat client with an optional file transfer.

    Create one with :meth:`from_token`, :meth:`from_credentials` or
    :meth:`without_login`, and close it (``async with client:`` or
    ``await client.aclose()``).

    Options shared by the factories (keyword-only):

    - ``file_transfer``: used by :meth:`download_files` (e.g.
      ``LinkFileTransfer()``) and :meth:`upload_new_dataset_now` (one that
      uploads, e.g. ``CopyFileTransfer()``); ``None`` means files cannot be
      downloaded or uploaded.
    - ``timeout``: seconds (or an ``httpx.Timeout`` with every part set) for
      each phase of a request; default 30 s.
    - ``retry``: a :class:`RetryPolicy` for connection errors, timeouts and
      502/503/504 answers; default 4 attempts with 0.5 s, 1 s, 2 s pauses.
    - ``max_response_size``: largest answer read, in bytes (default 512 MiB).
    - ``max_files``: largest number of files a dataset may list (default 2M).
    - ``transport``: an ``httpx.AsyncBaseTransport`` replacing the network
      (for tests, e.g. ``httpx.MockTransport``).
    """

    __slots__ = ("_file_transfer", "_max_files", "_session", "_token")

    def __init__(
        self,
        *,
        session: HttpSession,
        token: Token | None,
        file_transfer: Downloader | None,
        max_files: int,
    ) -> None:
        """Use the factories; this signature is internal."""
        self._session = session
        self._token = token
        self._file_transfer = file_transfer
        self._max_files = max_files

    # --- construction -----------------------------------------------------

    @staticmethod
    def _make_session(
        url: str,
        *,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
        max_response_size: int,
        max_files: int,
        transport: httpx.AsyncBaseTransport | None,
    ) -> HttpSession:
        if isinstance(max_files, bool) or not isinstance(max_files, int):
            raise TypeError("max_files must be an integer")
        if max_files < 0:
            raise ValueError("max_files must not be negative")
        return HttpSession(
            normalize_base_url(url),
            timeout=timeout,
            retry=retry if retry is not None else RetryPolicy(),
            max_response_size=max_response_size,
            transport=transport,
        )

    @classmethod
    def from_token(
        cls,
        *,
        url: str,
        token: str,
        file_transfer: Downloader | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Client:
        """A client that authenticates with an existing SciCat token.

        Raises:
            ScicatLoginError: the token is a JWT that has already expired.
            ValueError: a bad URL, an empty token or a bad option.
        """
        secret = Token(token)
        secret.check_not_expired()
        session = cls._make_session(
            url,
            timeout=timeout,
            retry=retry,
            max_response_size=max_response_size,
            max_files=max_files,
            transport=transport,
        )
        return cls(
            session=session,
            token=secret,
            file_transfer=file_transfer,
            max_files=max_files,
        )

    @classmethod
    async def from_credentials(
        cls,
        *,
        url: str,
        username: str,
        password: str,
        file_transfer: Downloader | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (HTTP)
        retry: RetryPolicy | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Client:
        """Log in with a user name and password and return a logged-in client.

        Sends ``POST {url}/v3/auth/login``; the password is only in that
        request's body.

        Raises:
            ScicatLoginError: the server rejected the credentials (401) or
                handed out a token that has already expired.
            ScicatCommError: the server could not be reached or answered
                something else.
        """
        for name, value in (("username", username), ("password", password)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string")
        session = cls._make_session(
            url,
            timeout=timeout,
            retry=retry,
            max_response_size=max_response_size,
            max_files=max_files,
            transport=transport,
        )
        try:
            token = await _login(session, username, password)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await session.aclose()
            raise
        return cls(
            session=session,
            token=token,
            file_transfer=file_transfer,
            max_files=max_files,
        )

    @classmethod
    def without_login(
        cls,
        *,
        url: str,
        file_transfer: Downloader | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Client:
        """An anonymous client: it can read published datasets only."""
        session = cls._make_session(
            url,
            timeout=timeout,
            retry=retry,
            max_response_size=max_response_size,
            max_files=max_files,
            transport=transport,
        )
        return cls(
            session=session,
            token=None,
            file_transfer=file_transfer,
            max_files=max_files,
        )

    # --- lifetime ---------------------------------------------------------

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        with anyio.CancelScope(shield=True):
            await self._session.aclose()

    # --- properties -------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base URL (ends in ``/api``)."""
        return self._session.base_url

    @property
    def is_logged_in(self) -> bool:
        """Whether requests carry a token."""
        return self._token is not None

    @property
    def file_transfer(self) -> Downloader | None:
        """The file transfer used by :meth:`download_files`."""
        return self._file_transfer

    def __repr__(self) -> str:
        closed = ", closed" if self._session.is_closed else ""
        return (
            f"Client(url={self.url!r}, logged_in={self.is_logged_in},"
            f" file_transfer={self._file_transfer!r}{closed})"
        )

    # --- datasets ---------------------------------------------------------

    async def get_dataset(self, pid: str | PID) -> Dataset:
        """Fetch a dataset with all its files in one request.

        Logged in: ``GET {url}/v4/datasets/{pid}?include=origdatablocks``;
        anonymous: the ``/v4/datasets/public/{pid}`` variant. Large answers
        are decoded on a worker thread.

        Raises:
            ScicatLoginError: the token has expired (nothing is sent).
            ScicatCommError: not found (``status_code`` 404), forbidden (403),
                another HTTP error, an unusable answer (malformed JSON, wrong
                shape, too large, too many files) or no connection.
        """
        if isinstance(pid, PID):
            text = str(pid)
        elif isinstance(pid, str):
            text = pid.strip()
            if not text:
                raise ValueError("the PID is empty")
        else:
            raise TypeError(f"pid must be a str or PID, got {type(pid).__name__}")
        if self._token is not None:
            self._token.check_not_expired()
            path = f"v4/datasets/{quote_plus(text)}"
        else:
            path = f"v4/datasets/public/{quote_plus(text)}"
        what = f"dataset {text!r}"
        reply = await self._session.request(
            "GET",
            path,
            what=what,
            token=self._token,
            params={"include": "origdatablocks"},
        )
        if 200 <= reply.status_code < 300:
            return await parse_dataset(reply.body, what=what, max_files=self._max_files)
        raise self._error(reply, what)

    def _error(self, reply: Reply, what: str) -> ScicatCommError:
        status = reply.status_code
        message = reply.server_message(self._token)
        detail = f": {message}" if message else ""
        if status == 404:
            text = f"{what} was not found in SciCat (404{detail})"
        elif status == 403:
            hint = (
                "the token may be invalid or expired, or you may lack permission"
                if self._token is not None
                else "it is not public; log in to read it"
            )
            text = f"SciCat refused access to {what} (403{detail}); {hint}"
        elif status == 401:
            text = f"SciCat requires a valid login to read {what} (401{detail})"
        else:
            text = f"SciCat answered HTTP {status} for {what}{detail}"
        return ScicatCommError(text, status_code=status)

    # --- files ------------------------------------------------------------

    async def download_files(
        self,
        dataset: Dataset,
        *,
        target: str | os.PathLike[str],
        select: FileSelector = True,
        checksum_algorithm: str | None = None,
        force: bool = False,
        keep_tree: bool = False,
        verify: VerifyLevel = "checksum",
        progress: ProgressCallback | None = None,
        follow_target_symlinks: bool = False,
    ) -> Dataset:
        """Make selected files of ``dataset`` available under ``target``.

        Args:
            dataset: The dataset (e.g. from :meth:`get_dataset`); unchanged.
            target: Local folder; created (with parents) only once every
                check has passed.
            select: Which files: ``True``/``False``, a remote path (full, or
                relative to the source folder), a list/tuple of those, an
                ``re.Pattern`` searched in the full remote path, or a callable
                ``File -> bool`` (for datasets of more than a few thousand
                files it is called on a worker thread, like the rest of the
                planning). Files not on the remote are never selected.
            checksum_algorithm: Overrides the dataset's algorithm, for the
                up-to-date check and for verification alike.
            force: Replace existing local files even when up to date.
            keep_tree: Keep the remote sub-folders below the source folder
                (default: all files flat in ``target``, as Scitacean does).
            verify: After downloading, check ``"checksum"`` (size, and the
                checksum where the dataset has one; default), ``"size"`` only,
                or ``"none"``. Below ``"checksum"`` nothing is read, and
                existing local files are replaced instead of being checked.
            progress: ``progress(done, total)``, called as files complete.
            follow_target_symlinks: Allow ``target`` itself, or a folder
                inside it, to be a symlink leading out of ``target`` (refused
                by default, so a planted link cannot redirect the download).

        Returns:
            A new dataset whose downloaded files have ``local_path`` set.

        Existing local files whose checksum matches are kept untouched; stale
        ones (or all with ``force``) are replaced atomically — the path is
        never missing, and the old file is back if anything fails. All or
        nothing: on any error, including :class:`~alink.IntegrityError` from
        verification, everything this call did is undone.

        Raises:
            ValueError: no file transfer, no source folder, two files for one
                local path, an unsupported checksum algorithm, bad arguments.
            TypeError: ``select`` (or another argument) has the wrong type.
            UnsafePathError: a file outside the source folder or without a
                usable name; ``target`` or a folder in it is a symlink leading
                elsewhere.
            FileExistsError: a folder is where a file should go, or the
                transfer cannot replace an existing file.
            FileNotAccessibleError: remote files cannot be reached.
            IntegrityError: a downloaded file does not match the catalogue.
        """
        return await _download_files(
            self._file_transfer,
            dataset,
            target=target,
            select=select,
            checksum_algorithm=checksum_algorithm,
            force=force,
            keep_tree=keep_tree,
            verify=verify,
            progress=progress,
            follow_target_symlinks=follow_target_symlinks,
        )

    # --- upload -----------------------------------------------------------

    async def upload_new_dataset_now(
        self,
        dataset: Dataset,
        *,
        checksum_algorithm: str | None = "blake2b",
        max_datablock_bytes: int = DEFAULT_MAX_DATABLOCK_BYTES,
    ) -> Dataset:
        """Upload ``dataset``'s local files and register it as a new dataset.

        Scitacean's ``client.upload_new_dataset_now(dataset)``, awaitable and
        all or nothing. In order:

        1. The fields are checked here (SciCat's v4 rules: required fields,
           types, no unknown fields), then by SciCat
           (``POST /api/v4/datasets/isValid``). Server-managed fields of a
           dataset made from a downloaded one (``_id``, ``createdAt``, sizes,
           ...) are not sent.
        2. The client's transfer connects for upload
           (:meth:`~alink.typing.Uploader.connect_for_upload`); its
           ``source_folder_for(dataset)`` becomes the source folder.
        3. Local files without size, time or checksum (from
           :meth:`Dataset.add_local_files <alink.Dataset.add_local_files>`)
           are read on worker threads; ``checksum_algorithm`` (Scitacean's
           default; ``None``: no checksums) computes the checksums.
        4. The files are uploaded, the dataset is created
           (``POST /api/v4/datasets``), then its orig datablocks
           (``POST /api/v4/origdatablocks``), each request at most
           ``max_datablock_bytes`` of JSON (a large dataset gets several
           datablocks; a server answering 413 gets smaller ones).

        If a step fails, or the caller is cancelled, what this call did is
        undone: the datablocks and the dataset are deleted and the uploaded
        files are reverted. A request that creates something is not
        interrupted while in flight (its outcome must be known to be undone),
        so cancelling waits for it, at most the client's timeout.

        Returns:
            The dataset as SciCat stored it: its new pid, its fields, and its
            files (remote paths relative to the source folder) in the
            datablocks as created.

        Raises:
            InvalidDatasetError: a field is missing or malformed (named in
                ``.fields``), before anything was uploaded; or SciCat refused
                to create the dataset or a datablock (400), after which
                everything was undone.
            ValueError: no logged-in client, local files but no transfer that
                uploads, files that are both local and remote.
            NotImplementedError: the transfer cannot upload (a
                ``LinkFileTransfer``); nothing was uploaded.
            IntegrityError: a local file changed size while it was uploaded.
            ScicatCommError: SciCat refused (403: not allowed for this
                ``ownerGroup``) or could not be reached; everything was undone.
            PartialUploadError: a step failed and something could not be
                undone (SciCat lets only its ``DELETE_GROUPS`` delete
                datasets); the message says what is left and what to do.
            FileNotFoundError, FileExistsError, OSError: from reading or
                uploading the files (the transfer reverts its own uploads).
        """
        return await upload_new_dataset(
            self._session,
            self._token,
            self._file_transfer,
            dataset,
            checksum_algorithm=checksum_algorithm,
            max_datablock_bytes=max_datablock_bytes,
            max_files=self._max_files,
        )


async def _login(session: HttpSession, username: str, password: str) -> Token:
    reply = await session.request(
        "POST",
        "v3/auth/login",
        what=f"a login for {username!r}",
        json={"username": username, "password": password},
    )
    status = reply.status_code
    message = reply.server_message(None)
    if password:
        # A server could echo the request back; never repeat the password.
        message = message.replace(password, "<password>")
    if status == 401:
        raise ScicatLoginError(
            f"SciCat rejected the login of {username!r}: wrong user name or"
            f" password (401{': ' + message if message else ''})"
        )
    if status not in (200, 201):
        raise ScicatCommError(
            f"SciCat answered HTTP {status} to the login of {username!r}"
            f"{': ' + message if message else ''}",
            status_code=status,
        )
    try:
        data = msgspec.json.decode(reply.body)
    except msgspec.DecodeError:
        data = None
    value = None
    if isinstance(data, dict):
        value = data.get("access_token") or data.get("id")
    if not isinstance(value, str) or not value.strip():
        raise ScicatCommError(
            "SciCat's login answer holds no token (expected 'access_token' or 'id')",
            status_code=status,
        )
    try:
        token = Token(value)
    except ValueError:
        raise ScicatCommError(
            "SciCat's login answer holds an unusable token", status_code=status
        ) from None
    token.check_not_expired()
    _log.debug("logged in to %s as %r", session.base_url, username)
    return token
