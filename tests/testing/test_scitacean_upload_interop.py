"""Uploads and Scitacean: what alink uploads to the double, Scitacean reads;
what Scitacean uploads to the double, alink reads."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

import pytest

scitacean = pytest.importorskip("scitacean")
from scitacean import Client as ScitaceanClient  # noqa: E402
from scitacean import Dataset as ScitaceanDataset  # noqa: E402
from scitacean.transfer.copy import (  # noqa: E402
    CopyFileTransfer as ScitaceanCopyFileTransfer,
)

from alink import Client, Dataset  # noqa: E402
from alink.testing import ScicatServer  # noqa: E402
from alink.transfer.copy import CopyFileTransfer  # noqa: E402

_HTTP: dict[str, Any] = (
    {"allow_http": True}
    if "allow_http" in inspect.signature(ScitaceanClient.from_token).parameters
    else {}
)


def _write(folder: Path) -> dict[str, bytes]:
    contents = {"a.dat": b"alpha" * 50, "sub/b.dat": b"bravo\n"}
    for name, data in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return contents


@pytest.mark.anyio
async def test_scitacean_reads_what_alink_uploaded(
    scicat_server: ScicatServer, tmp_path: Path
) -> None:
    contents = _write(tmp_path / "out")
    dataset = Dataset.new(
        type="derived",
        name="reduced run 42",
        owner="Ponder Stibbons",
        owner_group="group1",
        contact_email="ponder.stibbons@uu.am",
        input_datasets=["PID.prefix.a0b1/5c3e1b7a-2f4d-4c8e-9a61-0d7b3f2e8c41"],
        used_software=["alink"],
        meta={"pressure": {"value": 8.1, "unit": "Pa"}},
        source_folder=str(tmp_path / "storage" / "reduced"),
    ).add_local_files(
        *(tmp_path / "out" / n for n in contents), base_path=tmp_path / "out"
    )
    async with Client.from_token(
        url=scicat_server.url,
        token=scicat_server.token("user1"),
        file_transfer=CopyFileTransfer(),
    ) as client:
        uploaded = await client.upload_new_dataset_now(dataset)

    theirs = ScitaceanClient.from_token(
        url=scicat_server.url + "/v3", token=scicat_server.token("user1"), **_HTTP
    ).get_dataset(str(uploaded.pid))
    assert str(theirs.pid) == str(uploaded.pid)
    assert theirs.type == "derived"
    assert theirs.name == "reduced run 42"
    assert [str(p) for p in theirs.input_datasets] == [
        "PID.prefix.a0b1/5c3e1b7a-2f4d-4c8e-9a61-0d7b3f2e8c41"
    ]
    assert theirs.meta["pressure"]["unit"] == "Pa"
    assert theirs.source_folder is not None
    assert theirs.source_folder.posix == str(tmp_path / "storage" / "reduced")
    assert [
        (f.remote_path.posix, f.size, f.checksum_algorithm, f.checksum())
        for f in theirs.files
    ] == [
        (name, len(data), "blake2b", hashlib.blake2b(data).hexdigest())
        for name, data in contents.items()
    ]


@pytest.mark.anyio
async def test_alink_reads_what_scitacean_uploaded(
    scicat_server: ScicatServer, tmp_path: Path
) -> None:
    contents = _write(tmp_path / "out")
    storage = tmp_path / "storage" / "raw42"
    theirs = ScitaceanDataset(
        type="raw",
        name="run 42",
        owner="Ponder Stibbons",
        owner_group="group1",
        access_groups=["uu"],
        contact_email="ponder.stibbons@uu.am",
        principal_investigators=["Ponder Stibbons"],
        creation_location="/UU/HEX",
        source_folder=str(storage),
        meta={"temperature": {"value": 4, "unit": "K"}},
    )
    theirs.add_local_files(tmp_path / "out" / "a.dat", tmp_path / "out" / "sub/b.dat")
    client = ScitaceanClient.from_token(
        url=scicat_server.url + "/v3",
        token=scicat_server.token("user1"),
        file_transfer=ScitaceanCopyFileTransfer(),
        **_HTTP,
    )
    finalized = client.upload_new_dataset_now(theirs)
    assert scicat_server.errors == []

    async with Client.from_token(
        url=scicat_server.url, token=scicat_server.token("user1")
    ) as ours:
        dataset = await ours.get_dataset(str(finalized.pid))
    assert dataset.name == "run 42"
    assert dataset.fields["principalInvestigators"] == ["Ponder Stibbons"]
    assert dataset.fields["numberOfFiles"] == 2
    # Scitacean uploads flat, under each file's name.
    assert [
        (f.remote_path.posix, f.size, f.checksum_algorithm) for f in dataset.files
    ] == [
        ("a.dat", len(contents["a.dat"]), "blake2b"),
        ("b.dat", len(contents["sub/b.dat"]), "blake2b"),
    ]
    assert dataset.files[0].checksum == hashlib.blake2b(contents["a.dat"]).hexdigest()
    assert (storage / "b.dat").read_bytes() == contents["sub/b.dat"]
