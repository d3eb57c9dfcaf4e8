"""Building a new dataset: Dataset.new, add_local_files, with_local_files."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

from alink import PID, Dataset, File, RemotePath
from alink._build import FIELD_NAMES, scicat_fields
from alink._describe import describe_files


def test_new_maps_scitaceans_keywords_to_scicat_fields() -> None:
    ds = Dataset.new(
        type="derived",
        name="reduced",
        owner="Ponder Stibbons",
        owner_group="group1",
        access_groups=("uu", "faculty"),
        contact_email="ponder.stibbons@uu.am",
        input_datasets=[PID.parse("p/1"), "p/2"],
        used_software=["alink"],
        job_parameters={"nscans": 11},
        meta={"t": {"value": 4, "unit": "K"}},
        creation_time=datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        end_time="2024-05-01T11:00:00Z",
        source_folder="/data/r",
        description=None,  # type: ignore[arg-type]  # dropped
        fields={"runNumber": "7"},
    )
    assert dict(ds.fields) == {
        "datasetName": "reduced",
        "owner": "Ponder Stibbons",
        "ownerGroup": "group1",
        "accessGroups": ["uu", "faculty"],
        "contactEmail": "ponder.stibbons@uu.am",
        "inputDatasets": ["p/1", "p/2"],
        "usedSoftware": ["alink"],
        "jobParameters": {"nscans": 11},
        "scientificMetadata": {"t": {"value": 4, "unit": "K"}},
        "creationTime": "2024-05-01T10:00:00.000Z",
        "endTime": "2024-05-01T11:00:00.000Z",
        "runNumber": "7",
        "type": "derived",
        "sourceFolder": "/data/r",
    }
    assert ds.pid is None
    assert ds.name == "reduced"
    assert ds.files == ()


def test_new_defaults_the_creation_time_to_now() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ds = Dataset.new(type="raw")
    stamp = datetime.fromisoformat(ds.fields["creationTime"].replace("Z", "+00:00"))
    assert before <= stamp <= datetime.now(UTC)
    assert "creationTime" not in Dataset.new(type="raw", creation_time=None).fields


def test_new_refuses_what_it_cannot_map() -> None:
    with pytest.raises(TypeError, match=r"unknown dataset keyword.*'ower'"):
        Dataset.new(type="raw", ower="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="keywords must be a list"):
        Dataset.new(type="raw", keywords="magic")
    with pytest.raises(ValueError, match="ISO 8601"):
        Dataset.new(type="raw", creation_time="yesterday")
    with pytest.raises(TypeError):
        Dataset.new(type="raw", start_time=3)  # type: ignore[arg-type]


def test_every_keyword_has_a_scicat_name() -> None:
    from alink._build import NewDatasetFields

    assert set(NewDatasetFields.__annotations__) == set(FIELD_NAMES)
    assert len(set(FIELD_NAMES.values())) == len(FIELD_NAMES)
    fields = scicat_fields({"lifecycle": {"archivable": False}})
    assert fields["datasetlifecycle"] == {"archivable": False}


def test_nested_values_are_copied() -> None:
    meta = {"t": {"value": 1}}
    ds = Dataset.new(type="raw", meta=meta)
    meta["t"]["value"] = 2
    assert ds.fields["scientificMetadata"] == {"t": {"value": 1}}


def test_add_local_files_flat_like_scitacean(tmp_path: Path) -> None:
    ds = Dataset.new(type="raw", source_folder="/data/x")
    added = ds.add_local_files(tmp_path / "a.dat", tmp_path / "sub" / "b.dat")
    assert [
        (f.remote_path.posix, f.local_path, f.is_on_remote) for f in added.files
    ] == [
        ("a.dat", tmp_path / "a.dat", False),
        ("b.dat", tmp_path / "sub" / "b.dat", False),
    ]
    assert ds.files == ()  # immutable


def test_add_local_files_keeps_the_tree_below_base_path(tmp_path: Path) -> None:
    ds = Dataset.new(type="raw").add_local_files(
        tmp_path / "a.dat", tmp_path / "sub" / "deep" / "b.dat", base_path=tmp_path
    )
    assert [f.remote_path.posix for f in ds.files] == ["a.dat", "sub/deep/b.dat"]
    named = Dataset.new(type="raw").add_local_files(
        tmp_path / "a.dat", remote_paths=["raw/a.h5"]
    )
    assert named.files[0].remote_path == RemotePath("raw/a.h5")


def test_add_local_files_refuses_unsafe_or_clashing_paths(tmp_path: Path) -> None:
    ds = Dataset.new(type="raw")
    with pytest.raises(ValueError, match="not inside base_path"):
        ds.add_local_files(tmp_path / "a", Path("/elsewhere/b"), base_path=tmp_path)
    with pytest.raises(ValueError, match="same remote path"):
        ds.add_local_files(tmp_path / "x" / "a", tmp_path / "y" / "a")
    for bad in ("../a", "/abs/a", "x/../../a", "."):
        with pytest.raises(ValueError, match="stay inside"):
            ds.add_local_files(tmp_path / "a", remote_paths=[bad])
    with pytest.raises(ValueError, match="1 local path"):
        ds.add_local_files(tmp_path / "a", remote_paths=["a", "b"])
    with pytest.raises(ValueError, match="not both"):
        ds.add_local_files(tmp_path / "a", base_path=tmp_path, remote_paths=["a"])
    with pytest.raises(ValueError, match="not file paths"):
        ds.add_local_files("/")
    once = ds.add_local_files(tmp_path / "a")
    with pytest.raises(ValueError, match="already has files"):
        once.add_local_files(tmp_path / "other" / "a")


@pytest.mark.anyio
async def test_with_local_files_reads_size_time_and_checksum(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    data = {"a.dat": os.urandom(3 << 20), "sub/b.dat": b"", "c.dat": b"c"}
    for name, content in data.items():
        (tmp_path / name).write_bytes(content)
    os.utime(tmp_path / "c.dat", (0, 1_700_000_000.25))
    ds = await Dataset.new(type="raw").with_local_files(
        *(tmp_path / n for n in data), base_path=tmp_path, checksum_algorithm="sha256"
    )
    for file, (name, content) in zip(ds.files, data.items(), strict=True):
        assert file.remote_path == name
        assert file.size == len(content)
        assert file.checksum == hashlib.sha256(content).hexdigest()
        assert file.checksum_algorithm == "sha256"
        assert file.local_path == tmp_path / name
        assert not file.is_on_remote
    assert ds.files[2].creation_time == datetime.fromtimestamp(1_700_000_000.25, UTC)
    plain = await Dataset.new(type="raw").with_local_files(
        tmp_path / "c.dat", checksum_algorithm=None
    )
    assert (plain.files[0].size, plain.files[0].checksum) == (1, None)
    assert plain.files[0].checksum_algorithm is None


@pytest.mark.anyio
async def test_many_small_files_share_thread_hand_offs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alink import _describe

    hand_offs: list[int] = []
    work = _describe._work

    def counted(shared: _describe._Shared, seconds: float) -> tuple[bool, float, float]:
        hand_offs.append(1)
        return work(shared, seconds)

    monkeypatch.setattr(_describe, "_work", counted)
    # Hand-offs end after a time slice; a long one makes the count depend on
    # the batching alone, not on how busy the machine is.
    monkeypatch.setattr(_describe, "_HANDOFF_SECONDS", 60.0)
    paths = []
    for i in range(5000):
        path = tmp_path / f"f{i}"
        path.write_bytes(b"%d" % i)
        paths.append(path)
    ds = await Dataset.new(type="raw").with_local_files(
        *paths, checksum_algorithm="md5"
    )
    assert [f.checksum for f in ds.files] == [
        hashlib.md5(b"%d" % i).hexdigest() for i in range(5000)
    ]
    assert 1 <= len(hand_offs) <= 8  # a few per worker, not one per file


@pytest.mark.anyio
async def test_missing_files_and_folders_are_all_named(tmp_path: Path) -> None:
    (tmp_path / "here").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    ds = Dataset.new(type="raw")
    with pytest.raises(FileNotFoundError, match=r"2 local file\(s\).*gone1.*gone2"):
        await ds.with_local_files(
            tmp_path / "gone1", tmp_path / "here", tmp_path / "gone2"
        )
    for algorithm in ("md5", None):
        with pytest.raises(ValueError, match=r"not regular files.*folder"):
            await ds.with_local_files(tmp_path / "folder", checksum_algorithm=algorithm)
    with pytest.raises(ValueError, match="unsupported checksum algorithm"):
        await ds.with_local_files(tmp_path / "here", checksum_algorithm="crc99")
    with pytest.raises(ValueError, match="no local path"):
        await describe_files([File.from_remote("x", 1, None)], checksum_algorithm="md5")
    assert await describe_files([], checksum_algorithm="md5") == []


@pytest.mark.anyio
async def test_reading_a_huge_file_can_be_cancelled(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as stream:
        stream.truncate(4 << 30)  # sparse: ~5 s of hashing
    with anyio.move_on_after(0.2) as scope:
        await Dataset.new(type="raw").with_local_files(big)
    assert scope.cancelled_caught
