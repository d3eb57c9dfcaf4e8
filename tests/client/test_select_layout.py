"""Selection, local layout and the up-to-date triage: pure functions, no I/O."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from alink import File, RemotePath, UnsafePathError
from alink.client._checksum import normalize_algorithm
from alink.client._layout import full_remote_path, plan_layout
from alink.client._select import make_selector, select_files
from alink.client._uptodate import Found, LocalState, settle, triage

FOLDER = RemotePath("/data/ds")


def remote(path: str) -> File:
    return File.from_remote(path, 1, None)


FILES = [
    remote("a.txt"),
    remote("sub/b.txt"),
    remote("sub/deep/c.h5"),
    File.from_local("/home/me/new.txt", remote_path="a.txt"),
    remote("d.h5"),
]


def chosen(select: Any) -> list[str]:
    return [FILES[i].remote_path.posix for i in select_files(FILES, select, FOLDER)]


def test_true_false() -> None:
    assert chosen(True) == ["a.txt", "sub/b.txt", "sub/deep/c.h5", "d.h5"]
    assert chosen(False) == []


def test_strings_relative_as_in_scitacean_or_full() -> None:
    assert chosen("sub/b.txt") == ["sub/b.txt"]
    assert chosen(RemotePath("sub/b.txt")) == ["sub/b.txt"]
    assert chosen("./sub//b.txt") == ["sub/b.txt"]
    # The full path names the same file.
    assert chosen("/data/ds/sub/b.txt") == ["sub/b.txt"]
    assert chosen("b.txt") == []  # exact paths, not names
    assert chosen("nothing") == []
    # The local-only file shares a remote path but is never selected.
    assert chosen("a.txt") == ["a.txt"]


def test_lists_and_tuples() -> None:
    assert chosen(["a.txt", "/data/ds/d.h5"]) == ["a.txt", "d.h5"]
    assert chosen(("sub/deep/c.h5",)) == ["sub/deep/c.h5"]
    assert chosen([]) == []


def test_pattern_searches_the_path_below_the_source_folder() -> None:
    assert chosen(re.compile(r"\.h5$")) == ["sub/deep/c.h5", "d.h5"]
    assert chosen(re.compile(r"^sub/")) == ["sub/b.txt", "sub/deep/c.h5"]
    # Scitacean's own examples: anchored on the catalogue's path.
    assert chosen(re.compile(r"^a\.txt$")) == ["a.txt"]
    assert chosen(re.compile(r"/data/ds")) == []


def test_callable_compares_like_scitacean() -> None:
    assert chosen(lambda f: f.remote_path == "sub/b.txt") == ["sub/b.txt"]
    by_path = {f.remote_path: f for f in FILES if f.is_on_remote}
    assert by_path["sub/deep/c.h5"] is FILES[2]


def test_callable_sees_only_remote_files() -> None:
    seen: list[File] = []

    def pick(file: File) -> bool:
        seen.append(file)
        return file.remote_path.suffix == ".txt"

    assert chosen(pick) == ["a.txt", "sub/b.txt"]
    assert all(f.is_on_remote for f in seen)


@pytest.mark.parametrize(
    "select",
    [None, 1, 0, 1.5, b"a.txt", {"a.txt"}, {"a": 1}, ["a.txt", 3], re.compile(b"x")],
)
def test_bad_select_is_a_type_error(select: Any) -> None:
    with pytest.raises(TypeError, match="select"):
        make_selector(select, FOLDER)


def test_full_remote_path() -> None:
    assert full_remote_path(RemotePath("/x/y"), FOLDER) == "/x/y"
    assert full_remote_path(RemotePath("y"), FOLDER) == "/data/ds/y"
    # Relative to the source folder, even when the folder is relative too.
    assert full_remote_path(RemotePath("y"), RemotePath("rel/ds")) == "rel/ds/y"
    assert (
        full_remote_path(RemotePath("rel/ds/y"), RemotePath("rel/ds"))
        == "rel/ds/rel/ds/y"
    )


def place(
    files: list[File], *, keep_tree: bool = False, folder: RemotePath = FOLDER
) -> list[tuple[int, str, str]]:
    layout = plan_layout(
        files,
        range(len(files)),
        folder=folder,
        target=Path("/t"),
        keep_tree=keep_tree,
    )
    return [
        (i, r.posix, local)
        for i, r, local in zip(layout.indices, layout.remote, layout.local, strict=True)
    ]


def test_flat_and_tree_layouts() -> None:
    files = [remote("/data/ds/a.txt"), remote("/data/ds/sub/deep/c.h5")]
    assert place(files) == [
        (0, "/data/ds/a.txt", "/t/a.txt"),
        (1, "/data/ds/sub/deep/c.h5", "/t/c.h5"),
    ]
    assert place(files, keep_tree=True) == [
        (0, "/data/ds/a.txt", "/t/a.txt"),
        (1, "/data/ds/sub/deep/c.h5", "/t/sub/deep/c.h5"),
    ]


def test_dotdot_inside_is_normalised() -> None:
    assert place([remote("/data/ds/sub/../a.txt")]) == [
        (0, "/data/ds/a.txt", "/t/a.txt")
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/data/ds/../other/secret",
        "/etc/passwd",
        "/data/dsX/a",
        "/data/ds",
        "/data/ds/.",
    ],
)
def test_outside_the_source_folder_is_unsafe(path: str) -> None:
    with pytest.raises(UnsafePathError, match="outside") as info:
        place([remote("/data/ds/ok.txt"), remote(path)])
    assert RemotePath(path).posix in str(info.value)


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/t", "/t/a.txt"), ("/t/", "/t/a.txt"), ("rel", "rel/a.txt"), ("/", "/a.txt")],
)
def test_target_spellings(target: str, expected: str) -> None:
    layout = plan_layout(
        [remote("/data/ds/a.txt")], [0], folder=FOLDER, target=target, keep_tree=False
    )
    assert layout.local == [expected]


def test_dot_source_folder_takes_any_relative_path() -> None:
    folder = RemotePath(".")
    assert place([remote("sub/x")], folder=folder, keep_tree=True) == [
        (0, "sub/x", "/t/sub/x")
    ]
    for bad in ("../x", "/abs/x"):
        with pytest.raises(UnsafePathError):
            place([remote(bad)], folder=folder)


def test_relative_source_folder() -> None:
    folder = RemotePath("rel/ds")
    assert place([remote("sub/x")], folder=folder, keep_tree=True) == [
        (0, "rel/ds/sub/x", "/t/sub/x")
    ]
    with pytest.raises(UnsafePathError):
        place([remote("../../x")], folder=folder)


def test_duplicate_names_in_the_flat_layout() -> None:
    files = [
        remote("/data/ds/a/x.txt"),
        remote("/data/ds/b/x.txt"),
        remote("/data/ds/y.txt"),
    ]
    with pytest.raises(ValueError, match=r"x\.txt") as info:
        place(files)
    message = str(info.value)
    assert "/data/ds/a/x.txt" in message
    assert "/data/ds/b/x.txt" in message
    assert "keep_tree=True" in message
    assert len(place(files, keep_tree=True)) == 3


def test_same_remote_path_twice_is_a_duplicate_in_both_layouts() -> None:
    files = [remote("/data/ds/a.txt"), remote("/data/ds/./a.txt")]
    for keep_tree in (False, True):
        with pytest.raises(ValueError, match="more than one file") as info:
            place(files, keep_tree=keep_tree)
        # Said as what it is; keep_tree would not help.
        assert "names '/data/ds/a.txt' 2 times" in str(info.value)
        assert "select each once" in str(info.value)
        assert "keep_tree" not in str(info.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("md5", "md5"),
        ("MD5", "md5"),
        ("sha256", "sha256"),
        ("SHA-256", "sha256"),
        ("sha3-256", "sha3_256"),
        ("blake2b", "blake2b"),
        (" Blake2b ", "blake2b"),
    ],
)
def test_checksum_algorithm_names(given: str, expected: str) -> None:
    assert normalize_algorithm(given) == expected


@pytest.mark.parametrize("name", ["crc32", "", "shake_128", "md6"])
def test_unknown_checksum_algorithms(name: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        normalize_algorithm(name)


def _triage(found: list[Found], *, force: bool = False, checksums: bool = True) -> Any:
    return triage(
        found,
        force=force,
        local=lambda k: f"/t/f{k}",
        remote=lambda k: f"/data/ds/f{k}",
        source="/data/ds",
        size=lambda k: 10,
        checksum=lambda k: checksums,
    )


EXISTING = [
    Found(0, LocalState.FILE, size=10),  # the right size: its checksum decides
    Found(1, LocalState.FILE, size=3),  # another size: edited
    Found(2, LocalState.FOLDER),
    Found(3, LocalState.SYMLINK, link="/data/ds/f3"),  # our link to the file
    Found(4, LocalState.SYMLINK, link="/data/ds/other"),  # a stale link of ours
    Found(5, LocalState.SYMLINK, link="../data/ds/f5"),  # relative, into the dataset
    Found(6, LocalState.SYMLINK, link="/home/me/f6"),  # the user's own link
    Found(7, LocalState.OTHER),  # a FIFO
]


def test_existing_entries_are_sorted_by_who_made_them() -> None:
    out = _triage(EXISTING)
    assert out.folders == [2]
    assert out.replace == [3, 4, 5]
    assert out.compare == [0]
    assert out.kept == []
    assert sorted(out.conflicts) == [1, 6, 7]
    assert "3 bytes" in out.conflicts[1]
    assert "/home/me/f6" in out.conflicts[6]
    replace, kept, conflicts = settle(out, {0: True})
    assert (replace, kept, list(conflicts)) == ([3, 4, 5], {0}, [1, 6, 7])
    replace, kept, conflicts = settle(out, {})
    assert (kept, list(conflicts)) == (set(), [0, 1, 6, 7])
    assert "checksum" in conflicts[0]


def test_without_checksums_the_right_size_is_in_place() -> None:
    out = _triage(EXISTING, checksums=False)
    assert (out.compare, out.kept) == ([], [0])


def test_force_replaces_everything_but_folders() -> None:
    out = _triage(EXISTING, force=True)
    assert out.folders == [2]
    assert out.replace == [0, 1, 3, 4, 5, 6, 7]
    assert (out.compare, out.kept, out.conflicts) == ([], [], {})
