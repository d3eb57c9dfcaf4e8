"""alink: make SciCat dataset files available locally, asynchronously and safely.

Works on asyncio and trio (via anyio). The public names live here; modules
whose names start with ``_`` are private.

The names that come from :mod:`alink.client` (:class:`Client`, ...) are
imported on first use: the client brings in httpx, which costs more to
import than the rest of alink together, and alink's pytest plugin (loaded by
every pytest run where alink is installed) does not need it.
"""

from typing import TYPE_CHECKING, Any

from ._errors import (
    DownloadsFailedError,
    DuplicateLocalPathError,
    FileNotAccessibleError,
    FileTransferError,
    IntegrityError,
    InvalidDatasetError,
    LocalFileConflictError,
    NoSuitableTransferError,
    NothingSelectedWarning,
    PartialUploadError,
    ProfileError,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)
from ._model import PID, Dataset, File
from ._paths import RemotePath
from ._public import present_as
from .transfer._engine import Engine, ProgressCallback, RunResult, VerifyCallback

if TYPE_CHECKING:
    from .client import Client, DownloadReport, Profile, VerifyProgressCallback

#: Public names defined in :mod:`alink.client`, imported on first use.
#: (``alink.client`` presents its classes among them as ``alink.X``.)
_CLIENT_NAMES = ("Client", "DownloadReport", "Profile", "VerifyProgressCallback")

__all__ = [
    "PID",
    "Client",
    "Dataset",
    "DownloadReport",
    "DuplicateLocalPathError",
    "DownloadsFailedError",
    "Engine",
    "File",
    "FileNotAccessibleError",
    "FileTransferError",
    "IntegrityError",
    "LocalFileConflictError",
    "NoSuitableTransferError",
    "NothingSelectedWarning",
    "Profile",
    "ProfileError",
    "InvalidDatasetError",
    "PartialUploadError",
    "ProgressCallback",
    "RemotePath",
    "RunResult",
    "ScicatCommError",
    "ScicatLoginError",
    "UnsafePathError",
    "VerifyCallback",
    "VerifyProgressCallback",
]

__version__ = "0.1.0"

# Tracebacks and reprs show ``alink.ScicatCommError``, not its private module.
present_as(__name__, globals(), [n for n in __all__ if n not in _CLIENT_NAMES])


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client

        for client_name in _CLIENT_NAMES:
            globals()[client_name] = getattr(client, client_name)
        return globals()[name]
    raise AttributeError(f"module 'alink' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
