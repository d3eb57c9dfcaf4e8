"""What every filesystem transfer shares: options, upload folder and download connect.

:class:`~alink.transfer.link.LinkFileTransfer` and
:class:`~alink.transfer.copy.CopyFileTransfer` differ only in the connection
they hand out (which in turn differs only in its filesystem operation); the
connect checks, the safety options and the upload-folder pattern live here once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio.to_thread

from .._paths import RemotePath
from . import _plan
from ._download import (
    DownloadConnectionBase,
    DownloadOptions,
    _connect_checks,
    prepare_connect,
)
from ._engine import Engine
from ._source_folder import source_folder_for

if TYPE_CHECKING:
    from .._model import Dataset

__all__ = ["FilesystemTransferBase"]

_Connection = TypeVar("_Connection", bound=DownloadConnectionBase)


class FilesystemTransferBase(Generic[_Connection]):
    """A transfer that reads the remote storage through this machine's filesystem.

    Subclasses say which download connection they make; see
    :meth:`_download_connection`.
    """

    def __init__(
        self,
        *,
        source_folder: str | RemotePath | None = None,
        allowed_roots: Sequence[str | RemotePath] | None = None,
        follow_external_symlinks: bool = False,
        engine: Engine | None = None,
    ) -> None:
        self._source_folder_pattern = (
            RemotePath(source_folder) if source_folder is not None else None
        )
        self._options = DownloadOptions(
            allowed_roots=allowed_roots,
            follow_external_symlinks=follow_external_symlinks,
            engine=engine,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source_folder={self._source_folder_pattern!r},"
            f" allowed_roots={self._options.allowed_roots!r})"
        )

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        """The folder uploads for ``dataset`` go to.

        The transfer's ``source_folder`` pattern filled in for ``dataset``, or
        the dataset's own source folder when the transfer has no pattern.
        """
        return source_folder_for(dataset, self._source_folder_pattern)

    def _refuse_outside_roots(self, dataset: Dataset) -> None:
        """Raise :class:`~alink.UnsafePathError` now (no I/O) if connecting
        for ``dataset`` would, because of ``allowed_roots``.

        The client asks before it looks at the local side, so a dataset
        outside the roots is refused even when every file is in place already.
        """
        if dataset.source_folder is not None:
            prepare_connect(dataset, self._options, _plan.working_directory())

    def _download_connection(
        self, source: str, roots: tuple[str, ...] | None
    ) -> _Connection:
        """The connection for a dataset whose (absolute) source folder passed the
        connect checks; ``roots`` are where remote symlinks may resolve to."""
        raise NotImplementedError

    @asynccontextmanager
    async def connect_for_download(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[_Connection]:
        """Connect to the dataset's source folder for downloading.

        Checks, on a worker thread, that the source folder and
        ``source_folder / representative_file_path`` exist. Downloads always
        read from the dataset's own source folder, never from the transfer's
        ``source_folder`` pattern (that one is for uploads).

        Raises:
            ValueError: the dataset has no source folder.
            UnsafePathError: the source folder is outside ``allowed_roots``.
            FileNotAccessibleError: the source folder or representative file
                cannot be reached from this machine.
        """
        source = prepare_connect(dataset, self._options, _plan.working_directory())
        roots = await anyio.to_thread.run_sync(
            _connect_checks, source, representative_file_path, self._options
        )
        yield self._download_connection(source, roots)
