"""Helpers for local files, with the names of Scitacean's ``scitacean.filesystem``.

Everything that touches the disk is a coroutine that runs the blocking call
on a worker thread, so it can be awaited from a busy event loop (asyncio or
trio). :func:`escape_path` is pure.

.. code-block:: python

    from alink.filesystem import checksum_of_file, file_size

    digest = await checksum_of_file("run42/scan.h5", algorithm="md5")
    size = await file_size("run42/scan.h5")
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from ._paths import RemotePath
from .client._checksum import checksum_of_file as _checksum
from .client._checksum import normalize_algorithm

__all__ = [
    "RemotePath",
    "checksum_of_file",
    "escape_path",
    "file_modification_time",
    "file_size",
]

_P = TypeVar("_P", str, Path, RemotePath)

#: What :func:`escape_path` keeps: word characters, spaces, dots and dashes.
_UNSAFE = re.compile(r"[^\w .\-]")


async def checksum_of_file(path: str | os.PathLike[str], *, algorithm: str) -> str:
    """The hex digest of a local file, read in chunks on a worker thread.

    ``algorithm`` is any fixed-length :mod:`hashlib` algorithm, spelt as
    SciCat records it (``"md5"``, ``"SHA-256"``, ``"blake2b"``).

    Raises:
        ValueError: the algorithm is not available.
        OSError: the file cannot be read.
    """
    name = normalize_algorithm(algorithm)
    return await anyio.to_thread.run_sync(_checksum, os.fspath(path), name)


async def file_size(path: str | os.PathLike[str]) -> int:
    """The size in bytes of a local file (symlinks are followed)."""
    info = await anyio.to_thread.run_sync(os.stat, os.fspath(path))
    return info.st_size


async def file_modification_time(path: str | os.PathLike[str]) -> datetime:
    """When a local file was last modified, as an aware UTC time."""
    info = await anyio.to_thread.run_sync(os.stat, os.fspath(path))
    return datetime.fromtimestamp(info.st_mtime, UTC)


def escape_path(path: _P) -> _P:
    """``path`` as one name that Linux, macOS and Windows all accept.

    Non-ASCII characters are first spelt as backslash escapes (``é`` ->
    ``\\xe9``), then every character that is not a letter, digit, ``_``,
    space, ``.`` or ``-`` becomes ``_`` — slashes too, as in Scitacean. The
    result has the type of ``path`` (``str``, ``Path`` or ``RemotePath``).
    """
    text = path.posix if isinstance(path, RemotePath) else os.fspath(path)
    ascii_text = text.encode("ascii", "backslashreplace").decode("ascii")
    escaped = _UNSAFE.sub("_", ascii_text)
    return type(path)(escaped)
