"""alink: make SciCat dataset files available locally, asynchronously and safely.

Works on asyncio and trio (via anyio). The public names live here; modules
whose names start with ``_`` are private.
"""

from ._errors import (
    DownloadsFailedError,
    DuplicateLocalPathError,
    FileNotAccessibleError,
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
from .client import Client, DownloadReport, Profile, VerifyProgressCallback
from .transfer._engine import Engine, ProgressCallback, RunResult, VerifyCallback

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
present_as(__name__, globals(), __all__)
