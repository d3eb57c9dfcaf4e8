"""Datasets, files, paths and errors travel: pickle, deepcopy, public names.

Datasets go to worker processes (multiprocessing, Celery, Dask) and caches;
errors come back from them. Tracebacks name the public classes.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import alink
import alink.client
import alink.testing
from alink import (
    PID,
    Dataset,
    DuplicateLocalPathError,
    File,
    FileNotAccessibleError,
    IntegrityError,
    InvalidDatasetError,
    NoSuitableTransferError,
    PartialUploadError,
    RemotePath,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)

DATA = Path(__file__).parent / "data"


def raw_dataset() -> Dataset:
    return Dataset.from_scicat(json.loads((DATA / "dataset-raw.v4.json").read_text()))


def round_trips(value: Any) -> list[Any]:
    return [
        pickle.loads(pickle.dumps(value)),
        pickle.loads(pickle.dumps(value, protocol=2)),
        copy.deepcopy(value),
        copy.copy(value),
    ]


def test_a_dataset_from_scicat_survives_pickle_and_deepcopy() -> None:
    dataset = raw_dataset()
    downloaded = dataset.replace_files(
        dataset.files[0].downloaded(local_path="/tmp/x/file1.txt")
    )
    for original in (dataset, downloaded):
        for twin in round_trips(original):
            assert twin == original
            assert twin.to_scicat() == original.to_scicat()
            assert twin.pid == original.pid
            assert twin.source_folder == original.source_folder
            assert [f.local_path for f in twin.files] == [
                f.local_path for f in original.files
            ]
            assert [f.extra for f in twin.files] == [f.extra for f in original.files]
    # A deep copy is independent, and stays read-only.
    twin = copy.deepcopy(dataset)
    with pytest.raises(TypeError):
        twin.fields["datasetName"] = "changed"  # type: ignore[index]
    assert dataset.name == "My darkest magic yet"


def test_files_with_extra_fields_survive() -> None:
    file = File.from_remote(
        "sub/a.dat",
        3,
        "2024-01-02T03:04:05Z",
        checksum="c",
        checksum_algorithm="md5",
        uid="1",
        perm="rw",
    )
    for twin in round_trips(file):
        assert twin == file
        assert dict(twin.extra) == {"uid": "1", "perm": "rw"}
        assert type(twin.remote_path) is RemotePath
        with pytest.raises(TypeError):
            twin.extra["uid"] = "2"  # type: ignore[index]
    local = File.from_local("/home/me/new.txt", remote_path="new.txt")
    assert all(twin == local for twin in round_trips(local))


@pytest.mark.parametrize(
    "value",
    [
        PID.parse("20.500.12269/abc"),
        PID(pid="abc"),
        RemotePath("/data/x"),
        RemotePath("rel/x"),
        RemotePath("https://server.eu/x"),
    ],
)
def test_pids_and_paths_survive(value: object) -> None:
    for twin in round_trips(value):
        assert twin == value
        assert repr(twin) == repr(value)


def _errors() -> list[BaseException]:
    a, b = RemotePath("/data/a"), RemotePath("/data/b")
    return [
        FileNotAccessibleError("gone", remote_path=a, remote_paths=[a, b]),
        FileNotAccessibleError("gone", remote_path=None),
        NoSuitableTransferError("none", remote_path=a, errors=[ValueError("v")]),
        ScicatCommError("boom", status_code=403),
        ScicatLoginError("no"),
        IntegrityError("bad"),
        InvalidDatasetError(
            "bad fields", fields=["a"], problems=["a is bad"], status_code=400
        ),
        PartialUploadError("left", pid=PID.parse("p/1"), datablocks=["b1"], files=[a]),
        UnsafePathError("out"),
        DuplicateLocalPathError(
            "clash", clashes={"/t/x": [a, b]}, flat=True, summary="short"
        ),
    ]


@pytest.mark.parametrize("error", _errors(), ids=lambda e: type(e).__name__)
def test_errors_survive_with_their_attributes(error: BaseException) -> None:
    for twin in round_trips(error):
        assert type(twin) is type(error)
        assert str(twin) == str(error)
        assert repr(vars(twin)) == repr(vars(error))


def test_public_classes_show_their_public_module() -> None:
    for name in alink.__all__:
        value = getattr(alink, name)
        if isinstance(value, type):
            assert value.__module__ == "alink", name
            assert getattr(alink, value.__qualname__) is value
    assert repr(ScicatCommError("x")) == "ScicatCommError('x')"
    assert f"{ScicatCommError.__module__}.{ScicatCommError.__qualname__}" == (
        "alink.ScicatCommError"
    )
    assert alink.testing.ScicatServer.__module__ == "alink.testing"
    assert alink.client.RetryPolicy.__module__ == "alink.client"


def test_flat_clashes_are_caught_as_scitacean_users_catch_them() -> None:
    # Scitacean raises RuntimeError for duplicate local names.
    assert issubclass(DuplicateLocalPathError, RuntimeError)
    assert issubclass(DuplicateLocalPathError, ValueError)
