"""Protocols for file transfers: what a :class:`~alink.Client` needs from one.

They have the shapes of Scitacean's ``scitacean.typing`` with every I/O call
awaitable: connecting returns an *async* context manager, and downloading,
uploading and reverting are coroutines. Any class with these methods is a
transfer; no base class is needed. ``LinkFileTransfer``, ``CopyFileTransfer``
and ``SelectFileTransfer`` all satisfy :class:`FileTransfer` (mypy checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._model import Dataset, File
    from ._paths import RemotePath

__all__ = [
    "DownloadConnection",
    "Downloader",
    "FileTransfer",
    "UploadConnection",
    "Uploader",
]


@runtime_checkable
class DownloadConnection(Protocol):
    """An open connection that can download files of one dataset."""

    async def download_files(
        self, *, remote: Sequence[RemotePath], local: Sequence[Path]
    ) -> object:
        """Make each ``remote[i]`` (a full remote path) available at ``local[i]``.

        The result is not used by callers in general (Scitacean's returns
        ``None``); alink's own connections return a
        :class:`~alink.RunResult` saying what was created, replaced and
        already in place.
        """


@runtime_checkable
class Downloader(Protocol):
    """Something that can connect to the remote storage to download files."""

    def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AbstractAsyncContextManager[DownloadConnection]:
        """Connect for downloading files of ``dataset``; use with ``async with``.

        ``representative_file_path`` names a file that is checked on enter: if
        it is accessible, all files of the dataset are assumed to be.
        Entering raises ``RuntimeError`` (usually
        :class:`~alink.FileNotAccessibleError`) when the files cannot be
        reached this way.
        """


@runtime_checkable
class UploadConnection(Protocol):
    """An open connection that can upload files of one dataset."""

    async def upload_files(self, *files: File) -> list[File]:
        """Upload files (their ``local_path``); return them marked as on the remote."""

    async def revert_upload(self, *files: File) -> None:
        """Remove files that this connection uploaded."""


@runtime_checkable
class Uploader(Protocol):
    """Something that can connect to the remote storage to upload files."""

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        """The remote folder that uploads of ``dataset`` go to."""

    def connect_for_upload(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AbstractAsyncContextManager[UploadConnection]:
        """Connect for uploading files of ``dataset``; use with ``async with``.

        Entering raises ``RuntimeError`` (or ``NotImplementedError`` for a
        transfer that cannot upload) when uploads cannot be made this way.
        """


@runtime_checkable
class FileTransfer(Downloader, Uploader, Protocol):
    """Something that can both download and upload files."""
