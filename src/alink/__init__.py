"""alink: make SciCat dataset files available locally, asynchronously and safely.

Works on asyncio and trio (via anyio). The public names live here; modules
whose names start with ``_`` are private.
"""

from ._errors import (
    DuplicateLocalPathError,
    FileNotAccessibleError,
    IntegrityError,
    InvalidDatasetError,
    NoSuitableTransferError,
    NothingSelectedWarning,
    PartialUploadError,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)
from ._model import PID, Dataset, File
from ._paths import RemotePath
from ._public import present_as
from .client import Client
from .transfer._engine import Engine, ProgressCallback, VerifyCallback

__all__ = [
    "PID",
    "Client",
    "Dataset",
    "DuplicateLocalPathError",
    "Engine",
    "File",
    "FileNotAccessibleError",
    "IntegrityError",
    "InvalidDatasetError",
    "NoSuitableTransferError",
    "NothingSelectedWarning",
    "PartialUploadError",
    "ProgressCallback",
    "RemotePath",
    "ScicatCommError",
    "ScicatLoginError",
    "UnsafePathError",
    "VerifyCallback",
]

__version__ = "0.1.0"

# Tracebacks and reprs show ``alink.ScicatCommError``, not its private module.
present_as(__name__, globals(), __all__)
