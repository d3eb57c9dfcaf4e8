"""make_dataset / dataset_from_directory and the example seed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from alink import Dataset
from alink.testing import ScicatSeed, dataset_from_directory, example_seed, make_dataset

from ._helpers import example


def test_make_dataset_shape_matches_a_real_answer() -> None:
    ds, blocks = make_dataset(
        pid="PID.prefix/abc",
        source_folder="/hex/data/abc",
        files=[
            ("a.txt", 3, "c0ffee"),
            ("sub/b.bin", 5),
            {"path": "c", "size": 0, "uid": "0"},
        ],
    )
    real = example("dataset-raw.v4.json")
    assert set(ds) <= set(real)  # only real SciCat field names
    assert set(blocks[0]) <= set(real["origdatablocks"][0])
    for entry in blocks[0]["dataFileList"]:
        assert set(entry) <= set(real["origdatablocks"][0]["dataFileList"][0])
    assert (ds["_id"], ds["pid"], ds["type"]) == ("PID.prefix/abc",) * 2 + ("raw",)
    assert ds["sourceFolder"] == "/hex/data/abc"
    assert (ds["size"], ds["numberOfFiles"]) == (8, 3)
    [block] = blocks
    assert block["datasetId"] == "PID.prefix/abc"
    assert (block["size"], block["chkAlg"], block["isPublished"]) == (8, "md5", False)
    files = block["dataFileList"]
    assert [(f["path"], f["size"], f.get("chk")) for f in files] == [
        ("a.txt", 3, "c0ffee"),
        ("sub/b.bin", 5, None),
        ("c", 0, None),
    ]
    assert files[2]["uid"] == "0"
    assert len({f["_id"] for f in files}) == 3


def test_make_dataset_is_readable_by_alink_models() -> None:
    generated = make_dataset(
        pid="p/1", source_folder="/data/1", files=[("x/y.dat", 7, "ab")]
    )
    dataset = Dataset.from_scicat(generated.with_blocks())
    [file] = dataset.files
    assert (file.remote_path.posix, file.size, file.checksum) == (
        "x/y.dat",
        7,
        "ab",
    )
    assert file.checksum_algorithm == "md5"


def test_make_dataset_options() -> None:
    ds, blocks = make_dataset(
        pid="p/2",
        source_folder=Path("/d"),
        files=[(f"f{i}", 1) for i in range(5)],
        type="derived",
        is_published=True,
        files_per_block=2,
        checksum_algorithm=None,
        datasetName="named",
        inputDatasets=["p/1"],
    )
    assert ds["type"] == "derived"
    assert ds["usedSoftware"] == ["alink"]
    assert ds["inputDatasets"] == ["p/1"]
    assert ds["datasetName"] == "named"
    assert ds["isPublished"] is True
    assert ds["sourceFolder"] == "/d"
    assert [len(b["dataFileList"]) for b in blocks] == [2, 2, 1]
    assert all(b["isPublished"] and "chkAlg" not in b for b in blocks)
    assert len({b["_id"] for b in blocks}) == 3
    _, private_blocks = make_dataset(
        pid="p/3",
        source_folder="/d",
        files=[("f", 1)],
        is_published=True,
        files_published=False,
    )
    assert private_blocks[0]["isPublished"] is False
    ds, no_blocks = make_dataset(pid="p/4", source_folder="/d")
    assert (ds["numberOfFiles"], no_blocks) == (0, [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pid": ""}, "pid"),
        ({"files": [("a",)]}, "expected"),
        ({"files": [("", 1)]}, "path"),
        ({"files": [("a", -1)]}, "size"),
        ({"files": [("a", 1.5)]}, "size"),
        ({"files": [("a", True)]}, "size"),
        ({"files": [("a", 1, 5)]}, "checksum"),
        ({"files": [{"path": "a"}]}, "size"),
        ({"files_per_block": 0}, "files_per_block"),
        ({"access_groups": "uu"}, "access_groups"),
    ],
)
def test_make_dataset_refuses_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"pid": "p/1", "source_folder": "/d", **kwargs}
    with pytest.raises(ValueError, match=message):
        make_dataset(**args)


def test_dataset_from_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello")
    (root / "sub" / "b.bin").write_bytes(b"\0" * 10)
    os.symlink(root / "a.txt", root / "link.txt")
    os.symlink(root / "missing", root / "broken")
    ds, [block] = dataset_from_directory(root, pid="p/dir", checksum_algorithm="sha256")
    assert ds["sourceFolder"] == str(root)
    entries = [(f["path"], f["size"], f["chk"]) for f in block["dataFileList"]]
    assert entries == [
        ("a.txt", 5, hashlib.sha256(b"hello").hexdigest()),
        ("link.txt", 5, hashlib.sha256(b"hello").hexdigest()),
        ("sub/b.bin", 10, hashlib.sha256(b"\0" * 10).hexdigest()),
    ]
    assert block["chkAlg"] == "sha256"
    ds, [block] = dataset_from_directory(
        root, pid="p/dir2", checksum_algorithm=None, source_folder="/remote/x"
    )
    assert ds["sourceFolder"] == "/remote/x"
    assert all("chk" not in f for f in block["dataFileList"])
    with pytest.raises(ValueError, match="not a directory"):
        dataset_from_directory(root / "a.txt", pid="p/x")
    with pytest.raises(ValueError, match="algorithm"):
        dataset_from_directory(root, pid="p/x", checksum_algorithm="crc-9000")


def test_example_seed_follows_the_examples() -> None:
    seed = example_seed()
    by_pid = {d["pid"]: d for d in seed.datasets}
    blocks = {b["datasetId"]: b for b in seed.orig_datablocks}
    raw = example("dataset-raw.v4.json")
    derived = example("dataset-derived.v4.json")
    assert {**by_pid[seed.raw_pid], "origdatablocks": [blocks[seed.raw_pid]]} == raw
    assert {
        **by_pid[seed.derived_pid],
        "origdatablocks": [blocks[seed.derived_pid]],
    } == derived
    published = by_pid[seed.published_pid]
    assert set(published) == set(raw) - {"origdatablocks"}
    assert published["isPublished"] is blocks[seed.published_pid]["isPublished"] is True
    assert seed.password("user1") == "pw1"


def test_example_seed_gives_fresh_copies() -> None:
    first = example_seed()
    first.datasets[0]["pid"] = "changed"
    first.users["user1"]["password"] = "changed"
    second = example_seed()
    assert second.datasets[0]["pid"] == second.raw_pid
    assert second.password("user1") == "pw1"


def test_fixtures(
    scicat_seed: ScicatSeed, scicat_server: Any, scicat_token: str
) -> None:
    assert scicat_server.running
    assert sorted(scicat_server.pids) == sorted(d["pid"] for d in scicat_seed.datasets)
    assert scicat_token.count(".") == 2


def test_server_factory_fixture_stops_its_servers(scicat_server_factory: Any) -> None:
    a = scicat_server_factory(users={"u": "p"})
    b = scicat_server_factory()
    assert a.running
    assert b.running
    assert a.port != b.port
