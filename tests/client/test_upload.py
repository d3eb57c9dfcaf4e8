"""``Client.upload_new_dataset_now`` against the SciCat double, over real HTTP.

Every step can fail (the double's fault injection), and every failure, or
a cancellation, leaves the server and the storage as they were, or says
exactly what is left.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from alink import (
    Client,
    Dataset,
    File,
    IntegrityError,
    InvalidDatasetError,
    PartialUploadError,
    ScicatCommError,
)
from alink.testing import ScicatServer
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.transfer.select import SelectFileTransfer

pytestmark = pytest.mark.anyio

CONTENTS = {
    "a.dat": os.urandom(3000),
    "b.dat": b"bravo" * 100,
    "sub/c.dat": b"charlie\n",
}
CREATE = re.compile(r"/v4/datasets$")
BLOCKS = "/v4/origdatablocks"


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """What an ingestion service wrote: a.dat, b.dat and sub/c.dat in ``out``."""
    out = tmp_path / "out"
    for name, data in CONTENTS.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return out


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """The facility storage, mounted here (empty)."""
    folder = tmp_path / "storage"
    folder.mkdir()
    return folder


def new(storage: Path, **changes: Any) -> Dataset:
    keywords: dict[str, Any] = {
        "name": "run 42",
        "owner": "Ponder Stibbons",
        "owner_group": "group1",
        "access_groups": ["uu"],
        "contact_email": "ponder.stibbons@uu.am",
        "principal_investigators": ["Ponder Stibbons"],
        "creation_location": "/UU/HEX",
        "meta": {"temperature": {"value": 4, "unit": "K"}},
    }
    keywords.update(changes)
    return Dataset.new(type="raw", source_folder=str(storage / "run42"), **keywords)


def with_files(dataset: Dataset, local: Path) -> Dataset:
    return dataset.add_local_files(*(local / n for n in CONTENTS), base_path=local)


def client(server: ScicatServer, user: str = "user1", transfer: Any = "copy") -> Client:
    return Client.from_token(
        url=server.url,
        token=server.token(user),
        file_transfer=CopyFileTransfer() if transfer == "copy" else transfer,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def calls(server: ScicatServer) -> list[tuple[str, str, int | None]]:
    return [
        (r.method, re.sub(r"/PID\.prefix[^/]*", "/PID", r.path), r.status)
        for r in server.requests
    ]


SEEDED = 3  # datasets in the example seed


async def test_upload_registers_the_files_and_returns_the_stored_dataset(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = with_files(new(storage), local)
    async with client(scicat_server) as c:
        uploaded = await c.upload_new_dataset_now(dataset)
        assert uploaded.pid is not None
        assert str(uploaded.pid).startswith("PID.prefix.a0b1/")
        assert uploaded.name == "run 42"
        assert uploaded.source_folder == str(storage / "run42")
        assert [f.remote_path.posix for f in uploaded.files] == list(CONTENTS)
        for file in uploaded.files:
            data = CONTENTS[file.remote_path.posix]
            assert file.size == len(data)
            assert file.checksum_algorithm == "blake2b"
            assert file.checksum == hashlib.blake2b(data).hexdigest()
            assert file.is_on_remote
            assert file.local_path is None
        assert uploaded.fields["size"] == sum(map(len, CONTENTS.values()))
        assert uploaded.fields["numberOfFiles"] == 3
        # What the server stored, exactly.
        assert await c.get_dataset(uploaded.pid) == uploaded
    assert tree(storage / "run42") == CONTENTS
    assert calls(scicat_server) == [
        ("POST", "/api/v4/datasets/isValid", 200),
        ("POST", "/api/v4/datasets", 201),
        ("POST", "/api/v4/origdatablocks", 201),
        ("GET", "/api/v4/datasets/PID", 200),
        ("GET", "/api/v4/datasets/PID", 200),
    ]
    assert dataset.pid is None  # the input is unchanged


async def test_several_contact_addresses_separated_by_semicolons(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    """SciCat (and Scitacean) take a list of contacts: ``a@x; b@y``."""
    contacts = "ponder.stibbons@uu.am; ridcully@uu.am"
    dataset = with_files(new(storage, contact_email=contacts), local)
    async with client(scicat_server) as c:
        uploaded = await c.upload_new_dataset_now(dataset)
    assert uploaded.fields["contactEmail"] == contacts


async def test_a_bad_address_among_the_contacts_is_refused_locally(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = with_files(
        new(storage, contact_email="ponder.stibbons@uu.am;librarian"), local
    )
    async with client(scicat_server) as c:
        with pytest.raises(InvalidDatasetError, match="separated by semicolons"):
            await c.upload_new_dataset_now(dataset)
    assert len(scicat_server.pids) == SEEDED
    assert tree(storage) == {}


async def test_files_read_by_with_local_files_are_not_read_again(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = await new(storage).with_local_files(
        *(local / n for n in CONTENTS), base_path=local, checksum_algorithm="md5"
    )
    assert [f.size for f in dataset.files] == [len(d) for d in CONTENTS.values()]
    async with client(scicat_server) as c:
        uploaded = await c.upload_new_dataset_now(dataset)
    block = scicat_server.orig_datablocks(str(uploaded.pid))[0]
    assert block["chkAlg"] == "md5"
    assert [f["chk"] for f in block["dataFileList"]] == [
        hashlib.md5(d).hexdigest() for d in CONTENTS.values()
    ]


async def test_files_already_on_the_storage_are_registered_as_they_are(
    scicat_server: ScicatServer, storage: Path
) -> None:
    dataset = new(storage).add_files(
        File.from_remote("x.h5", 10, "2024-01-01T00:00:00Z", "ab" * 16, "md5"),
        File.from_remote("y.h5", 20, "2024-01-01T00:00:01Z"),
    )
    async with Client.from_token(
        url=scicat_server.url, token=scicat_server.token("user1")
    ) as c:  # no transfer needed
        uploaded = await c.upload_new_dataset_now(dataset)
    assert [(f.remote_path.posix, f.size) for f in uploaded.files] == [
        ("x.h5", 10),
        ("y.h5", 20),
    ]
    blocks = scicat_server.orig_datablocks(str(uploaded.pid))
    assert [b["chkAlg"] for b in blocks] == ["md5"]  # y.h5 has no checksum
    assert "chk" not in blocks[0]["dataFileList"][1]
    assert os.listdir(storage) == []


async def test_a_dataset_without_files_is_refused_before_anything_is_sent(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = new(storage)
    # Scitacean's habit: add_local_files in place. alink returns a new
    # dataset, so this line drops the files.
    dataset.add_local_files(local / "a.dat")
    async with client(scicat_server) as c:
        with pytest.raises(ValueError, match="without files") as caught:
            await c.upload_new_dataset_now(dataset)
    message = str(caught.value)
    assert "returns a new dataset" in message
    assert "dataset = dataset.add_local_files(...)" in message
    assert "allow_empty=True" in message
    assert scicat_server.requests == []
    assert len(scicat_server.pids) == SEEDED
    assert os.listdir(storage) == []


async def test_a_dataset_without_files_gets_no_datablock(
    scicat_server: ScicatServer, storage: Path
) -> None:
    async with client(scicat_server) as c:
        uploaded = await c.upload_new_dataset_now(new(storage), allow_empty=True)
    assert uploaded.files == ()
    assert uploaded.fields["numberOfFiles"] == 0
    assert [c[1] for c in calls(scicat_server) if c[0] == "POST"] == [
        "/api/v4/datasets/isValid",
        "/api/v4/datasets",
    ]


async def test_a_registered_dataset_is_returned_even_past_max_files(
    scicat_server: ScicatServer, tmp_path: Path, storage: Path
) -> None:
    dataset = new(storage).add_local_files(*many(tmp_path / "m", 5))
    async with Client.from_token(
        url=scicat_server.url,
        token=scicat_server.token("user1"),
        file_transfer=CopyFileTransfer(),
        max_files=2,  # a limit for reading, not for what was just registered
    ) as c:
        uploaded = await c.upload_new_dataset_now(dataset)
    assert len(uploaded.files) == 5


async def test_without_checksums(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    async with client(scicat_server) as c:
        uploaded = await c.upload_new_dataset_now(
            with_files(new(storage), local), checksum_algorithm=None
        )
    assert all(f.checksum is None for f in uploaded.files)
    assert "chkAlg" not in scicat_server.orig_datablocks(str(uploaded.pid))[0]


async def test_bad_fields_are_named_before_anything_is_sent(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = with_files(
        new(storage, contact_email="ponder at uu", name=None),
        local,
    ).replace(fields={"proposalId": "42", "keywords": "magic"})
    async with client(scicat_server) as c:
        with pytest.raises(InvalidDatasetError) as caught:
            await c.upload_new_dataset_now(dataset)
    error = caught.value
    assert error.fields == ("proposalId", "contactEmail", "datasetName", "keywords")
    assert error.status_code is None
    assert "SciCat does not know the field 'proposalId'" in str(error)
    assert "nothing was sent" in str(error)
    assert scicat_server.requests == []
    assert os.listdir(storage) == []


async def test_a_dataset_made_from_a_downloaded_one_uploads_as_new(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    async with client(scicat_server) as c:
        first = await c.upload_new_dataset_now(with_files(new(storage), local))
        again = first.replace(
            pid=None,
            source_folder=str(storage / "copy"),
            files=[],
            fields={"datasetName": "run 42, again"},
        )
        second = await c.upload_new_dataset_now(
            with_files(again, local)
        )  # _id, createdAt, sizes, technique ids... are not sent
    assert second.pid != first.pid
    assert second.name == "run 42, again"
    assert tree(storage / "copy") == CONTENTS


async def test_a_copy_that_keeps_its_pid_is_refused_before_any_upload(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    async with client(scicat_server) as c:
        first = await c.upload_new_dataset_now(with_files(new(storage), local))
        again = first.replace(
            source_folder=str(storage / "copy"), files=[]
        )  # the pid is still the first one's
        with pytest.raises(ValueError, match=r"pid .* already.*as_new\(\)"):
            await c.upload_new_dataset_now(with_files(again, local))
        assert not (storage / "copy").exists()  # nothing was uploaded
        # As Scitacean's habit has it: as_new() uploads it as a new dataset.
        second = await c.upload_new_dataset_now(
            with_files(again.as_new().replace(files=[]), local)
        )
    assert second.pid != first.pid
    assert tree(storage / "copy") == CONTENTS


async def test_the_servers_validation_refuses(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    scicat_server.faults.respond_raw(b'{"valid":false}', match="isValid")
    async with client(scicat_server) as c:
        with pytest.raises(InvalidDatasetError, match="valid: false") as caught:
            await c.upload_new_dataset_now(with_files(new(storage), local))
    assert caught.value.status_code == 200
    assert os.listdir(storage) == []
    assert len(scicat_server.pids) == SEEDED


async def test_not_allowed_for_the_owner_group(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    async with client(scicat_server, "user2") as c:
        with pytest.raises(ScicatCommError, match="ownerGroup") as caught:
            await c.upload_new_dataset_now(with_files(new(storage), local))
    assert caught.value.status_code == 403
    assert os.listdir(storage) == []


async def test_creation_refused_with_400_removes_the_files(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    scicat_server.faults.fail_next(
        status=400, message="sourceFolder must be a string", method="POST", match=CREATE
    )
    async with client(scicat_server) as c:
        with pytest.raises(InvalidDatasetError) as caught:
            await c.upload_new_dataset_now(with_files(new(storage), local))
    error = caught.value
    assert error.fields == ("sourceFolder",)
    assert error.status_code == 400
    assert any("removed the 3 uploaded file(s)" in n for n in error.__notes__)
    assert tree(storage) == {}
    assert len(scicat_server.pids) == SEEDED


@pytest.mark.parametrize("fault", ["fail", "drop"])
async def test_creation_failing_is_not_retried_and_removes_the_files(
    scicat_server: ScicatServer, local: Path, storage: Path, fault: str
) -> None:
    if fault == "fail":
        scicat_server.faults.fail_next(status=503, method="POST", match=CREATE)
    else:  # the answer is lost: the dataset may exist, so never send it again
        scicat_server.faults.drop_next(method="POST", match=CREATE)
    async with client(scicat_server) as c:
        with pytest.raises(ScicatCommError):
            await c.upload_new_dataset_now(with_files(new(storage), local))
    assert [c[:2] for c in calls(scicat_server)].count(
        ("POST", "/api/v4/datasets")
    ) == 1
    assert tree(storage) == {}
    assert len(scicat_server.pids) == SEEDED


def many(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"f{i:05d}.dat"
        path.write_bytes(b"%d" % i)
        paths.append(path)
    return paths


async def test_a_failing_datablock_is_undone_where_deleting_is_allowed(
    scicat_server: ScicatServer, tmp_path: Path, storage: Path
) -> None:
    dataset = new(storage).add_local_files(*many(tmp_path / "many", 12))
    # One datablock per file (a tiny budget); the second one fails.
    scicat_server.faults.fail_next(status=500, method="POST", match=BLOCKS, skip=1)
    async with client(scicat_server, "admin") as c:
        with pytest.raises(ScicatCommError) as caught:
            await c.upload_new_dataset_now(dataset, max_datablock_bytes=1024)
    assert caught.value.status_code == 500
    notes = " ".join(caught.value.__notes__)
    assert "deleted its 1 orig datablock(s)" in notes
    assert "deleted dataset" in notes
    assert "removed the 12 uploaded file(s)" in notes
    assert len(scicat_server.pids) == SEEDED
    assert tree(storage) == {}
    deletes = [c for c in calls(scicat_server) if c[0] == "DELETE"]
    assert [(c[1].rsplit("/", 1)[0], c[2]) for c in deletes] == [
        ("/api/v4/origdatablocks", 200),  # the datablock first,
        ("/api/v4/datasets", 200),  # then the dataset
    ]


async def test_a_dataset_that_cannot_be_deleted_is_reported(
    scicat_server: ScicatServer, tmp_path: Path, storage: Path
) -> None:
    dataset = new(storage).add_local_files(*many(tmp_path / "many", 12))
    scicat_server.faults.fail_next(
        status=500, message="disk full", method="POST", match=BLOCKS, skip=1
    )
    async with client(scicat_server, "user1") as c:  # not in DELETE_GROUPS
        with pytest.raises(PartialUploadError) as caught:
            await c.upload_new_dataset_now(dataset, max_datablock_bytes=1024)
    error = caught.value
    assert error.pid is not None
    pid = str(error.pid)
    assert pid in scicat_server.pids  # still there, as the error says
    assert len(error.datablocks) == 1
    message = str(error)
    assert f"Dataset {pid!r} is still in SciCat with 1 orig datablock(s)" in message
    assert "DELETE_GROUPS" in message
    assert "then upload again" in message
    assert "removed the 12 uploaded file(s)" in message
    assert "disk full" in message
    assert isinstance(error.__cause__, ScicatCommError)
    assert error.files == ()
    assert tree(storage) == {}  # the files were reverted all the same


async def _cancel_once_delayed(server: ScicatServer, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` as soon as the delayed request has reached the server
    (its one-shot delay rule is then used up)."""
    while server.faults.active_delays:  # noqa: ASYNC110 (set by server threads)
        await anyio.sleep(0.005)
    scope.cancel()


