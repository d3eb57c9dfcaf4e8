"""alink: make SciCat dataset files available locally, asynchronously and safely.

Works on asyncio and trio (via anyio). The public names live here; modules
whose names start with ``_`` are private.

:class:`Client` is imported on first use: it brings in httpx, which costs
more to import than the rest of alink together, and ``alink.testing``'s
pytest plugin (loaded by every pytest run where alink is installed) does not
need it.
"""

from typing import TYPE_CHECKING, Any

from ._errors import (
    FileNotAccessibleError,
    IntegrityError,
    NoSuitableTransferError,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)
from ._model import PID, Dataset, File
from ._paths import RemotePath
from .transfer._engine import Engine, ProgressCallback, VerifyCallback

__all__ = [
    "PID",
    "Client",
    "Dataset",
    "Engine",
    "File",
    "FileNotAccessibleError",
    "IntegrityError",
    "NoSuitableTransferError",
    "ProgressCallback",
    "RemotePath",
    "ScicatCommError",
    "ScicatLoginError",
    "UnsafePathError",
    "VerifyCallback",
]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import Client


def __getattr__(name: str) -> Any:
    if name == "Client":
        from .client import Client

        globals()["Client"] = Client
        return Client
    raise AttributeError(f"module 'alink' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
