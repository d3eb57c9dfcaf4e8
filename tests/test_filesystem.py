"""``alink.filesystem``: Scitacean's local-file helpers, awaitable."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scitacean import filesystem as sc

from alink import RemotePath
from alink.filesystem import (
    checksum_of_file,
    escape_path,
    file_modification_time,
    file_size,
)


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ["md5", "SHA-256", "blake2b"])
async def test_checksum_matches_hashlib_and_scitacean(
    tmp_path: Path, algorithm: str
) -> None:
    path = tmp_path / "data.bin"
    data = os.urandom(3 << 20) + b"tail"
    path.write_bytes(data)
    name = algorithm.lower().replace("-", "")
    expected = hashlib.new(name, data).hexdigest()
    assert await checksum_of_file(path, algorithm=algorithm) == expected
    assert await checksum_of_file(str(path), algorithm=algorithm) == expected
    assert sc.checksum_of_file(path, algorithm=name) == expected


@pytest.mark.anyio
async def test_unknown_algorithm_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported checksum algorithm"):
        await checksum_of_file(tmp_path, algorithm="crc-nope")
    with pytest.raises(FileNotFoundError):
        await checksum_of_file(tmp_path / "missing", algorithm="md5")
    with pytest.raises(FileNotFoundError):
        await file_size(tmp_path / "missing")


@pytest.mark.anyio
async def test_size_and_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"12345")
    os.utime(path, (1_700_000_000, 1_700_000_000.5))
    assert await file_size(path) == 5
    when = await file_modification_time(path)
    assert when == datetime.fromtimestamp(1_700_000_000.5, UTC)
    assert when.tzinfo is not None
    assert when == sc.file_modification_time(path)


@pytest.mark.parametrize(
    "text", ["plain.txt", "a b-c_d.e", "sub/dir\\x", "ünï cödé", "what?*<>|:", ""]
)
def test_escape_path_as_scitacean(text: str) -> None:
    assert escape_path(text) == sc.escape_path(text)
    assert escape_path(Path(text)) == sc.escape_path(Path(text))
    assert type(escape_path(Path(text))) is type(Path(text))
    escaped = escape_path(RemotePath(text))
    assert isinstance(escaped, RemotePath)
    assert escaped.posix == sc.escape_path(sc.RemotePath(text)).posix
