"""Every exception alink raises on purpose.

Callers catch one plain exception from these (or a builtin such as
``FileExistsError``), never an ``ExceptionGroup`` from alink's internals.
Every one of them pickles (keyword attributes included), so errors travel
between processes like the datasets they are about.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._model import PID
    from ._paths import RemotePath
    from .client._many import DatasetDownload, DownloadSummary

__all__ = [
    "DuplicateLocalPathError",
    "DownloadsFailedError",
    "FileNotAccessibleError",
    "FileTransferError",
    "IntegrityError",
    "LocalFileConflictError",
    "NoSuitableTransferError",
    "NothingSelectedWarning",
    "ProfileError",
    "InvalidDatasetError",
    "PartialUploadError",
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
        remote_path: RemotePath | None = None,
        remote_paths: Sequence[RemotePath] | None = None,
    ) -> None:
        super().__init__(message)
        self.remote_path = remote_path
        if remote_paths is None:
            remote_paths = () if remote_path is None else (remote_path,)
        self.remote_paths: tuple[RemotePath, ...] = tuple(remote_paths)


class FileTransferError(FileNotAccessibleError):
    """Moving files to or from a file server failed part-way.

    For example the SSH connection of an
    :class:`~alink.transfer.sftp.SFTPFileTransfer` was lost, or the server
    failed a read or a write. Whatever the call had created is removed again
    before this is raised, so re-running it later completes the transfer. A
    :class:`FileNotAccessibleError`: the files could not be reached from here.

    Attributes:
        host: The file server, as the transfer was configured (``None`` if
            unknown).
        remote_path: The first file that was not transferred, in input order.
        remote_paths: Every file that was not transferred completely.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        remote_path: RemotePath | None = None,
        remote_paths: Sequence[RemotePath] | None = None,
    ) -> None:
        super().__init__(message, remote_path=remote_path, remote_paths=remote_paths)
        self.host = host


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


class DuplicateLocalPathError(ValueError, RuntimeError):
    """Several selected files would land on the same local path.

    Typical of the flat layout (Scitacean's default): ``a/x.dat`` and
    ``b/x.dat`` are both ``target/x.dat``. Nothing was downloaded. A
    ``ValueError`` (bad input) that is also a ``RuntimeError``, which is what
    Scitacean raises here, so code ported from it still catches it.

    Attributes:
        clashes: Each local path that would receive more than one file, with
            the full remote paths of those files, in input order.
        flat: Whether the clash comes from the flat layout (keeping the
            remote sub-folders would avoid it).
        summary: The message without its closing hint, for callers (such as
            the command line) that phrase their own.
    """

    def __init__(
        self,
        message: str,
        *,
        clashes: Mapping[str, Sequence[RemotePath]] | None = None,
        flat: bool = False,
        summary: str | None = None,
    ) -> None:
        super().__init__(message)
        self.clashes: dict[str, tuple[RemotePath, ...]] = {
            k: tuple(v) for k, v in (clashes or {}).items()
        }
        self.flat = flat
        self.summary = summary if summary is not None else message


class LocalFileConflictError(FileExistsError):
    """Local files are in the way and may be the user's own: nothing changed.

    Raised by ``Client.download_files`` before anything is written when a
    local path holds something alink did not make and that differs from the
    catalogue — a file with another size or checksum (perhaps edited), a
    symlink to somewhere outside the dataset, a FIFO. ``force=True`` replaces
    them.

    Attributes:
        paths: Every such local path, in the download's order.
        reasons: Why each one is in the way (``reasons[i]`` for ``paths[i]``).
        summary: The message without its closing hint, for callers (such as
            the command line) that phrase their own.
    """

    def __init__(
        self,
        message: str,
        *,
        paths: Sequence[str | os.PathLike[str]] = (),
        reasons: Sequence[str] = (),
        summary: str | None = None,
    ) -> None:
        super().__init__(message)
        self.paths: tuple[Path, ...] = tuple(Path(p) for p in paths)
        self.reasons: tuple[str, ...] = tuple(reasons)
        self.summary = summary if summary is not None else message


class DownloadsFailedError(RuntimeError):
    """Some datasets of :meth:`~alink.Client.download_datasets` failed.

    Raised by :meth:`DownloadSummary.raise_on_failure
    <alink.client.DownloadSummary.raise_on_failure>`; the datasets that
    were downloaded stay downloaded.

    Attributes:
        summary: Every dataset's outcome.
        failures: The failed datasets, each with its ``error``.
    """

    def __init__(self, message: str, *, summary: DownloadSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary
        self.failures: tuple[DatasetDownload, ...] = (
            summary.failed if summary is not None else ()
        )


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
        remote_path: RemotePath | None = None,
        errors: Sequence[BaseException] = (),
    ) -> None:
        super().__init__(message, remote_path=remote_path)
        self.errors: tuple[BaseException, ...] = tuple(errors)


class NothingSelectedWarning(UserWarning):
    """``Client.download_files``' ``select`` matched none of the dataset's files.

    Usually a ``select`` written for full remote paths: like Scitacean's,
    alink's :attr:`File.remote_path <alink.File.remote_path>` is relative to
    the source folder. The download itself succeeds (there is nothing to do);
    turn the warning into an error with
    ``warnings.simplefilter("error", alink.NothingSelectedWarning)``.
    """


class InvalidDatasetError(ValueError):
    """A dataset cannot be uploaded as it is: fields are missing or malformed.

    Raised before anything is uploaded when alink's own check or SciCat's
    validation (``POST /datasets/isValid``) refuses the dataset, and when
    SciCat refuses to create it (HTTP 400); in that last case the files
    already uploaded have been removed again.

    Attributes:
        fields: The SciCat names of the offending fields (``contactEmail``,
            ``dataFileList.3.time``), as far as they are known.
        problems: One message per problem, as the checker or SciCat phrased it.
        status_code: The HTTP status of SciCat's refusal, ``None`` when alink's
            own check found the problems.
    """

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[str] = (),
        problems: Sequence[str] = (),
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)
        self.problems: tuple[str, ...] = tuple(problems)
        self.status_code = status_code


class PartialUploadError(RuntimeError):
    """An upload failed and could not be fully undone: something is left behind.

    ``Client.upload_new_dataset_now`` is all or nothing: when a step fails it
    removes the uploaded files, the datablocks and the dataset it created.
    When SciCat refuses to delete (only its ``DELETE_GROUPS`` may) or a file
    cannot be removed, this error says what is still there and what to do;
    the failure that started it is its ``__cause__``.

    Attributes:
        pid: The dataset left in SciCat, or ``None`` if none is left.
        datablocks: Ids of the orig datablocks left in SciCat.
        files: Full remote paths of uploaded files that are still there.
    """

    def __init__(
        self,
        message: str,
        *,
        pid: PID | None = None,
        datablocks: Sequence[str] = (),
        files: Sequence[RemotePath] = (),
    ) -> None:
        super().__init__(message)
        self.pid = pid
        self.datablocks: tuple[str, ...] = tuple(datablocks)
        self.files: tuple[RemotePath, ...] = tuple(files)


class FolderTimesError(OSError):
    """A rollback could not put back an existing folder's modification time.

    Internal: it only appears in the note a rolled-back download carries.
    Nothing alink made is left behind; only the folder's time shows the
    download happened. Typical of a folder one may write to but does not own
    (a shared mode-1777 folder): setting explicit times needs ownership.
    The error's ``filename`` is the folder.
    """