async def test_cancelled_while_creating_datablocks(
    scicat_server: ScicatServer,
    tmp_path: Path,
    storage: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dataset = new(storage).add_local_files(*many(tmp_path / "many", 12))
    scicat_server.faults.delay(0.3, n=1, method="POST", match=BLOCKS)
    async with client(scicat_server, "admin") as c, anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            tg.start_soon(_cancel_once_delayed, scicat_server, scope)
            await c.upload_new_dataset_now(dataset, max_datablock_bytes=1024)
    assert scope.cancelled_caught
    # The datablock in flight was waited for, then everything was undone.
    statuses = [c for c in calls(scicat_server) if c[0] == "POST" and BLOCKS in c[1]]
    assert statuses == [("POST", "/api/v4/origdatablocks", 201)]
    assert [c[0] for c in calls(scicat_server)][-2:] == ["DELETE", "DELETE"]
    assert len(scicat_server.pids) == SEEDED
    assert tree(storage) == {}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_cancelled_while_creating_the_dataset_leaves_a_log_if_not_undone(
    scicat_server: ScicatServer,
    local: Path,
    storage: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dataset = with_files(new(storage), local)
    scicat_server.faults.delay(0.3, n=1, method="POST", match=CREATE)
    async with client(scicat_server, "user1") as c, anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            tg.start_soon(_cancel_once_delayed, scicat_server, scope)
            await c.upload_new_dataset_now(dataset)
    assert scope.cancelled_caught
    # The creation in flight was waited for, so its pid is known: user1 may
    # not delete it, which the log says (a cancellation is never replaced).
    assert len(scicat_server.pids) == SEEDED + 1
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "is still in SciCat" in record.getMessage()
    assert tree(storage) == {}


async def test_cancelled_while_reading_the_files(
    scicat_server: ScicatServer, storage: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.raw"
    with open(big, "wb") as stream:
        stream.truncate(1 << 30)  # sparse: reading it costs CPU, not disk
    dataset = new(storage).add_local_files(big)
    async with client(scicat_server) as c:
        with anyio.move_on_after(0.2) as scope:
            await c.upload_new_dataset_now(dataset)
    assert scope.cancelled_caught
    assert [c[1] for c in calls(scicat_server)] == ["/api/v4/datasets/isValid"]
    assert os.listdir(storage) == []


async def test_a_large_dataset_gets_several_datablocks(
    scicat_server: ScicatServer, tmp_path: Path, storage: Path
) -> None:
    paths = many(tmp_path / "many", 3000)
    dataset = new(storage).add_local_files(*paths)
    async with client(scicat_server) as c:
        uploaded = await c.upload_new_dataset_now(
            dataset, checksum_algorithm="md5", max_datablock_bytes=64 * 1024
        )
        assert await c.get_dataset(uploaded.pid) == uploaded  # type: ignore[arg-type]
    blocks = scicat_server.orig_datablocks(str(uploaded.pid))
    # ~105 bytes per md5 entry: 3000 files are ~315 KB, 5 blocks of <64 KiB.
    assert len(blocks) == 5
    for block in blocks:
        sent = [
            {k: v for k, v in f.items() if k != "_id"} for f in block["dataFileList"]
        ]
        assert len(json.dumps(sent, separators=(",", ":"))) < 64 * 1024
    assert [f.remote_path.posix for f in uploaded.files] == [p.name for p in paths]
    assert sum(len(b["dataFileList"]) for b in blocks) == 3000
    assert uploaded.fields["numberOfFiles"] == 3000


async def test_a_server_refusing_the_size_gets_smaller_datablocks(
    scicat_server_factory: Any, scicat_seed: Any, tmp_path: Path, storage: Path
) -> None:
    server = scicat_server_factory(
        datasets=scicat_seed.datasets,
        users=scicat_seed.users,
        max_body_size=40 * 1024,  # a proxy with a low limit
    )
    paths = many(tmp_path / "many", 2000)
    async with client(server) as c:
        uploaded = await c.upload_new_dataset_now(new(storage).add_local_files(*paths))
    refused = [r for r in server.requests if r.status == 413]
    created = [
        r for r in server.requests if r.path.endswith(BLOCKS) and r.status == 201
    ]
    assert 1 <= len(refused) <= 5  # halved until it fits, then remembered
    assert len(created) >= 12  # 2000 blake2b entries ~ 450 KB, < 40 KiB each
    assert [f.remote_path.posix for f in uploaded.files] == [p.name for p in paths]


async def test_link_transfer_cannot_upload(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    async with client(scicat_server, transfer=LinkFileTransfer()) as c:
        with pytest.raises(NotImplementedError) as caught:
            await c.upload_new_dataset_now(with_files(new(storage), local))
    message = str(caught.value)
    assert "LinkFileTransfer cannot upload files" in message
    assert "Nothing was uploaded or created" in message
    assert "CopyFileTransfer" in message
    assert [c[1] for c in calls(scicat_server)] == ["/api/v4/datasets/isValid"]


async def test_select_transfer_uploads_with_the_first_child_that_can(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    transfer = SelectFileTransfer([LinkFileTransfer(), CopyFileTransfer()])
    async with client(scicat_server, transfer=transfer) as c:
        uploaded = await c.upload_new_dataset_now(with_files(new(storage), local))
    assert len(uploaded.files) == 3
    assert tree(storage / "run42") == CONTENTS


async def test_usage_errors(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = with_files(new(storage), local)
    async with Client.from_token(
        url=scicat_server.url, token=scicat_server.token("user1")
    ) as c:
        with pytest.raises(ValueError, match="no file transfer that can upload"):
            await c.upload_new_dataset_now(dataset)
    async with Client.without_login(
        url=scicat_server.url, file_transfer=CopyFileTransfer()
    ) as c:
        with pytest.raises(ValueError, match="logged-in client"):
            await c.upload_new_dataset_now(dataset)
    async with client(scicat_server) as c:
        both = dataset.replace_files(dataset.files[0].uploaded())
        with pytest.raises(ValueError, match="both local and on the remote"):
            await c.upload_new_dataset_now(both)
        with pytest.raises(TypeError):
            await c.upload_new_dataset_now({"type": "raw"})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_datablock_bytes"):
            await c.upload_new_dataset_now(dataset, max_datablock_bytes=10)
        untimed = new(storage).add_files(File.from_remote("x", 1, None))
        with pytest.raises(InvalidDatasetError, match="no creation time"):
            await c.upload_new_dataset_now(untimed)
    assert scicat_server.requests == []
    assert os.listdir(storage) == []


async def test_missing_local_files_are_named_before_anything_is_uploaded(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = new(storage).add_local_files(local / "a.dat", local / "gone.dat")
    async with client(scicat_server) as c:
        with pytest.raises(FileNotFoundError, match=r"gone\.dat"):
            await c.upload_new_dataset_now(dataset)
    assert os.listdir(storage) == []
    assert len(scicat_server.pids) == SEEDED


async def test_a_file_that_changes_while_uploading_is_refused(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    dataset = await new(storage).with_local_files(local / "a.dat")
    with open(local / "a.dat", "ab") as stream:  # still being written
        stream.write(b"more")
    async with client(scicat_server) as c:
        with pytest.raises(IntegrityError, match="changed size"):
            await c.upload_new_dataset_now(dataset)
    assert tree(storage) == {}
    assert len(scicat_server.pids) == SEEDED


async def test_the_transfers_folder_pattern_is_the_source_folder(
    scicat_server: ScicatServer, local: Path, storage: Path
) -> None:
    transfer = CopyFileTransfer(source_folder=f"{storage}/{{owner_group}}/{{uid}}")
    dataset = with_files(new(storage), local)
    async with client(scicat_server, transfer=transfer) as c:
        uploaded = await c.upload_new_dataset_now(dataset)
    folder = uploaded.source_folder
    assert folder is not None
    assert folder.parent == str(storage / "group1")
    assert tree(Path(folder.posix)) == CONTENTS
    assert scicat_server.dataset(str(uploaded.pid))["sourceFolder"] == folder.posix
