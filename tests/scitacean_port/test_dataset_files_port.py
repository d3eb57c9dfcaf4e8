"""Port of the file cases of Scitacean's ``tests/dataset_test.py``
(Scitacean 26.10.1).

Scitacean's ``Dataset`` changes in place; alink's returns a new dataset from
``add_files`` (migration.md, "Where alink deliberately differs": ``Dataset``
is immutable), so each case checks the dataset returned and that a failed
call leaves the old one as it was. Only the file cases are ported: the rest
of the module is about Scitacean's typed fields, attachments, uploads and
``derive``. alink has no ``Dataset(checksum_algorithm=...)`` default, so the
cases parametrised over it run once, without one.
"""

from __future__ import annotations

import pytest

from alink import Dataset, File


def _remote(path: str, size: int, **checksum: str) -> File:
    return File.from_remote(
        remote_path=path, size=size, creation_time="2025-05-02T15:04:04Z", **checksum
    )


@pytest.mark.parametrize("typ", ["raw", "derived"])
def test_new_dataset_has_no_files(typ: str) -> None:
    dataset = Dataset(type=typ)
    assert len(list(dataset.files)) == 0
    assert dataset.number_of_files == 0
    assert dataset.size == 0


@pytest.mark.parametrize("typ", ["raw", "derived"])
def test_adding_multiple_conflicting_files_raises(typ: str) -> None:
    # Scitacean's case adds two local files that share the remote name data.dat.
    dataset = Dataset(type=typ)
    with pytest.raises(ValueError, match=r"data\.dat"):
        dataset.add_files(
            File.from_local("common/location1/data.dat"),
            File.from_local("common/data.dat"),
        )
    assert not list(dataset.files)
    assert dataset.number_of_files == 0


@pytest.mark.parametrize("typ", ["raw", "derived"])
def test_adding_separate_conflicting_files_raises(typ: str) -> None:
    dataset = Dataset(type=typ).add_files(File.from_local("common/location1/data.dat"))
    with pytest.raises(ValueError, match=r"data\.dat"):
        dataset.add_files(File.from_local("common/data.dat"))
    [f0] = dataset.files
    assert dataset.number_of_files == 1
    assert not f0.is_on_remote
    assert f0.is_on_local
    assert f0.remote_access_path(dataset.source_folder or "") is None


@pytest.mark.parametrize("typ", ["raw", "derived"])
def test_file_checksum_algorithm_takes_precedence_over_dataset(typ: str) -> None:
    dataset = Dataset(type=typ).add_files(
        _remote(
            "remote/data.dat",
            82,
            checksum_algorithm="md5",
            checksum="75c21d0cf6cd4cfa94958085b7880eac",
        )
    )
    [f] = dataset.files
    assert f.checksum_algorithm == "md5"


@pytest.mark.parametrize("typ", ["raw", "derived"])
def test_add_files_given_algorithm_overrides_default(typ: str) -> None:
    file1 = _remote(
        "file1",
        1,
        checksum_algorithm="md5",
        checksum="75c21d0cf6cd4cfa94958085b7880eac",
    )
    file2 = _remote("file2", 2)  # no checksum algorithm here
    dataset = Dataset(type=typ).add_files(file1, file2)
    # Files added together share one datablock, and so its algorithm.
    [f1, f2] = dataset.files
    assert f1.checksum_algorithm == "md5"
    assert f2.checksum_algorithm == "md5"


@pytest.mark.parametrize("typ", ["raw", "derived"])
def test_add_files_rejects_files_with_different_checksum_algorithms(typ: str) -> None:
    file1 = _remote(
        "file1",
        1,
        checksum_algorithm="md5",
        checksum="75c21d0cf6cd4cfa94958085b7880eac",
    )
    file2 = _remote(
        "file2",
        2,
        checksum_algorithm="blake2b",
        checksum="72418c5cde53daa31a84f8016647b652",
    )
    with pytest.raises(ValueError, match="different checksum algorithms"):
        Dataset(type=typ).add_files(file1, file2)


def test_eq_self() -> None:
    dataset = Dataset(type="raw", source_folder="/uu/hex").add_files(
        _remote("a.dat", 1), _remote("b/c.dat", 2)
    )
    assert dataset == dataset
    assert dataset == Dataset(type="raw", source_folder="/uu/hex").add_files(
        _remote("a.dat", 1), _remote("b/c.dat", 2)
    )


def test_neq_single_mismatched_file() -> None:
    base = Dataset(type="raw", source_folder="/uu/hex")
    assert base.add_files(_remote("a.dat", 1)) != base.add_files(_remote("a.dat", 2))
    assert base.add_files(_remote("a.dat", 1)) != base.add_files(_remote("b.dat", 1))


def test_neq_extra_file() -> None:
    base = Dataset(type="raw", source_folder="/uu/hex").add_files(_remote("a.dat", 1))
    assert base != base.add_files(_remote("b.dat", 1))


def test_replace_does_not_change_files_no_input_files() -> None:
    dataset = Dataset(type="raw", source_folder="/uu/hex").add_files(
        _remote("a.dat", 1)
    )
    replaced = dataset.replace(fields={"datasetName": "renamed"})
    assert replaced.files == dataset.files


def test_replace_does_not_change_files_with_input_files() -> None:
    dataset = Dataset(type="raw", source_folder="/uu/hex").add_files(
        _remote("a.dat", 1)
    )
    replaced = dataset.replace(source_folder="/uu/other")
    assert replaced.files == dataset.files
