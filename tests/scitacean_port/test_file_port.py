"""Port of the remote-file cases of Scitacean's ``tests/file_test.py``
(Scitacean 26.10.1).

Scitacean builds remote files from its ``DownloadDataFile`` model; alink reads
the same datablock JSON (``dataFileList`` entries) through
``Dataset.from_scicat``, so those cases start from JSON. Not ported, as alink
has no counterpart: ``make_model``, ``uploaded(remote_gid=...,
remote_creation_time=...)``, ``validate_after_download`` and
``local_is_up_to_date`` (the checks behind the last two run inside
``Client.download_files`` and are ported in ``test_download_port.py``).
Local files: ``File.from_local`` does not touch the disk in alink (see
``test_file_from_local_reads_size_and_creation_time``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from alink import Dataset, File, RemotePath


def _one_file(entry: dict[str, Any], checksum_algorithm: str | None = None) -> File:
    """The file of a dataset whose only datablock lists ``entry``."""
    block: dict[str, Any] = {"dataFileList": [entry]}
    if checksum_algorithm is not None:
        block["chkAlg"] = checksum_algorithm
    dataset = Dataset.from_scicat(
        {"type": "raw", "sourceFolder": "/remote/folder", "origdatablocks": [block]}
    )
    [file] = dataset.files
    return file


@pytest.fixture
def local_file(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "local" / "dir" / "events.nxs"
    path.parent.mkdir(parents=True)
    contents = b"some events, or rather their bytes"
    path.write_bytes(contents)
    return {
        "path": path,
        "size": len(contents),
        "checksum": hashlib.md5(contents).hexdigest(),
    }


def test_file_from_local(local_file: dict[str, Any]) -> None:
    file = File.from_local(local_file["path"])
    assert file.remote_access_path("/remote") is None
    assert file.local_path == local_file["path"]
    assert file.remote_path == local_file["path"].name


def test_file_from_local_set_remote_path(local_file: dict[str, Any]) -> None:
    file = File.from_local(local_file["path"], remote_path="remote/location/file.nxs")
    assert file.remote_access_path("/remote") is None
    assert file.local_path == local_file["path"]
    assert file.remote_path == "remote/location/file.nxs"


def test_file_from_local_remote_path_uses_discards_parents(tmp_path: Path) -> None:
    (tmp_path / "data" / "subdir").mkdir(parents=True)
    (tmp_path / "data" / "subdir" / "file.dat").write_bytes(b"")
    file = File.from_local(tmp_path / "data" / "subdir" / "file.dat")
    assert file.remote_path == RemotePath("file.dat")


@pytest.mark.anyio
async def test_file_from_local_reads_size_and_creation_time(
    local_file: dict[str, Any],
) -> None:
    # Scitacean's File.from_local reads both from the disk. alink's is pure
    # (migration.md, "Where alink deliberately differs": File.from_local);
    # Dataset.with_local_files reads them on worker threads.
    file = File.from_local(local_file["path"])
    assert (file.size, file.creation_time) == (0, None)
    folder = Path(local_file["path"]).parent
    dataset = await Dataset(type="raw", source_folder="/remote").with_local_files(
        local_file["path"], base_path=folder
    )
    [read] = dataset.files
    assert read.size == local_file["size"]
    assert read.creation_time is not None


def test_file_from_remote_default_args() -> None:
    file = File.from_remote(
        remote_path="/remote/source/file.nxs",
        size=6123,
        creation_time="2023-09-27T16:00:15Z",
    )
    assert file.local_path is None
    assert isinstance(file.remote_path, RemotePath)
    assert file.remote_path == "/remote/source/file.nxs"
    assert file.size == 6123
    assert isinstance(file.creation_time, datetime)
    assert file.creation_time == datetime.fromisoformat("2023-09-27T16:00:15Z")
    # Scitacean: file.checksum() is None. alink: an attribute (migration.md,
    # "Where alink deliberately differs": File.checksum).
    assert file.checksum is None
    assert file.checksum_algorithm is None
    assert file.remote_uid is None
    assert file.remote_gid is None
    assert file.remote_perm is None


def test_file_from_remote_all_args() -> None:
    file = File.from_remote(
        remote_path="/remote/image.png",
        size=9,
        creation_time=datetime.fromisoformat("2023-10-09T08:12:59Z"),
        checksum="abcde",
        checksum_algorithm="md5",
        remote_uid="user-usy",
        remote_gid="groupy-group",
        remote_perm="wrx",
    )
    assert file.local_path is None
    assert file.remote_path == "/remote/image.png"
    assert file.size == 9
    assert file.creation_time == datetime.fromisoformat("2023-10-09T08:12:59Z")
    assert file.checksum == "abcde"  # Scitacean: file.checksum()
    assert file.checksum_algorithm == "md5"
    assert file.remote_uid == "user-usy"
    assert file.remote_gid == "groupy-group"
    assert file.remote_perm == "wrx"


def test_file_from_remote_checksum_requires_algorithm() -> None:
    with pytest.raises(TypeError, match="checksum"):
        File.from_remote(
            remote_path="/remote/image.png",
            size=9,
            creation_time="2023-10-09T08:12:59Z",
            checksum="abcde",
        )


def test_file_from_download_model() -> None:
    file = _one_file(
        {"path": "dir/image.jpg", "size": 12345, "time": "2022-06-22T15:42:53.123Z"}
    )
    assert file.remote_access_path("/remote/folder") == "/remote/folder/dir/image.jpg"
    assert file.local_path is None
    assert file.checksum is None  # Scitacean: file.checksum()
    assert file.size == 12345
    assert file.creation_time == datetime.fromisoformat("2022-06-22T15:42:53.123Z")


def test_file_from_download_model_remote_path_uses_forward_slash() -> None:
    entry = {"path": "data/subdir/file.dat", "size": 0, "time": "2022-06-22T15:42Z"}
    file = _one_file(entry)
    assert file.remote_path == RemotePath("data/subdir/file.dat")
    # Scitacean passes local_path to from_download_model; alink's counterpart
    # is downloaded(local_path=...).
    file = file.downloaded(local_path=Path("data") / "subdir")
    assert file.remote_path == RemotePath("data/subdir/file.dat")


def test_downloaded() -> None:
    file = _one_file(
        {
            "path": "dir/stream.s",
            "size": 55123,
            "time": "2025-01-09T21:00:21.421Z",
            "perm": "xrw",
        }
    )
    downloaded = file.downloaded(local_path="/local/stream.s")
    assert downloaded.is_on_local
    assert downloaded.is_on_remote
    assert downloaded.remote_path == RemotePath("dir/stream.s")
    assert downloaded.local_path == Path("/local/stream.s")
    assert downloaded.remote_perm == "xrw"


def test_file_from_download_model_takes_datablock_checksum_algorithm() -> None:
    # Scitacean's from_download_model(model, checksum_algorithm=dblock.chkAlg).
    file = _one_file(
        {"path": "a.dat", "size": 1, "time": "2025-01-09T21:00:21Z", "chk": "ab"},
        checksum_algorithm="sha256",
    )
    assert file.checksum == "ab"
    assert file.checksum_algorithm == "sha256"
