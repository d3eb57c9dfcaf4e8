"""Scitacean's own (synchronous) Client reads datasets and files from the double.

Scitacean 26 reads ``GET /api/v4/datasets/{pid}?include=origdatablocks``
(or ``/datasets/public/...`` without login); Scitacean 25 read
``/api/v3/datasets/{pid}`` and ``.../origdatablocks``. Both are served.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

scitacean = pytest.importorskip("scitacean")
from scitacean import Client, ScicatCommError  # noqa: E402
from scitacean.transfer.link import LinkFileTransfer  # noqa: E402

from alink.testing import ScicatSeed, ScicatServer, dataset_from_directory  # noqa: E402

# Scitacean >= 26 refuses http:// unless told it is a test.
_HTTP: dict[str, Any] = (
    {"allow_http": True}
    if "allow_http" in inspect.signature(Client.from_token).parameters
    else {}
)


def test_from_token_reads_a_dataset_with_its_files(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed
) -> None:
    client = Client.from_token(
        url=scicat_server.url + "/v3", token=scicat_server.token("user1"), **_HTTP
    )
    dataset = client.get_dataset(scicat_seed.raw_pid)
    assert str(dataset.pid) == scicat_seed.raw_pid
    assert dataset.name == "My darkest magic yet"
    assert dataset.type == "raw"
    assert dataset.source_folder.posix == "/hex/data/123"
    assert [
        (f.remote_path.posix, f.size, f.checksum_algorithm) for f in dataset.files
    ] == [
        ("file1.txt", 300, "md5"),
        ("sub/song.mp3", 319, "md5"),
    ]
    assert all(r.user == "user1" for r in scicat_server.requests)


def test_from_credentials_logs_in_and_reads(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed
) -> None:
    client = Client.from_credentials(
        url=scicat_server.url + "/v3", username="user1", password="pw1", **_HTTP
    )
    dataset = client.get_dataset(scicat_seed.derived_pid)
    assert dataset.type == "derived"
    assert [f.remote_path.posix for f in dataset.files] == ["table.csv"]
    first = scicat_server.requests[0]
    assert (first.method, first.path, first.status) == (
        "POST",
        "/api/v3/auth/login",
        201,
    )


def test_wrong_credentials_are_refused(scicat_server: ScicatServer) -> None:
    # AuthError in Scitacean 26, ScicatLoginError in 25: both RuntimeErrors.
    with pytest.raises(RuntimeError):
        Client.from_credentials(
            url=scicat_server.url + "/v3", username="user1", password="nope", **_HTTP
        )
    first = scicat_server.requests[0]
    assert (first.method, first.path, first.status) == (
        "POST",
        "/api/v3/auth/login",
        401,
    )


def test_without_login_reads_published_datasets_only(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed
) -> None:
    client = Client.without_login(url=scicat_server.url + "/v3", **_HTTP)
    dataset = client.get_dataset(scicat_seed.published_pid)
    assert [f.remote_path.posix for f in dataset.files] == [
        "spells/fire.txt",
        "spells/water.txt",
        "README.md",
    ]
    with pytest.raises(ScicatCommError):
        client.get_dataset(scicat_seed.raw_pid)


def test_unknown_pid_is_a_comm_error(scicat_server: ScicatServer) -> None:
    client = Client.from_token(
        url=scicat_server.url + "/v3", token=scicat_server.token("admin"), **_HTTP
    )
    with pytest.raises(ScicatCommError):
        client.get_dataset("PID.prefix/does-not-exist")


def test_scitacean_links_real_files_listed_by_the_double(
    scicat_server: ScicatServer, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    (remote / "sub").mkdir(parents=True)
    for i in range(50):
        (remote / "sub" / f"f{i:02d}.dat").write_bytes(f"payload {i}".encode())
    generated = dataset_from_directory(remote, pid="PID.prefix/real-files")
    scicat_server.add_dataset(*generated)
    client = Client.from_token(
        url=scicat_server.url + "/v3",
        token=scicat_server.token("admin"),
        file_transfer=LinkFileTransfer(),
        **_HTTP,
    )
    dataset = client.get_dataset("PID.prefix/real-files")
    assert len(dataset.files) == 50
    target = tmp_path / "local"
    # Scitacean checks each file's md5 from the catalogue after linking.
    done = client.download_files(dataset, target=target)
    linked = sorted(p.name for p in target.iterdir())
    assert linked == [f"f{i:02d}.dat" for i in range(50)]
    assert all((target / name).is_symlink() for name in linked)
    assert all(f.local_path is not None for f in done.files)
