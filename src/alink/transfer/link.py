"""Make a dataset's files available by symlinking them from mounted storage.

Use :class:`LinkFileTransfer` when the facility storage ("remote") is mounted
on this machine: nothing is copied, each local file is a symlink to the
absolute remote path.

.. code-block:: python

    transfer = LinkFileTransfer()
    first = dataset.files[0].remote_path
    async with transfer.connect_for_download(dataset, first) as con:
        await con.download_files(remote=[...], local=[...])
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn

import anyio.to_thread

from .._paths import RemotePath
from . import _fs
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

__all__ = ["LinkDownloadConnection", "LinkFileTransfer"]


class LinkDownloadConnection(DownloadConnectionBase):
    """Downloads by creating symlinks; get one from
    :meth:`LinkFileTransfer.connect_for_download`.

    Each local path becomes a symlink to the absolute remote path. An existing
    symlink to the same target counts as done, so re-running a download is a
    no-op; anything else at a local path raises ``FileExistsError``.
    """

    _operation = _fs.SymlinkOperation()


class LinkFileTransfer:
    """Download files by symlinking them from storage mounted on this machine.

    Args:
        source_folder: Folder (pattern) for uploads; never used for downloads,
            which always read from the dataset's own source folder.
        allowed_roots: When given, connecting to a dataset whose source folder
            is not inside one of these remote folders raises
            :class:`~alink.UnsafePathError` before any filesystem access.
        follow_external_symlinks: Allow remote files that are symlinks
            resolving outside the dataset's source folder (they are refused by
            default).
        engine: Batching and thread settings; the defaults suit local disks,
            tmpfs and network mounts alike.
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
            f"LinkFileTransfer(source_folder={self._source_folder_pattern!r},"
            f" allowed_roots={self._options.allowed_roots!r})"
        )

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        """The folder uploads for ``dataset`` would go to."""
        return source_folder_for(dataset, self._source_folder_pattern)

    @asynccontextmanager
    async def connect_for_download(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[LinkDownloadConnection]:
        """Connect to the dataset's source folder for downloading.

        Checks, on a worker thread, that the source folder and
        ``source_folder / representative_file_path`` exist.

        Raises:
            ValueError: the dataset has no source folder.
            UnsafePathError: the source folder is outside ``allowed_roots``.
            FileNotAccessibleError: the source folder or representative file
                cannot be reached from this machine.
        """
        source = prepare_connect(dataset, self._options, os.getcwd())
        roots = await anyio.to_thread.run_sync(
            _connect_checks, source, representative_file_path, self._options
        )
        yield LinkDownloadConnection(
            source_folder=source, roots=roots, options=self._options
        )

    @asynccontextmanager
    async def connect_for_upload(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[NoReturn]:
        """Not supported: raises ``NotImplementedError`` on enter.

        Links cannot upload; copy files into the source folder instead, e.g.
        with :class:`alink.transfer.copy.CopyFileTransfer`.
        """
        raise NotImplementedError(
            "LinkFileTransfer cannot upload files; use CopyFileTransfer or write"
            " the files into the dataset's source folder directly"
        )
        yield  # pragma: no cover
