"""The pure planning core: validation and normalisation without any I/O."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alink import RemotePath, UnsafePathError
from alink.transfer._plan import (
    Layout,
    absolute_remote,
    check_no_duplicates,
    find_duplicates,
    plan_pairs,
    run_indices,
    run_length,
)

SRC = "/data/ds"


def test_plan_normalises_both_sides() -> None:
    plan = plan_pairs(
        SRC,
        [RemotePath("/data/ds/a"), "/data/ds/sub/../b", RemotePath("c")],
        ["out/a", Path("/abs/x/./b"), "/abs//c"],
        cwd="/data/ds",
    )
    assert plan.sources == ["/data/ds/a", "/data/ds/b", "/data/ds/c"]
    assert plan.targets == ["/data/ds/out/a", "/abs/x/b", "/abs/c"]


def test_relative_remote_paths_are_taken_against_cwd() -> None:
    assert absolute_remote("x/y", "/work") == "/work/x/y"
    assert absolute_remote(RemotePath("../y"), "/work/a") == "/work/y"


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="same length"):
        plan_pairs(SRC, ["/data/ds/a"], [], cwd="/")


@pytest.mark.parametrize(
    "remote",
    [
        "/data/ds/../outside/secret",
        "/data/dsx/file",
        "/etc/passwd",
        "/data/ds",
        "/data/ds/",
        "../../etc/passwd",
        "/data/ds/a/../../ds2/f",
    ],
)
def test_remote_outside_source_folder_is_unsafe(remote: str) -> None:
    with pytest.raises(UnsafePathError, match="outside the dataset's source folder"):
        plan_pairs(SRC, [remote], ["/out/f"], cwd="/data/ds/sub")


@pytest.mark.parametrize("local", ["", ".", "..", "/out/", "/out/.", "/out/..", "a/.."])
def test_local_without_file_name_is_unsafe(local: str) -> None:
    with pytest.raises(UnsafePathError, match="file name"):
        plan_pairs(SRC, ["/data/ds/a"], [local], cwd="/work")


def test_nul_bytes_are_unsafe() -> None:
    with pytest.raises(UnsafePathError, match="NUL"):
        plan_pairs(SRC, ["/data/ds/a"], ["/out/a\x00b"], cwd="/")
    with pytest.raises(UnsafePathError, match="NUL"):
        plan_pairs(SRC, ["/data/ds/a\x00"], ["/out/a"], cwd="/")


def test_wrong_types_are_refused() -> None:
    with pytest.raises(TypeError):
        plan_pairs(SRC, [3], ["/out/a"], cwd="/")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        plan_pairs(SRC, ["/data/ds/a"], [b"/out/a"], cwd="/")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        plan_pairs(SRC, [PurePosixPath("/data/ds/a")], ["/o/a"], cwd="/")  # type: ignore[list-item]


def test_error_lists_every_offender_briefly() -> None:
    remote = [f"/elsewhere/{i}" for i in range(20)]
    with pytest.raises(UnsafePathError, match=r"20 remote path.*and 15 more"):
        plan_pairs(SRC, remote, [f"/o/{i}" for i in range(20)], cwd="/")


def test_duplicates_after_normalisation() -> None:
    plan = plan_pairs(
        SRC, ["/data/ds/a", "/data/ds/b"], ["/o/x", "/o/sub/../x"], cwd="/"
    )
    with pytest.raises(ValueError, match=r"more than once.*'/o/x'"):
        check_no_duplicates(plan.targets)
    check_no_duplicates(["/o/a", "/o/b"])


def test_find_duplicates_in_order() -> None:
    assert find_duplicates(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert find_duplicates([]) == []


def test_layout_groups_runs_by_folder() -> None:
    sources = ["/a/x", "/a/y", "/b/y", "/a/z", "/w"]
    plan = plan_pairs("/", sources, ["/o/1", "/o/2", "/p/3", "/o/4", "/5"], cwd="/")
    layout = Layout()
    layout.add(plan, 0, 2)
    layout.add(plan, 2, 5)
    assert layout.remote_runs == {"/a": [(0, 2), (3, 4)], "/b": [(2, 3)], "/": [(4, 5)]}
    assert list(layout.local_folders) == ["/o", "/p", "/"]
    assert list(run_indices(layout.remote_runs["/a"])) == [0, 1, 3]
    assert run_length(layout.remote_runs["/a"]) == 3


def test_planning_in_slices_equals_planning_at_once() -> None:
    remote = [f"/data/ds/f{i}" for i in range(10)]
    local = [f"/o/f{i}" for i in range(10)]
    whole = plan_pairs(SRC, remote, local, cwd="/")
    parts = plan_pairs(SRC, remote, local, cwd="/", start=0, stop=4)
    plan_pairs(SRC, remote, local, cwd="/", start=4, stop=10, into=parts)
    assert parts == whole


_name = st.text(
    alphabet=st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=12
)


@given(st.lists(st.one_of(_name, st.sampled_from(["..", ".", "", "/"])), max_size=6))
def test_planned_sources_never_escape(segments: list[str]) -> None:
    remote = "/data/ds/" + "/".join(segments)
    try:
        plan = plan_pairs(SRC, [remote], ["/o/f"], cwd="/tmp")
    except UnsafePathError:
        return
    (source,) = plan.sources
    assert source.startswith(SRC + "/")
    assert ".." not in PurePosixPath(source).parts
    assert source == PurePosixPath(source).as_posix()
