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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn

from .._paths import RemotePath
from . import _fs
from ._base import FilesystemTransferBase
from ._download import DownloadConnectionBase

if TYPE_CHECKING:
    from .._model import Dataset

__all__ = ["LinkDownloadConnection", "LinkFileTransfer"]


class LinkDownloadConnection(DownloadConnectionBase):
    """Downloads by creating symlinks; get one from
    :meth:`LinkFileTransfer.connect_for_download`.

    Each local path becomes a symlink to the absolute remote path. An existing
    symlink to the same file counts as done, so re-running a download is a
    no-op: its text is the absolute remote path, or a relative one that names
    it from the link's own folder and leads there (as ``ln -sr`` makes).
    Anything else at a local path raises ``FileExistsError``; a rollback only
    ever removes links whose text is the absolute path this call wrote.
    """

    _operation = _fs.SymlinkOperation()
    #: How this connection makes files (for reports).
    method = "link"


class LinkFileTransfer(FilesystemTransferBase[LinkDownloadConnection]):
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

    def _download_connection(
        self, source: str, roots: tuple[str, ...] | None
    ) -> LinkDownloadConnection:
        return LinkDownloadConnection(
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
