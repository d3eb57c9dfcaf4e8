"""The pure planning core: validation and normalisation without any I/O."""

from __future__ import annotations

import collections
import itertools
import os
import posixpath
import random
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alink import RemotePath, UnsafePathError
from alink._names import encodable
from alink.transfer._plan import (
    DuplicateCheck,
    Layout,
    Plan,
    Texts,
    _fspaths,
    _normalised,
    absolute_remote,
    check_no_duplicates,
    find_duplicates,
    parent_runs,
    plan_pairs,
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
    assert list(plan.targets) == ["/data/ds/out/a", "/abs/x/b", "/abs/c"]


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


@pytest.mark.parametrize("spelling", ["//o/x", "///o/x", "//o//x", "//o/./x"])
def test_a_leading_double_slash_is_the_root(spelling: str) -> None:
    # POSIX normpath keeps a leading '//'; on Linux it is '/', so both
    # spellings are one local path.
    plan = plan_pairs(SRC, ["/data/ds/a", "/data/ds/b"], ["/o/x", spelling], cwd="/")
    assert list(plan.targets) == ["/o/x", "/o/x"]
    with pytest.raises(ValueError, match=r"more than once.*'/o/x'"):
        check_no_duplicates(plan.targets)
    plan = plan_pairs(SRC, ["/data/ds/a"], [Path(spelling)], cwd="/")
    assert list(plan.targets) == ["/o/x"]


def test_find_duplicates_in_order() -> None:
    assert find_duplicates(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert find_duplicates([]) == []


def test_layout_counts_files_by_folder() -> None:
    sources = ["/a/x", "/a/y", "/b/y", "/a/z", "/w"]
    plan = plan_pairs("/", sources, ["/o/1", "/o/2", "/p/3", "/o/4", "/5"], cwd="/")
    layout = Layout()
    layout.add(plan.sources, 0, plan.targets[0:2])
    layout.add(plan.sources, 2, plan.targets[2:5])
    assert layout.remote == {
        "/a": ["/a/x", "/a/y", "/a/z"],
        "/b": ["/b/y"],
        "/": ["/w"],
    }
    assert list(layout.remote) == ["/a", "/b", "/"]  # first appearance
    assert layout.local_folders == {"/o": 3, "/p": 1, "/": 1}


def _layout_of(paths: list[str], slice_size: int) -> Layout:
    layout = Layout()
    for a in range(0, len(paths), slice_size):
        layout.add(paths, a, paths[a : a + slice_size])
    return layout


@pytest.mark.parametrize("slice_size", [1, 7, 4096])
def test_layout_is_the_same_for_every_order(slice_size: int) -> None:
    grouped = [f"/r/d{i // 1000:03d}/f{i:07d}" for i in range(5000)]
    # d000/f0000000, d001/f0000001000, ..., d000/f0000001, ...
    alternating = sorted(grouped, key=lambda p: int(p[-7:]) % 1000)
    grouped += ["/r/lone/a", "/r/pair/a", "/r/pair/b"]
    alternating += ["/r/pair/a", "/r/lone/a", "/r/pair/b"]
    shuffled = grouped[:]
    random.Random(5).shuffle(shuffled)
    reference = _layout_of(grouped, slice_size)
    assert len(reference.remote["/r/d001"]) == 1000
    assert reference.remote["/r/pair"] == ["/r/pair/a", "/r/pair/b"]
    for paths in (alternating, shuffled):
        layout = _layout_of(paths, slice_size)
        assert layout.remote.keys() == reference.remote.keys()
        for folder, wanted in layout.remote.items():
            # Each folder's paths, in input order.
            assert wanted == [p for p in paths if posixpath.dirname(p) == folder]
        assert layout.local_folders == reference.local_folders


@given(
    st.lists(
        st.sampled_from(["/a/x", "/a/y", "/b/x", "/x", "/a/b/x", "/c/y"]), max_size=80
    ),
    st.integers(1, 20),
)
def test_layout_matches_a_plain_grouping(paths: list[str], slice_size: int) -> None:
    layout = _layout_of(paths, slice_size)
    first_seen = dict.fromkeys(map(posixpath.dirname, paths))
    assert list(layout.remote) == list(first_seen)
    for folder, wanted in layout.remote.items():
        assert wanted == [p for p in paths if posixpath.dirname(p) == folder]
    assert layout.local_folders == dict(
        collections.Counter(posixpath.dirname(p) for p in paths)
    )


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


# The batch fast paths (C-level checks over joined slices, joined pathlib
# segments, galloping folder runs) must agree with plain per-path reasoning.

_segment = st.one_of(
    st.sampled_from(["a", "b.c", ".h", "..", ".", "", "x y", "é"]),
    _name.filter(lambda s: "/" not in s),
)
_segments = st.lists(_segment, min_size=1, max_size=4)


def _local_path(kind: str, segments: list[str]) -> str | Path | PurePosixPath:
    text = "/o/" + "/".join(segments)
    if kind == "str":
        return text
    if kind == "joined":  # several pathlib segments, as ``base / name`` makes
        return Path("/o").joinpath(*segments)
    if kind == "pure":
        return PurePosixPath(text)
    return Path(text)


@given(
    st.lists(
        st.tuples(
            _segments,
            st.sampled_from(["str", "remote"]),
            _segments,
            st.sampled_from(["str", "path", "joined", "pure"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_batch_planning_equals_planning_each_path(
    pairs: list[tuple[list[str], str, list[str], str]],
) -> None:
    remote: list[str | RemotePath] = []
    local: list[str | Path | PurePosixPath] = []
    expected: list[tuple[str, str]] | None = []
    for r_segments, r_kind, l_segments, l_kind in pairs:
        text = SRC + "/" + "/".join(r_segments)
        remote.append(RemotePath(text) if r_kind == "remote" else text)
        local.append(_local_path(l_kind, l_segments))
        source = absolute_remote(text, "/")
        target = posixpath.normpath(os.fspath(local[-1]))
        last = os.fspath(local[-1]).rpartition("/")[2]
        if (
            not source.startswith(SRC + "/")
            or last in ("", ".", "..")
            or not encodable(source + target)
        ):
            expected = None
        elif expected is not None:
            expected.append((source, target))
    try:
        plan = plan_pairs(SRC, remote, local, cwd="/")
    except UnsafePathError:
        assert expected is None
        return
    assert expected is not None
    assert list(zip(plan.sources, plan.targets, strict=True)) == expected


@given(st.lists(st.sampled_from(["/a/x", "/a/y", "/b/x", "/x", "/a/b/x"]), max_size=60))
def testparent_runs_cover_every_path_with_its_folder(paths: list[str]) -> None:
    runs = list(parent_runs(paths, 0, len(paths)))
    assert [i for _, a, b in runs for i in range(a, b)] == list(range(len(paths)))
    for parent, a, b in runs:
        assert all(posixpath.dirname(p) == parent for p in paths[a:b])


def testparent_runs_of_grouped_paths_are_whole_folders() -> None:
    paths = [f"/d{i // 1000}/f{i}" for i in range(5000)]
    assert list(parent_runs(paths, 0, 5000)) == [
        (f"/d{n}", n * 1000, (n + 1) * 1000) for n in range(5)
    ]


@pytest.mark.parametrize(
    "paths",
    [
        [Path("/a/b"), Path("/a") / "c" / "d.e", PurePosixPath("/x/.y/z")],
        [Path("/a//b/./c/"), Path("/a", "/b"), Path("//a/b")],
        [Path("rel/x"), Path("/a/b")],
    ],
)
def test_joined_pathlib_segments_are_exact_when_plain(
    paths: list[Path | PurePosixPath],
) -> None:
    converted = _fspaths(paths, set(map(type, paths)))
    if converted is not None:
        texts, trusted = converted
        if trusted or _normalised("\x00".join(texts)):
            assert texts == list(map(os.fspath, paths))
    plan = plan_pairs("/r", [f"/r/f{i}" for i in range(len(paths))], paths, cwd="/w")
    expected = [posixpath.normpath(posixpath.join("/w", os.fspath(p))) for p in paths]
    # A leading '//' is the root on Linux (normpath keeps it: POSIX allows both).
    assert list(plan.targets) == [e[1:] if e.startswith("//") else e for e in expected]


@pytest.mark.parametrize("root", [Path("/"), Path("//"), PurePosixPath("/")])
def test_a_root_as_local_path_is_refused_on_the_fast_path_too(root: Path) -> None:
    for paths in ([root, Path("/a/b")], [Path("/a/b"), root]):
        converted = _fspaths(paths, set(map(type, paths)))
        if converted is not None and converted[1]:
            assert "" not in converted[0]
            assert "/" not in converted[0]
        with pytest.raises(UnsafePathError, match="file name"):
            plan_pairs("/r", ["/r/f0", "/r/f1"], paths, cwd="/w")


def test_joined_pathlib_segments_apply_on_this_python() -> None:
    """The fast conversion is in use (else 100k Paths cost 0.1-0.35 s)."""
    paths = [Path(f"/a/f{i}") for i in range(3)]
    converted = _fspaths(paths, set(map(type, paths)))
    assert converted is not None
    assert converted[0] == ["/a/f0", "/a/f1", "/a/f2"]


@given(
    st.lists(st.sampled_from(["/o/a", "/o/b", "/o/c", "/o/d", "/p/a"]), max_size=30),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10),
    st.booleans(),
)
def test_duplicate_check_in_slices_finds_exactly_the_repeats(
    paths: list[str], cuts: list[int], ordered: bool
) -> None:
    if ordered:  # the fast case: sorted, maybe with repeats
        paths.sort()
    check = DuplicateCheck(paths)
    start = 0
    for cut in itertools.cycle(cuts):
        if start >= len(paths):
            break
        stop = min(len(paths), start + cut)
        check.add(paths[start:stop], start)
        start = stop
    if len(set(paths)) == len(paths):
        check.check()
    else:
        with pytest.raises(ValueError, match="used more than once"):
            check.check()


_mixed_local = st.builds(
    lambda kind, folder, name: (str, Path, PurePosixPath)[kind](f"/o/{folder}/{name}"),
    st.integers(min_value=0, max_value=2),
    st.sampled_from(["a", "b", "c/d", "c/./e", ".h"]),
    st.from_regex(r"[a-z]{1,4}(\.dat)?", fullmatch=True),
)


@given(
    st.lists(_mixed_local, max_size=40),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=6),
)
def test_plan_targets_give_the_validated_text_however_taken(
    local: list[str | Path | PurePosixPath], cuts: list[int]
) -> None:
    """Targets kept as the caller's path objects read back as their text."""
    remote = [f"/r/f{i}" for i in range(len(local))]
    expected = [posixpath.normpath(os.fspath(p)) for p in local]
    plan = Plan(compact=True)
    start = 0
    for cut in itertools.cycle(cuts):  # slices of mixed kinds, as when downloading
        if start >= len(local):
            break
        stop = min(len(local), start + cut)
        plan_pairs("/r", remote, local, cwd="/", start=start, stop=stop, into=plan)
        start = stop
    targets = plan.targets
    assert len(targets) == len(expected)
    assert list(targets) == expected
    assert [targets[i] for i in range(len(expected))] == expected
    assert not expected or targets[-1] == expected[-1]
    for a, b in itertools.pairwise([0, *cuts[:3], len(expected)]):
        assert targets[a:b] == expected[a:b]
    assert targets == Texts(expected)


def test_plan_keeps_pathlib_targets_as_the_callers_objects() -> None:
    """A million local paths as text would cost ~100 MB: the plan keeps refs."""
    local = [Path(f"/o/f{i}") for i in range(100)]
    remote = [f"/r/f{i}" for i in range(100)]
    plan = plan_pairs("/r", remote, local, cwd="/", into=Plan.sized(10**6))
    assert plan.compact
    assert all(a is b for a, b in zip(plan.targets._items, local, strict=True))
    assert plan.targets[10:12] == ["/o/f10", "/o/f11"]
    small = plan_pairs("/r", remote, local, cwd="/", into=Plan.sized(100))
    assert not small.compact
    assert all(type(t) is str for t in small.targets._items)
    assert small == Plan(plan.sources, plan.targets)
