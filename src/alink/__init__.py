"""alink: make SciCat dataset files available locally, asynchronously and safely.

Works on asyncio and trio (via anyio). The public names live here; modules
whose names start with ``_`` are private.
"""

from ._errors import (
    DownloadsFailedError,
    FileNotAccessibleError,
    IntegrityError,
    NoSuitableTransferError,
    ProfileError,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)
from ._model import PID, Dataset, File
from ._paths import RemotePath
from .client import Client, Profile
from .transfer._engine import Engine, ProgressCallback, VerifyCallback

__all__ = [
    "PID",
    "Client",
    "Dataset",
    "DownloadsFailedError",
    "Engine",
    "File",
    "FileNotAccessibleError",
    "IntegrityError",
    "NoSuitableTransferError",
    "Profile",
    "ProfileError",
    "ProgressCallback",
    "RemotePath",
    "ScicatCommError",
    "ScicatLoginError",
    "UnsafePathError",
    "VerifyCallback",
]

__version__ = "0.1.0"
