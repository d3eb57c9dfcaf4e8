"""The fast path of ``Dataset.from_scicat`` (used for 100k-file datasets) builds
exactly what the general path builds: same paths, same File fields.

``File.remote_path`` is the catalogue's path, relative to the source folder
(as in Scitacean); ``remote_access_path`` joins the folder."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from alink import Dataset, File, RemotePath, UnsafePathError
from alink._model import _new_file

PATHS = [
    "a.txt",
    "sub/b.txt",
    "sub//c.txt",
    "./d.txt",
    "sub/./e.txt",
    ".hidden",
    "sub/.hidden",
    "sub/",
    "../up.txt",
    "sub/../f.txt",
    "/abs/g.txt",
    "x.",
    "a\\b",
    "ünï cödé/h.txt",
]
FOLDERS = ["/data/ds", "/", "rel/ds", ".", "..", "/data/ds/../x", None]


def dataset(folder: str | None, paths: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "raw",
        "origdatablocks": [
            {
                "chkAlg": "md5",
                "dataFileList": [
                    {"path": p, "size": i, "time": "2024-01-02T03:04:05Z", "u": i}
                    for i, p in enumerate(paths)
                ],
            }
        ],
    }
    if folder is not None:
        data["sourceFolder"] = folder
    return data


@pytest.mark.parametrize("folder", FOLDERS)
def test_paths_match_the_general_join(folder: str | None) -> None:
    built = Dataset.from_scicat(dataset(folder, PATHS))
    for file, path in zip(built.files, PATHS, strict=True):
        expected = RemotePath(path)
        assert file.remote_path == expected
        assert file.remote_path.posix == expected.posix
        assert repr(file.remote_path) == repr(expected)
        if folder is not None:
            assert file.remote_access_path(folder) == RemotePath(folder) / path


def test_files_match_the_constructor() -> None:
    built = Dataset.from_scicat(dataset("/data/ds", ["a.txt"])).files[0]
    expected = File(
        remote_path=RemotePath("a.txt"),
        size=0,
        creation_time=built.creation_time,
        checksum=None,
        checksum_algorithm="md5",
        extra=built.extra,
    )
    assert built == expected
    names = [f.name for f in dataclasses.fields(File)]
    assert [getattr(built, n) for n in names] == [getattr(expected, n) for n in names]
    assert built.local_path is None
    assert built.is_on_remote
    assert built.extra["u"] == 0
    assert hash(built) == hash(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.size = 3  # type: ignore[misc]


def test_new_file_sets_every_field() -> None:
    file = _new_file(RemotePath("/x"), 5, None, "c", "md5", {"k": 1})
    assert [f.name for f in dataclasses.fields(File)] == [
        "remote_path",
        "size",
        "creation_time",
        "checksum",
        "checksum_algorithm",
        "local_path",
        "is_on_remote",
        "extra",
    ]
    assert file == File(RemotePath("/x"), 5, None, "c", "md5", None, True)
    assert file.extra == {"k": 1}


def test_nul_in_a_path_is_still_refused() -> None:
    with pytest.raises(UnsafePathError):
        Dataset.from_scicat(dataset("/data/ds", ["a\x00b"]))


def _fresh(path: str = "a.txt") -> File:
    """A file as reading a dataset makes it: its remote path not yet read."""
    return Dataset.from_scicat(dataset("/data/ds", [path])).files[0]


def test_remote_path_is_made_on_first_read_and_kept() -> None:
    file = _fresh()
    first = file.remote_path
    assert type(first) is RemotePath
    assert first == RemotePath("a.txt")
    assert file.remote_path is first


@pytest.mark.parametrize(
    "use",
    [
        lambda f: f == File(RemotePath("a.txt"), 0, f.creation_time, None, "md5"),
        lambda f: (
            hash(f) == hash(File(RemotePath("a.txt"), 0, f.creation_time, None, "md5"))
        ),
        lambda f: "RemotePath('a.txt')" in repr(f),
        lambda f: dataclasses.replace(f, size=9).remote_path == RemotePath("a.txt"),
        lambda f: type(dataclasses.replace(f, size=9).remote_path) is RemotePath,
        lambda f: dataclasses.asdict(f)["remote_path"] == RemotePath("a.txt"),
        lambda f: pickle.loads(pickle.dumps(f)).remote_path == RemotePath("a.txt"),
        lambda f: copy.copy(f).remote_path == RemotePath("a.txt"),
        lambda f: (
            f.downloaded(local_path="/t/a.txt").remote_path == RemotePath("a.txt")
        ),
    ],
)
def test_an_unread_remote_path_behaves_as_a_remote_path(use: Any) -> None:
    """Every way of reading the field sees a RemotePath, read or not."""
    assert use(_fresh())
    file = _fresh()
    file.remote_path  # noqa: B018 - read it first
    assert use(file)


def test_the_field_cannot_be_assigned() -> None:
    file = _fresh()
    with pytest.raises(dataclasses.FrozenInstanceError):
        file.remote_path = RemotePath("/x")  # type: ignore[misc]
