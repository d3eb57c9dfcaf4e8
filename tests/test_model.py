"""PID, File and Dataset, and the lossless SciCat JSON round trip."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alink import PID, Dataset, File, RemotePath

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())  # type: ignore[no-any-return]


def test_pid_parse_and_str() -> None:
    pid = PID.parse("20.500.12269/abc-1")
    assert pid == PID("20.500.12269", "abc-1")
    assert (pid.prefix, pid.pid) == ("20.500.12269", "abc-1")
    assert str(pid) == "20.500.12269/abc-1"
    assert str(PID.parse("abc")) == "abc"
    assert PID.parse("abc").prefix is None
    assert PID(pid="x", prefix="p") == PID("p", "x")
    assert str(PID.parse("p/a/b")) == "p/a/b"
    with pytest.raises(ValueError, match="pid"):
        PID("prefix")
    with pytest.raises(ValueError, match="not a PID"):
        PID.parse("")


def test_file_from_remote_and_downloaded() -> None:
    f = File.from_remote(
        "/data/a.txt", 12, "2005-11-04T13:22:09.000Z", "abc", "md5", uid="1000"
    )
    assert f.remote_path == RemotePath("/data/a.txt")
    assert f.size == 12
    assert f.creation_time == datetime(2005, 11, 4, 13, 22, 9, tzinfo=UTC)
    assert (f.checksum, f.checksum_algorithm) == ("abc", "md5")
    assert f.is_on_remote
    assert not f.is_on_local
    assert f.local_path is None
    g = f.downloaded(local_path="/tmp/a.txt")
    assert g.local_path == Path("/tmp/a.txt")
    assert g.is_on_local
    assert f.local_path is None  # the original is unchanged
    assert g.extra["uid"] == "1000"


def test_file_owner_fields_use_the_catalogue_names() -> None:
    # Scitacean's keyword names, SciCat's field names in the JSON.
    f = File.from_remote(
        "a.txt", 1, None, remote_uid="u", remote_gid="g", remote_perm="rw-"
    )
    assert (f.remote_uid, f.remote_gid, f.remote_perm) == ("u", "g", "rw-")
    [block] = Dataset(type="raw", source_folder="/d", files=[f]).to_scicat()[
        "origdatablocks"
    ]
    [entry] = block["dataFileList"]
    assert (entry["uid"], entry["gid"], entry["perm"]) == ("u", "g", "rw-")
    assert not any(key.startswith("remote_") for key in entry)
    bare = File.from_remote("b.txt", 1, None)
    assert (bare.remote_uid, bare.remote_gid, bare.remote_perm) == (None, None, None)
    with pytest.raises(TypeError, match="checksum_algorithm"):
        File.from_remote("c.txt", 1, None, checksum="abc")


def test_added_files_never_share_a_block_with_another_algorithm() -> None:
    def remote(name: str, algorithm: str | None) -> File:
        checksum = None if algorithm is None else "00"
        return File.from_remote(name, 1, None, checksum, algorithm)

    ds = Dataset(type="raw", source_folder="/d").add_files(remote("a", "md5"))
    ds = ds.add_files(remote("b", None))  # joins the md5 block, as in Scitacean
    ds = ds.add_files(remote("c", "sha256"), remote("d", None))
    algorithms = [f.checksum_algorithm for f in ds.files]
    assert algorithms == ["md5", "md5", "sha256", "sha256"]
    blocks = ds.to_scicat()["origdatablocks"]
    assert [
        (b.get("chkAlg"), [e["path"] for e in b["dataFileList"]]) for b in blocks
    ] == [
        ("md5", ["a", "b"]),
        ("sha256", ["c", "d"]),
    ]
    with pytest.raises(ValueError, match="already has files"):
        ds.add_files(remote("a", "md5"))


def test_file_from_local_is_not_on_remote() -> None:
    f = File.from_local("/tmp/x/data.h5")
    assert not f.is_on_remote
    assert f.remote_path == "data.h5"
    assert f.uploaded().is_on_remote


def test_dataset_constructor() -> None:
    files = (File.from_remote("/d/a", 1, None), File.from_remote("/d/b", 2, None))
    ds = Dataset(type="raw", source_folder="/d", pid="p/1", files=files)
    assert ds.source_folder == RemotePath("/d")
    assert ds.pid == PID("p", "1")
    assert ds.files == files
    assert ds.size == 3
    assert ds.number_of_files == 2
    assert ds.type == "raw"
    assert Dataset(type="derived").source_folder is None


def test_source_folder_and_pid_in_fields_are_honoured() -> None:
    # SciCat's names mean what the keywords mean; none is dropped.
    ds = Dataset(type="raw", fields={"sourceFolder": "/d/", "pid": "p/1"})
    assert (ds.source_folder, ds.pid) == (RemotePath("/d"), PID("p", "1"))
    assert (ds.fields["sourceFolder"], ds.fields["pid"]) == ("/d", "p/1")
    new = Dataset.new(type="raw", name="n", fields={"sourceFolder": "/n", "pid": "p/9"})
    assert (new.source_folder, new.pid) == (RemotePath("/n"), PID("p", "9"))
    # Keyword and field naming the same thing is fine.
    same = Dataset(type="raw", source_folder="/d", fields={"sourceFolder": "/d/"})
    assert same.source_folder == RemotePath("/d")


def test_replace_with_source_folder_and_pid_in_fields() -> None:
    ds = Dataset(type="raw", source_folder="/old", pid="p/1", fields={"x": 1})
    moved = ds.replace(fields={"sourceFolder": "/new", "pid": "p/2"})
    assert (moved.source_folder, moved.pid) == (RemotePath("/new"), PID("p", "2"))
    assert (moved.fields["sourceFolder"], moved.fields["pid"]) == ("/new", "p/2")
    assert list(moved.fields) == list(ds.fields)  # the order is kept
    removed = ds.replace(fields={"sourceFolder": None, "pid": None})
    assert (removed.source_folder, removed.pid) == (None, None)
    assert "sourceFolder" not in removed.fields
    assert "pid" not in removed.fields
    # Not named in fields: the keyword or the old value, as before.
    assert ds.replace(source_folder="/k").source_folder == RemotePath("/k")
    assert ds.replace(fields={"x": 2}).source_folder == RemotePath("/old")
    assert ds.replace(source_folder=None).fields.get("sourceFolder") is None
    assert ds.replace(pid=None, fields={"pid": None}).pid is None


def test_a_keyword_and_its_field_must_agree() -> None:
    ds = Dataset(type="raw", source_folder="/old", pid="p/1")
    with pytest.raises(ValueError, match=r"source_folder=.*fields\['sourceFolder'\]"):
        ds.replace(source_folder="/a", fields={"sourceFolder": "/b"})
    with pytest.raises(ValueError, match=r"source_folder=.*fields\['sourceFolder'\]"):
        ds.replace(source_folder="/a", fields={"sourceFolder": None})
    with pytest.raises(ValueError, match=r"pid=.*fields\['pid'\]"):
        ds.replace(pid="p/2", fields={"pid": "p/3"})
    with pytest.raises(ValueError, match=r"source_folder=.*fields\['sourceFolder'\]"):
        Dataset(type="raw", source_folder="/a", fields={"sourceFolder": "/b"})
    with pytest.raises(ValueError, match=r"pid=.*fields\['pid'\]"):
        Dataset.new(type="raw", pid="p/1", fields={"pid": "q/1"})
    with pytest.raises(TypeError, match="sourceFolder"):
        Dataset(type="raw", fields={"sourceFolder": 3})


def test_replace_files_returns_new_dataset() -> None:
    a, b = File.from_remote("/d/a", 1, None), File.from_remote("/d/b", 2, None)
    ds = Dataset(type="raw", source_folder="/d", files=(a, b))
    a2 = a.downloaded(local_path="/tmp/a")
    c = File.from_remote("/d/c", 3, None)
    new = ds.replace_files(a2, c)
    assert new.files == (a2, b, c)
    assert ds.files == (a, b)


def test_from_scicat_keeps_remote_paths_relative_to_the_source_folder() -> None:
    ds = Dataset.from_scicat(load("dataset-raw.v4.json"))
    assert ds.pid == PID.parse("PID.prefix.a0b1/5c3e1b7a-2f4d-4c8e-9a61-0d7b3f2e8c41")
    assert ds.source_folder == "/hex/data/123"
    # As the datablock lists them, and as Scitacean has them.
    assert [f.remote_path.posix for f in ds.files] == ["file1.txt", "sub/song.mp3"]
    assert {f.remote_path: f for f in ds.files}["sub/song.mp3"] is ds.files[1]
    assert [f.remote_access_path(ds.source_folder) for f in ds.files] == [
        "/hex/data/123/file1.txt",
        "/hex/data/123/sub/song.mp3",
    ]
    first, second = ds.files
    assert first.size == 300
    assert first.checksum == "97157d347fe9af920f5e61e96cf401cb"
    assert first.checksum_algorithm == "md5"
    assert second.checksum is None
    assert ds.name == "My darkest magic yet"
    assert ds.owner == "user1"
    assert ds.fields["scientificMetadata"]["temperature"]["unit"] == "K"


@pytest.mark.parametrize("name", ["dataset-raw.v4.json", "dataset-derived.v4.json"])
def test_scicat_round_trip_is_lossless(name: str) -> None:
    data = load(name)
    original = copy.deepcopy(data)
    assert Dataset.from_scicat(data).to_scicat() == original
    assert data == original  # input not mutated


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00.123456Z",  # microseconds: not cut to milliseconds
        "2024-01-01T10:00:00+02:00",  # an offset: kept as the server wrote it
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00",  # naive
        "2024-01-01t00:00:00.5z",  # RFC 3339 allows lowercase
    ],
)
def test_file_times_round_trip_as_the_catalogue_wrote_them(text: str) -> None:
    raw = {
        "type": "raw",
        "pid": "p/t",
        "sourceFolder": "/d",
        "origdatablocks": [{"dataFileList": [{"path": "a", "size": 1, "time": text}]}],
    }
    dataset = Dataset.from_scicat(raw)
    assert dataset.files[0].creation_time is not None
    back = dataset.to_scicat()
    assert back["origdatablocks"][0]["dataFileList"][0]["time"] == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00.000Z"),
        ("2024-01-01T10:00:00.5-01:00", "2024-01-01T11:00:00.500Z"),
        ("2024-01-01T00:00:00.123456+00:00", "2024-01-01T00:00:00.123456Z"),
        (datetime(2024, 1, 1, 10, 0), "2024-01-01T10:00:00.000"),
    ],
)
def test_new_file_times_are_written_as_valid_utc_times(
    value: str | datetime, text: str
) -> None:
    file = File.from_remote("a.dat", 3, value)
    ds = Dataset(type="raw", source_folder="/d", pid="p/t").add_files(file)
    written = ds.to_scicat()["origdatablocks"][0]["dataFileList"][0]["time"]
    assert written == text
    assert datetime.fromisoformat(written) == file.creation_time


def test_round_trip_after_download_keeps_catalogue_fields() -> None:
    ds = Dataset.from_scicat(load("dataset-raw.v4.json"))
    ds2 = ds.replace_files(ds.files[0].downloaded(local_path="/tmp/f"))
    assert ds2.to_scicat() == load("dataset-raw.v4.json")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(type=3), "'type' must be a string"),
        (lambda d: d.update(origdatablocks={}), "'origdatablocks' must be a list"),
        (lambda d: d["origdatablocks"].append(3), r"origdatablocks\[1\]"),
        (
            lambda d: d["origdatablocks"][0]["dataFileList"][1].update(size="9"),
            r"dataFileList\[1\]\.size",
        ),
        (
            lambda d: d["origdatablocks"][0]["dataFileList"][0].pop("path"),
            r"dataFileList\[0\]\.path",
        ),
        (
            lambda d: d["origdatablocks"][0]["dataFileList"][0].update(time="soon"),
            "ISO 8601",
        ),
    ],
)
def test_from_scicat_names_what_is_wrong(mutate: Any, message: str) -> None:
    data = load("dataset-raw.v4.json")
    mutate(data)
    with pytest.raises((ValueError, TypeError), match=message):
        Dataset.from_scicat(data)


def _nested_dataset() -> tuple[Dataset, dict[str, Any]]:
    raw = {
        "pid": "p/1",
        "type": "raw",
        "sourceFolder": "/data/1",
        "scientificMetadata": {"temperature": {"value": 4, "unit": "K"}},
        "accessGroups": ["a"],
        "techniques": [{"name": "xrd"}],
        "origdatablocks": [
            {
                "chkAlg": "md5",
                "dataFileList": [
                    {"path": "f.dat", "size": 1, "time": "2024-01-02T03:04:05Z"}
                ],
            }
        ],
    }
    return Dataset.from_scicat(raw), raw


def test_nested_field_values_cannot_be_changed_in_place() -> None:
    # A dataset's values are shared by every dataset made from it: changing
    # one in place would change them all, silently.
    dataset, _ = _nested_dataset()
    copied = dataset.replace(fields={"datasetName": "copy"})
    meta = dataset.fields["scientificMetadata"]
    with pytest.raises(TypeError, match=r"read-only.*replace\(fields="):
        meta["temperature"]["value"] = 999
    with pytest.raises(TypeError, match="read-only"):
        dataset.fields["accessGroups"].append("everyone")
    with pytest.raises(TypeError, match="read-only"):
        meta.update(x=1)
    with pytest.raises(TypeError, match="read-only"):
        dataset.fields["accessGroups"] += ["b"]
    with pytest.raises(TypeError, match="read-only"):
        dataset.files[0].extra["path"] = "elsewhere"  # type: ignore[index]
    assert copied.fields["scientificMetadata"] == {
        "temperature": {"value": 4, "unit": "K"}
    }
    assert copied.fields["accessGroups"] == ["a"]
    # They read, compare and serialise as the JSON they are.
    assert isinstance(meta, dict)
    assert json.loads(json.dumps(dict(dataset.fields))) == dict(dataset.fields)
    # The way to change one: an editable copy, then replace.
    edited = copy.deepcopy(meta)
    edited["temperature"]["value"] = 5
    changed = dataset.replace(fields={"scientificMetadata": edited})
    edited["temperature"]["value"] = 6  # the new dataset kept its own copy
    assert changed.fields["scientificMetadata"]["temperature"]["value"] == 5
    assert dataset.fields["scientificMetadata"]["temperature"]["value"] == 4


def test_the_json_in_and_out_is_the_callers_own() -> None:
    dataset, raw = _nested_dataset()
    raw["accessGroups"].append("changed later")
    raw["techniques"][0]["name"] = "changed later"
    raw["origdatablocks"][0]["dataFileList"][0]["path"] = "changed later"
    assert dataset.fields["accessGroups"] == ["a"]
    assert dataset.fields["techniques"] == [{"name": "xrd"}]
    assert dataset.files[0].extra["path"] == "f.dat"
    out = dataset.to_scicat()
    out["techniques"][0]["name"] = "edited"
    out["accessGroups"].append("edited")
    out["origdatablocks"][0]["dataFileList"][0]["path"] = "edited"
    assert dataset.fields["techniques"] == [{"name": "xrd"}]
    assert dataset.fields["accessGroups"] == ["a"]
    assert dataset.to_scicat()["origdatablocks"][0]["dataFileList"][0]["path"] == (
        "f.dat"
    )
    fields = {"scientificMetadata": {"k": [1]}}
    made = Dataset(type="raw", fields=fields)
    fields["scientificMetadata"]["k"].append(2)
    assert made.fields["scientificMetadata"] == {"k": [1]}


def test_frozen_values_pickle_and_copy_as_plain_json() -> None:
    import pickle

    dataset, _ = _nested_dataset()
    again = pickle.loads(pickle.dumps(dataset))
    assert again == dataset
    with pytest.raises(TypeError, match="read-only"):
        again.fields["accessGroups"].append("x")
    shallow = copy.copy(dataset.fields["accessGroups"])
    shallow.append("x")
    assert shallow == ["a", "x"]
    assert type(copy.deepcopy(dataset.fields["techniques"])[0]) is dict


def test_replace_files_keeps_each_datablock_to_one_checksum_algorithm() -> None:
    dataset, _ = _nested_dataset()
    sha = File.from_remote(
        "f.dat", 2, None, checksum="ab" * 32, checksum_algorithm="sha256"
    )
    with pytest.raises(ValueError, match="checksummed with 'sha256'"):
        dataset.replace_files(sha)
    # Without an algorithm, the replacement takes its block's.
    plain = File.from_remote("f.dat", 2, None)
    replaced = dataset.replace_files(plain)
    assert replaced.files[0].checksum_algorithm == "md5"
    assert Dataset.from_scicat(replaced.to_scicat()) == replaced
    # A new path is appended in a block of its own: any algorithm.
    added = dataset.replace_files(dataclasses.replace(sha, remote_path=RemotePath("g")))
    back = Dataset.from_scicat(added.to_scicat())
    assert back == added
    assert back.files[1].checksum_algorithm == "sha256"
    with pytest.raises(TypeError, match="File"):
        dataset.replace_files("f.dat")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "size"),
    [("a", -1), ("a", 1.5), ("a", True), ("a", "3"), ("", 1)],
)
def test_from_remote_refuses_what_the_catalogue_json_would(
    path: str, size: object
) -> None:
    with pytest.raises(ValueError, match=r"size|remote_path"):
        File.from_remote(path, size, None)  # type: ignore[arg-type]


def test_as_new_drops_what_scicat_sets_and_keeps_the_rest() -> None:
    raw = load("dataset-raw.v4.json")
    dataset = Dataset.from_scicat(raw)
    new = dataset.as_new()
    assert new.pid is None
    for key in ("_id", "createdAt", "createdBy", "updatedAt", "updatedBy"):
        assert key in dataset.fields
        assert key not in new.fields
    assert "datasetlifecycle" not in new.fields
    assert new.fields["datasetName"] == dataset.fields["datasetName"]
    assert new.source_folder == dataset.source_folder
    assert new.files == dataset.files
    # Its files go into new datablocks: none names the old pid.
    for block in new.to_scicat()["origdatablocks"]:
        assert "datasetId" not in block
        assert "_id" not in block
    assert dataset.pid is not None  # unchanged


def test_derive_names_its_input_and_keeps_the_owner() -> None:
    dataset = Dataset.from_scicat(load("dataset-raw.v4.json"))
    derived = dataset.derive()
    assert derived.type == "derived"
    assert derived.pid is None
    assert derived.fields["inputDatasets"] == [str(dataset.pid)]
    assert derived.files == ()
    assert derived.source_folder is None
    for key in ("owner", "contactEmail", "principalInvestigators", "techniques"):
        assert derived.fields[key] == dataset.fields[key]
    assert "ownerGroup" not in derived.fields
    assert "scientificMetadata" not in derived.fields
    assert "creationTime" in derived.fields  # now
    kept = dataset.derive(keep=["owner_group", "accessGroups", "source_folder"])
    assert kept.fields["ownerGroup"] == dataset.fields["ownerGroup"]
    assert kept.fields["accessGroups"] == dataset.fields["accessGroups"]
    assert kept.source_folder == dataset.source_folder
    assert "owner" not in kept.fields
    with pytest.raises(ValueError, match="no dataset field: 'colour'"):
        dataset.derive(keep=["colour"])
    with pytest.raises(TypeError, match="not one name"):
        dataset.derive(keep="owner")
    with pytest.raises(ValueError, match="without a pid"):
        Dataset(type="raw").derive()


def test_pid_without_prefix() -> None:
    assert PID.parse("20.500.12269/abc").without_prefix == PID(pid="abc")
    assert PID.parse("abc").without_prefix == PID(pid="abc")


def test_new_points_checksum_algorithm_to_the_upload() -> None:
    with pytest.raises(TypeError, match="upload_new_dataset_now"):
        Dataset.new(type="raw", checksum_algorithm="md5")  # type: ignore[call-arg]


@pytest.mark.anyio
async def test_local_is_up_to_date(tmp_path: Path) -> None:
    import hashlib

    local = tmp_path / "a.dat"
    local.write_bytes(b"data")
    digest = hashlib.md5(b"data").hexdigest()
    remote = File.from_remote(
        "a.dat", 4, None, checksum=digest, checksum_algorithm="md5"
    )
    assert not await remote.local_is_up_to_date()  # no local path
    assert await remote.downloaded(local_path=local).local_is_up_to_date()
    local.write_bytes(b"edit")
    assert not await remote.downloaded(local_path=local).local_is_up_to_date()
    assert not await remote.downloaded(
        local_path=tmp_path / "gone"
    ).local_is_up_to_date()
    unchecked = File.from_remote("a.dat", 4, None).downloaded(local_path=local)
    assert not await unchecked.local_is_up_to_date()


def test_scitaceans_attribute_names_point_to_the_fields() -> None:
    dataset = Dataset(type="raw", fields={"ownerGroup": "g"})
    with pytest.raises(AttributeError, match=r"dataset\.fields\['ownerGroup'\]"):
        dataset.owner_group  # noqa: B018
    with pytest.raises(AttributeError, match=r"'scientificMetadata'"):
        dataset.meta  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'colour'"):
        dataset.colour  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(dataset, "owner_group")
    with pytest.raises(AttributeError, match=r"immutable.*fields=\{'ownerGroup'"):
        dataset.owner_group = "h"  # type: ignore[misc]
    with pytest.raises(AttributeError, match=r"replace\(source_folder="):
        dataset.source_folder = "/x"  # type: ignore[misc]
    assert dataset.fields["ownerGroup"] == "g"
