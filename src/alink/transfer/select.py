"""Pick the first file transfer that can reach a dataset's files.

.. code-block:: python

    transfer = SelectFileTransfer([LinkFileTransfer(), CopyFileTransfer()])
    async with transfer.connect_for_download(dataset, first_file) as con:
        ...  # a LinkDownloadConnection where the storage is mounted, etc.

Each child is tried in order when connecting; a child whose connect raises
``RuntimeError`` (such as :class:`~alink.FileNotAccessibleError`) or
``NotImplementedError`` on enter is skipped. Only connecting selects: an
error raised while using the connection propagates unchanged and never
makes another child be tried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from .._errors import NoSuitableTransferError
from .._paths import RemotePath
from ._source_folder import source_folder_for

if TYPE_CHECKING:
    from .._model import Dataset
    from ..typing import DownloadConnection, FileTransfer, UploadConnection

__all__ = ["SelectFileTransfer"]

_Connection = TypeVar("_Connection")


def _describe(child: object, error: BaseException) -> str:
    return f"{type(child).__name__}: {type(error).__name__}: {error}"


class SelectFileTransfer:
    """Use the first of several transfers that can connect.

    Args:
        children: The transfers to try, in order (at least one).
        source_folder: Folder (pattern) for uploads, reported by
            :meth:`source_folder_for`; the selected child uploads according to
            its own settings (give it the same pattern).
    """

    def __init__(
        self,
        children: Iterable[FileTransfer],
        *,
        source_folder: str | RemotePath | None = None,
    ) -> None:
        self._children: tuple[FileTransfer, ...] = tuple(children)
        if not self._children:
            raise ValueError(
                "at least one child transfer must be provided to SelectFileTransfer"
            )
        self._source_folder_pattern = (
            RemotePath(source_folder) if source_folder is not None else None
        )

    @property
    def children(self) -> tuple[FileTransfer, ...]:
        """The child transfers, in the order they are tried."""
        return self._children

    def __repr__(self) -> str:
        return f"SelectFileTransfer({list(self._children)!r})"

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        """The folder uploads for ``dataset`` go to (pattern or its source folder)."""
        return source_folder_for(dataset, self._source_folder_pattern)

    def _refuse_outside_roots(self, dataset: Dataset) -> None:
        """Refuse ``dataset`` as the first child would on connect (its
        ``allowed_roots`` are checked before it touches anything, and that
        refusal is not a reason to try the next child)."""
        refuse = getattr(self._children[0], "_refuse_outside_roots", None)
        if refuse is not None:
            refuse(dataset)

    @asynccontextmanager
    async def connect_for_download(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str,
    ) -> AsyncIterator[DownloadConnection]:
        """Connect the first child that can download ``dataset``'s files.

        Raises:
            NoSuitableTransferError: every child failed to connect (a
                :class:`~alink.FileNotAccessibleError`; ``.errors`` holds what
                each child raised).
        """
        path = RemotePath(representative_file_path)
        async with AsyncExitStack() as stack:
            yield await self._enter_first(
                stack,
                lambda child: child.connect_for_download(dataset, path),
                "download",
                dataset,
                path,
            )

    @asynccontextmanager
    async def connect_for_upload(
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str,
    ) -> AsyncIterator[UploadConnection]:
        """Connect the first child that can upload ``dataset``'s files.

        Raises:
            NoSuitableTransferError: every child failed to connect (a
                :class:`~alink.FileNotAccessibleError`; ``.errors`` holds what
                each child raised).
        """
        path = RemotePath(representative_file_path)
        async with AsyncExitStack() as stack:
            yield await self._enter_first(
                stack,
                lambda child: child.connect_for_upload(dataset, path),
                "upload",
                dataset,
                path,
            )

    async def _enter_first(
        self,
        stack: AsyncExitStack,
        connect: Callable[[FileTransfer], AbstractAsyncContextManager[_Connection]],
        action: str,
        dataset: Dataset,
        path: RemotePath,
    ) -> _Connection:
        """Enter the first child connection that does not fail on enter.

        Only the connect call and ``__aenter__`` are guarded; the entered
        connection's exit is pushed on ``stack``, so errors raised while it is
        used reach it (and the caller) unchanged.
        """
        errors: list[BaseException] = []
        for child in self._children:
            try:
                return await stack.enter_async_context(connect(child))
            except (RuntimeError, NotImplementedError) as exc:
                errors.append(exc)
        raise NoSuitableTransferError(
            _message(action, dataset, self._children, errors),
            remote_path=path,
            errors=errors,
        )


def _message(
    action: str,
    dataset: Dataset,
    children: Sequence[object],
    errors: Sequence[BaseException],
) -> str:
    which = f" of dataset {dataset.pid}" if dataset.pid is not None else ""
    reasons = "; ".join(
        _describe(child, error) for child, error in zip(children, errors, strict=True)
    )
    # Scitacean's wording first: code ported from it may match on it.
    return (
        f"no suitable file transfer available: none could connect to {action}"
        f" files{which}: {reasons}"
    )
