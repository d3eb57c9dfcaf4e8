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
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import httpx
import msgspec

from .._errors import ScicatCommError, ScicatLoginError
from .._model import PID, Dataset
from ..transfer._engine import ProgressCallback
from ..typing import Downloader
from ._download import DownloadReport, VerifyLevel, VerifyProgressCallback
from ._download import download_files as _download_files
from ._http import (
    HttpSession,
    Reply,
    RetryPolicy,
    _path_segment,
    normalize_base_url,
    refuse_cleartext_url,
)
from ._many import (
    DEFAULT_MAX_CONCURRENT,
    DownloadsProgress,
    DownloadSummary,
    FolderNamer,
)
from ._many import download_datasets as _download_datasets
from ._parse import parse_dataset
from ._profiles import Profile, resolve
from ._query import DatasetPages, build_query
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

    Options shared by the factories (keyword-only, but for ``profile``):

    - ``profile``: a :class:`~alink.Profile` or the name of one (built in,
      or from the user's profiles file): the URL, the file transfer and where
      the token is, for one facility. Explicit ``url``/``file_transfer``/
      ``token`` arguments win over the profile's. It is the only argument
      that may also be passed positionally, as in Scitacean:
      ``Client.from_token("ess", token=...)``.
    - ``file_transfer``: used by :meth:`download_files` (e.g.
      ``LinkFileTransfer()``) and :meth:`upload_new_dataset_now` (one that
      uploads, e.g. ``CopyFileTransfer()``); ``None`` means files cannot be
      downloaded or uploaded (unless the profile names a transfer).
    - ``allow_http``: let a plain ``http://`` URL through (default: a
      ``ValueError``, since the token or password would travel unencrypted).
      Loopback hosts (``localhost``, 127.0.0.0/8, ``::1``) need no
      permission: their traffic never leaves the machine.
      A profile with ``allow_http = true`` gives it for its own URL.
    - ``timeout``: seconds (or an ``httpx.Timeout`` with every part set) for
      each phase of a request; default 30 s.
    - ``retry``: a :class:`RetryPolicy` for connection errors, timeouts and
      502/503/504 answers; default 4 attempts with 0.5 s, 1 s, 2 s pauses.
    - ``max_response_size``: largest answer read, in bytes (default 512 MiB).
    - ``max_files``: largest number of files a dataset may list (default 2M).
    - ``transport``: an ``httpx.AsyncBaseTransport`` replacing the network
      (for tests, e.g. ``httpx.MockTransport``).
    """

    __slots__ = ("_file_transfer", "_max_files", "_profile", "_session", "_token")

    def __init__(
        self,
        *,
        session: HttpSession,
        token: Token | None,
        file_transfer: Downloader | None,
        max_files: int,
        profile: Profile | None = None,
    ) -> None:
        """Use the factories; this signature is internal."""
        self._session = session
        self._token = token
        self._file_transfer = file_transfer
        self._max_files = max_files
        self._profile = profile

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
        allow_http: bool,
    ) -> HttpSession:
        if isinstance(max_files, bool) or not isinstance(max_files, int):
            raise TypeError("max_files must be an integer")
        if max_files < 0:
            raise ValueError("max_files must not be negative")
        base = normalize_base_url(url)
        refuse_cleartext_url(base, allow_http=allow_http)
        return HttpSession(
            base,
            timeout=timeout,
            retry=retry if retry is not None else RetryPolicy(),
            max_response_size=max_response_size,
            transport=transport,
        )

    @classmethod
    def from_token(
        cls,
        profile: str | Profile | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        file_transfer: Downloader | None = None,
        allow_http: bool = False,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Client:
        """A client that authenticates with an existing SciCat token.

        ``token`` may be left out when the profile says where the token is
        (``token_env`` or ``token_file``).

        Raises:
            ScicatLoginError: the token is a JWT that has already expired.
            ValueError: a bad URL (plain ``http://`` to a host other than
                this machine without ``allow_http=True``), an empty token or
                a bad option.
            ProfileError: an unknown profile, a broken profiles file, or the
                profile's token is not where it says.
            TypeError: neither ``url`` nor ``profile``, or no token at all.
        """
        url, file_transfer, found, allow_http = resolve(
            profile=profile, url=url, file_transfer=file_transfer, allow_http=allow_http
        )
        if token is None:
            token = found.read_token() if found is not None else None
        if token is None:
            raise TypeError(
                "give token= (or a profile that names its token_env or token_file)"
            )
        secret = Token(token)
        secret.check_not_expired()
        session = cls._make_session(
            url,
            timeout=timeout,
            retry=retry,
            max_response_size=max_response_size,
            max_files=max_files,
            transport=transport,
            allow_http=allow_http,
        )
        return cls(
            session=session,
            token=secret,
            file_transfer=file_transfer,
            max_files=max_files,
            profile=found,
        )

    @classmethod
    async def from_credentials(
        cls,
        profile: str | Profile | None = None,
        *,
        url: str | None = None,
        username: str,
        password: str,
        file_transfer: Downloader | None = None,
        allow_http: bool = False,
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
            ProfileError: an unknown profile or a broken profiles file.
            ValueError: a bad URL (plain ``http://`` to a host other than
                this machine without ``allow_http=True``): nothing is sent.
        """
        url, file_transfer, found, allow_http = resolve(
            profile=profile, url=url, file_transfer=file_transfer, allow_http=allow_http
        )
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
            allow_http=allow_http,
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
            profile=found,
        )

    @classmethod
    def without_login(
        cls,
        profile: str | Profile | None = None,
        *,
        url: str | None = None,
        file_transfer: Downloader | None = None,
        allow_http: bool = False,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Client:
        """An anonymous client: it can read published datasets only."""
        url, file_transfer, found, allow_http = resolve(
            profile=profile, url=url, file_transfer=file_transfer, allow_http=allow_http
        )
        session = cls._make_session(
            url,
            timeout=timeout,
            retry=retry,
            max_response_size=max_response_size,
            max_files=max_files,
            transport=transport,
            allow_http=allow_http,
        )
        return cls(
            session=session,
            token=None,
            file_transfer=file_transfer,
            max_files=max_files,
            profile=found,
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
    def profile(self) -> Profile | None:
        """The profile the client was made from, if any."""
        return self._profile

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
            path = f"v4/datasets/{_path_segment(text)}"
        else:
            path = f"v4/datasets/public/{_path_segment(text)}"
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

    # --- searches ---------------------------------------------------------

    async def query_datasets(
        self,
        fields: Mapping[str, Any] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        files: bool = False,
        page_size: int | None = None,
    ) -> list[Dataset]:
        """Search the catalogue; every matching dataset (up to ``limit``).

        As Scitacean's ``client.scicat.query_datasets(fields, limit=, order=)``,
        over SciCat's v4 filter (``GET {url}/v4/datasets?filter=...``; without
        login the ``/v4/datasets/public`` variant, which finds published
        datasets only). The results come page by page; for big result sets
        iterate :meth:`query_datasets_pages` instead of holding them all.

        Args:
            fields: Field values every result must have, by SciCat field
                name, e.g. ``{"proposalIds": ["abc.123"], "type": "raw"}``.
                A list means any of its values (a list field such as
                ``proposalIds`` matches when it holds one of them). On a date
                field, ``{"begin": b, "end": e}`` (datetimes with a time zone
                or ISO 8601 texts; either may be left out) is the range
                between them, ends included, as in Scitacean. Other mappings,
                and Scitacean's ``"mode"``, belong in ``where``. ``None`` or
                ``{}``: no condition.
            where: A MongoDB query of your own, e.g.
                ``{"datasetName": {"$regex": "^run", "$options": "i"}}``;
                ``datetime`` values (with a time zone) are sent as SciCat's
                ``{"$date": ...}`` marker. Combined with ``fields`` by "and".
            order: ``"creationTime:desc"``, ``"datasetName"`` (ascending),
                ``"a:asc,b:desc"`` or a list of those. Ties are broken by
                ``pid``; default: by ``pid``.
            limit: At most this many datasets (default: all).
            files: Also fetch each dataset's file list (``origdatablocks``),
                so the results can go straight to :meth:`download_files`.
                Without it, the datasets come without files.
            page_size: Datasets per request (default 100, or 10 with
                ``files``).

        Raises:
            TypeError, ValueError: bad arguments (checked before sending).
            ScicatCommError: SciCat refused the query (``status_code`` 400,
                with the server's message: an unknown field or operator),
                the token was refused, or the answer was unusable.
            ScicatLoginError: the token has expired.
        """
        pages = self.query_datasets_pages(
            fields,
            where=where,
            order=order,
            limit=limit,
            files=files,
            page_size=page_size,
        )
        return await pages.all()

    def query_datasets_pages(
        self,
        fields: Mapping[str, Any] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        files: bool = False,
        page_size: int | None = None,
    ) -> DatasetPages:
        """The results of :meth:`query_datasets`, as an async iterator of pages.

        .. code-block:: python

            async for page in client.query_datasets_pages({"type": "raw"}):
                for dataset in page:
                    ...

        The arguments are checked now (``TypeError``/``ValueError``); each
        iteration step sends one request for ``page_size`` datasets. Sorted
        by ``pid`` (the default), pages continue after the last pid seen, so
        datasets added or removed meanwhile never shift them; with another
        ``order`` pages are taken by offset.
        """
        query = build_query(
            fields,
            where=where,
            order=order,
            limit=limit,
            files=files,
            page_size=page_size,
        )
        return DatasetPages(
            session=self._session,
            token=self._token,
            query=query,
            max_files=self._max_files,
        )

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
        verify_progress: VerifyProgressCallback | None = None,
    ) -> Dataset:
        """Make selected files of ``dataset`` available under ``target``.

        Args:
            dataset: The dataset (e.g. from :meth:`get_dataset`); unchanged.
            target: Local folder; created (with parents) only once every
                check has passed — and, as in Scitacean, also when nothing
                is selected.
            select: Which files, matched as in Scitacean against
                :attr:`File.remote_path <alink.File.remote_path>` (the path
                relative to the source folder): ``True``/``False``; a path
                (``"sub/a.dat"``; the full remote path is accepted too); a
                list/tuple of those; an ``re.Pattern``, searched in the
                relative path; or a callable ``File -> bool`` (for datasets
                of more than a few thousand files it is called on a worker
                thread, like the rest of the planning). Files not on the
                remote are never selected. A selection that matches none of
                the dataset's files warns with
                :class:`~alink.NothingSelectedWarning`.
            checksum_algorithm: Overrides the dataset's algorithm, for the
                check of existing files and for verification alike.
            force: Replace existing local entries whatever they are (folders
                excepted), even files that differ from the catalogue.
            keep_tree: Keep the remote sub-folders below the source folder
                (default: all files flat in ``target``, as Scitacean does).
            verify: After downloading, check ``"checksum"`` (size, and the
                checksum where the dataset has one; default), ``"size"``
                only, or ``"none"``. Below ``"checksum"`` no file is read: an
                existing file of the right size counts as in place.
            progress: ``progress(done, total)``, called as files complete.
            verify_progress: ``verify_progress(files_done, files_total,
                bytes_done, bytes_total)``, called as verification proceeds
                (after ``progress`` reached its total; reading a TB of
                checksums takes a while).
            follow_target_symlinks: Allow ``target`` itself, or a folder
                inside it, to be a symlink leading out of ``target`` (refused
                by default, so a planted link cannot redirect the download).

        Returns:
            A new dataset whose downloaded files have ``local_path`` set.
            (:meth:`download_files_with_report` also says what it did.)

        Existing local entries: a file that matches the catalogue, or a
        symlink to the very file (for a transfer that links), is kept
        untouched. alink's own stale entries — symlinks into the dataset's
        source folder — are replaced atomically: the path is never missing,
        and the old entry is back if anything fails. Anything else, such as a
        file whose size or checksum differs (maybe edited by you), is never
        replaced without ``force``: the download fails before changing
        anything. All or nothing: on any error, including
        :class:`~alink.IntegrityError` from verification, everything this
        call did is undone.

        Raises:
            ValueError: no file transfer, no source folder, an unsupported
                checksum algorithm, bad arguments.
            DuplicateLocalPathError: two files for one local path (a
                ``ValueError`` and, as in Scitacean, a ``RuntimeError``).
            TypeError: ``select`` (or another argument) has the wrong type.
            UnsafePathError: a file outside the source folder or without a
                usable name; ``target`` or a folder in it is a symlink leading
                elsewhere.
            LocalFileConflictError: local files that differ from the
                catalogue are in the way (a ``FileExistsError``).
            FileExistsError: a folder is where a file should go, or the
                transfer cannot replace an existing entry.
            FileNotAccessibleError: remote files cannot be reached.
            IntegrityError: a downloaded file does not match the catalogue.
        """
        # Not through download_files_with_report: a warning raised inside
        # (NothingSelectedWarning) names the caller's line with one fixed
        # stacklevel only when both methods are one frame above the helper.
        report = await _download_files(
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
            verify_progress=verify_progress,
        )
        return report.dataset

    async def download_files_with_report(
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
        verify_progress: VerifyProgressCallback | None = None,
    ) -> DownloadReport:
        """:meth:`download_files`, and what it did with each file.

        Takes the same arguments and raises the same errors. The
        :class:`~alink.DownloadReport` holds the dataset that
        :meth:`download_files` returns, and counts the files transferred,
        replaced and kept as they were, with how they were transferred
        (``"link"``, ``"copy"``, ...).
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
            verify_progress=verify_progress,
        )

    async def download_datasets(
        self,
        datasets: Iterable[str | PID | Dataset],
        *,
        target: str | os.PathLike[str],
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        folder: FolderNamer | None = None,
        progress: Callable[[DownloadsProgress], object] | None = None,
        select: FileSelector = True,
        select_for: Callable[[Dataset], FileSelector] | None = None,
        checksum_algorithm: str | None = None,
        force: bool = False,
        keep_tree: bool = False,
        verify: VerifyLevel = "checksum",
        follow_target_symlinks: bool = False,
    ) -> DownloadSummary:
        """Download many datasets, each into its own folder below ``target``.

        Each dataset given by PID is fetched (:meth:`get_dataset`), then its
        files are downloaded with :meth:`download_files` into
        ``target / folder``; at most ``max_concurrent`` datasets at once, on
        this client's connection pool and file transfer.

        **Each dataset is all or nothing, and independent of the others**: a
        dataset that fails leaves nothing behind and does not stop or undo
        the rest. Nothing is raised for it; the summary says which datasets
        failed and why (:meth:`DownloadSummary.raise_on_failure
        <alink.client.DownloadSummary.raise_on_failure>` turns failures into
        an exception). Cancelling the call keeps the finished datasets and
        rolls back the ones in flight.

        Args:
            datasets: PIDs (``str`` or :class:`~alink.PID`) or datasets (with
                their files, e.g. from ``query_datasets(files=True)``). The
                same PID twice is downloaded once.
            target: The folder below which each dataset gets its own.
            max_concurrent: Datasets in flight at once (default 4).
            folder: ``folder(dataset)`` -> the dataset's folder, relative to
                ``target``. Default: the PID without its prefix, escaped to
                one folder name (``"20.500.12269/abc"`` -> ``"abc"``; two
                datasets that would share a name are refused up front).
            progress: ``progress(DownloadsProgress)``, called on the event
                loop as files and datasets complete: one progress for all.
                If it raises, the whole call stops and raises that error.
            select: Which files, as for :meth:`download_files`, for every
                dataset alike.
            select_for: ``select_for(dataset)`` -> that dataset's ``select``
                (instead of one ``select`` for all); an exception it raises
                fails that dataset only.
            checksum_algorithm, force, keep_tree, verify,
                follow_target_symlinks: As for :meth:`download_files`,
                applied to every dataset.

        Returns:
            One :class:`~alink.client.DatasetDownload` per dataset, in the
            order given.

        Raises:
            ValueError: no file transfer, a bad argument, two datasets for one
                default folder (before anything starts).
            TypeError: an item is neither a PID nor a dataset.
            NotADirectoryError: ``target`` exists and is not a folder.
        """
        return await _download_datasets(
            self,
            datasets,
            target=target,
            max_concurrent=max_concurrent,
            folder=folder,
            progress=progress,
            select=select,
            select_for=select_for,
            checksum_algorithm=checksum_algorithm,
            force=force,
            keep_tree=keep_tree,
            verify=verify,
            follow_target_symlinks=follow_target_symlinks,
        )

    # --- upload -----------------------------------------------------------

    async def upload_new_dataset_now(
        self,
        dataset: Dataset,
        *,
        checksum_algorithm: str | None = "blake2b",
        max_datablock_bytes: int = DEFAULT_MAX_DATABLOCK_BYTES,
        allow_empty: bool = False,
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

        A dataset without files is refused unless ``allow_empty=True``: in
        Scitacean ``dataset.add_local_files(...)`` changes the dataset, in
        alink it returns a new one, and a ported line that drops the result
        would otherwise register a permanent catalogue entry with no files.
        Pass ``allow_empty=True`` to register a metadata-only dataset on
        purpose.

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
            ValueError: no files (and not ``allow_empty``), no logged-in
                client, local files but no transfer that uploads, files that
                are both local and remote, or a ``pid`` SciCat has already
                (a copy of a dataset read from it: upload
                ``dataset.as_new()``); nothing was uploaded.
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
            allow_empty=allow_empty,
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
