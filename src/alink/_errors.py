"""Every exception alink raises on purpose.

Callers catch one plain exception from these (or a builtin such as
``FileExistsError``), never an ``ExceptionGroup`` from alink's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._paths import RemotePath
    from .client._many import DatasetDownload, DownloadSummary

__all__ = [
    "DownloadsFailedError",
    "FileNotAccessibleError",
    "IntegrityError",
    "NoSuitableTransferError",
    "ProfileError",
    "ScicatCommError",
    "ScicatLoginError",
    "UnsafePathError",
]


class FileNotAccessibleError(RuntimeError):
    """Remote files cannot be reached from this machine.

    Raised when a transfer cannot see a dataset's source folder or files, for
    example because the facility storage is not mounted here.

    Attributes:
        remote_path: The first inaccessible path, in the caller's input order.
        remote_paths: Every inaccessible path found by the same check.
    """

    def __init__(
        self,
        message: str,
        *,
        remote_path: RemotePath | None,
        remote_paths: Sequence[RemotePath] | None = None,
    ) -> None:
        super().__init__(message)
        self.remote_path = remote_path
        if remote_paths is None:
            remote_paths = () if remote_path is None else (remote_path,)
        self.remote_paths: tuple[RemotePath, ...] = tuple(remote_paths)


class IntegrityError(RuntimeError):
    """A downloaded file does not match its catalogue entry (size or checksum)."""


class ScicatCommError(RuntimeError):
    """Communication with the SciCat server failed.

    Attributes:
        status_code: The HTTP status the server answered with, or ``None`` when
            there was no usable answer (connection error, malformed body, ...).
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ScicatLoginError(RuntimeError):
    """Logging in to SciCat failed (wrong credentials or an expired token)."""


class UnsafePathError(ValueError):
    """A path would escape where alink is allowed to read or write.

    Examples: a dataset file ``../../etc/passwd`` outside the source folder, a
    local file name ``..``, a source folder outside ``allowed_roots`` or a
    remote symlink that points out of the dataset.
    """


class DownloadsFailedError(RuntimeError):
    """Some datasets of :meth:`~alink.Client.download_datasets` failed.

    Raised by :meth:`DownloadSummary.raise_on_failure
    <alink.client.DownloadSummary.raise_on_failure>`; the datasets that
    were downloaded stay downloaded.

    Attributes:
        summary: Every dataset's outcome.
        failures: The failed datasets, each with its ``error``.
    """

    def __init__(self, message: str, *, summary: DownloadSummary) -> None:
        super().__init__(message)
        self.summary = summary
        self.failures: tuple[DatasetDownload, ...] = summary.failed


class ProfileError(ValueError):
    """A profile cannot be used: unknown name, a broken profiles file, or a token
    that is not where the profile says (the message names the file and key)."""


class NoSuitableTransferError(FileNotAccessibleError):
    """No transfer of a :class:`~alink.transfer.select.SelectFileTransfer` could
    connect.

    Attributes:
        errors: What each child transfer raised, in the order they were tried.
    """

    def __init__(
        self,
        message: str,
        *,
        remote_path: RemotePath | None,
        errors: Sequence[BaseException],
    ) -> None:
        super().__init__(message, remote_path=remote_path)
        self.errors: tuple[BaseException, ...] = tuple(errors)
