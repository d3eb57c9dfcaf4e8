"""RemotePath: lexical POSIX paths on the remote, with Scitacean's defects fixed."""

from __future__ import annotations

import posixpath
from pathlib import PurePath, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alink import RemotePath, UnsafePathError


def test_joins_segments_and_normalises_slashes() -> None:
    assert RemotePath("/data", "run1", "f.h5").posix == "/data/run1/f.h5"
    assert RemotePath("/data//run1/./f.h5/").posix == "/data/run1/f.h5"
    assert RemotePath("a/", "b").posix == "a/b"
    assert RemotePath("/").posix == "/"


def test_absolute_right_side_replaces_left() -> None:
    assert RemotePath("/data") / "/other/x" == RemotePath("/other/x")
    assert (RemotePath("/data") / "x").posix == "/data/x"
    assert ("/data" / RemotePath("x")).posix == "/data/x"


def test_equal_to_str_with_same_text() -> None:
    assert RemotePath("/a/b") == "/a/b"
    assert RemotePath("/a//b/") == "/a/b"
    assert RemotePath("/a/b") != "/a/c"
    assert RemotePath("/a/b") != PurePosixPath("/a/b")
    assert hash(RemotePath("/a/b")) == hash(RemotePath("/a//b"))


@pytest.mark.parametrize("text", ["sub/x/", "sub//x", "./sub/x", "sub/./x"])
def test_a_str_is_compared_exactly_so_eq_and_hash_agree(text: str) -> None:
    # A str is not normalised: equal objects must hash alike, or a dict or
    # set lookup with a str key would miss although == holds.
    path = RemotePath("sub/x")
    assert path != text
    assert path == RemotePath(text)
    assert path == "sub/x"
    assert hash(path) == hash("sub/x")
    assert {path: 1}["sub/x"] == 1
    assert "sub/x" in {path}
    assert path != "sub/x\x00"  # no error: a NUL is just a different text


@given(st.text(alphabet="ab/.", max_size=12))
def test_equal_to_a_str_implies_the_same_hash(text: str) -> None:
    path = RemotePath(text)
    if path == text:
        assert hash(path) == hash(text)


def test_rejects_local_paths_and_other_types() -> None:
    with pytest.raises(TypeError, match="from_local"):
        RemotePath(PurePosixPath("/a"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RemotePath(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RemotePath("/a") / PurePosixPath("b")  # type: ignore[operator]


def test_nul_byte_is_unsafe() -> None:
    with pytest.raises(UnsafePathError):
        RemotePath("/a/b\x00c")


def test_name_suffix_parent() -> None:
    p = RemotePath("/data/run1/scan.nxs.gz")
    assert p.name == "scan.nxs.gz"
    assert p.suffix == ".gz"
    assert p.parent == "/data/run1"
    assert RemotePath("file").parent == "."
    assert RemotePath("/file").parent == "/"
    assert RemotePath("/").parent == "/"
    assert RemotePath("noext").suffix is None


def test_local_conversion() -> None:
    assert RemotePath.from_local(PurePath("sub/f.txt")) == "sub/f.txt"
    assert RemotePath("/data/sub/f.txt").to_local() == PurePath("f.txt")


def test_resolve_keeps_leading_parent_segments() -> None:
    assert RemotePath("../../x").resolve() == "../../x"
    assert RemotePath("a/../../x").resolve() == "../x"
    assert RemotePath("/a/b/../c").resolve() == "/a/c"
    assert RemotePath("/../x").resolve() == "/x"
    assert RemotePath("a/..").resolve() == "."


def test_is_relative_to_compares_whole_segments() -> None:
    assert not RemotePath("/data/ab").is_relative_to(RemotePath("/data/a"))
    assert RemotePath("/data/a/b").is_relative_to(RemotePath("/data/a"))
    assert RemotePath("/data/a").is_relative_to("/data/a")
    assert RemotePath("/data/a").is_relative_to("/")
    assert not RemotePath("data/a").is_relative_to("/")


def test_relative_to() -> None:
    assert RemotePath("/data/a/b/c").relative_to("/data/a") == "b/c"
    assert RemotePath("/data/a").relative_to("/data/a") == "."
    assert RemotePath("/x").relative_to("/") == "x"
    with pytest.raises(ValueError, match="not inside"):
        RemotePath("/data/ab").relative_to("/data/a")


def test_str_and_repr() -> None:
    assert str(RemotePath("/a/b")) == "/a/b"
    assert repr(RemotePath("/a/b")) == "RemotePath('/a/b')"


_segment = st.sampled_from(["a", "b", "..", ".", "", "ab", "x.y"])
_paths = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(_segment, max_size=8),
)


@given(_paths)
def test_resolve_matches_posix_normpath_for_absolute_paths(text: str) -> None:
    if not text.startswith("/"):
        text = "/" + text
    assert RemotePath(text).resolve().posix == posixpath.normpath(text).replace(
        "//", "/"
    )


@given(_paths)
def test_resolve_is_idempotent_and_never_grows(text: str) -> None:
    once = RemotePath(text).resolve()
    assert once.resolve() == once
    assert len(once.parts) <= len(RemotePath(text).parts) or once == "."


@given(_paths, _paths)
def test_is_relative_to_agrees_with_purepath(left: str, right: str) -> None:
    a, b = RemotePath(left), RemotePath(right)
    if a.is_absolute() != b.is_absolute() or ".." in a.parts or ".." in b.parts:
        return
    expected = PurePosixPath(a.posix or ".").is_relative_to(
        PurePosixPath(b.posix or ".")
    )
    assert a.is_relative_to(b) == expected


# --- as in Scitacean: URL-like paths, truncated() ---------------------------------


@pytest.mark.parametrize(
    ("given", "posix"),
    [
        ("https://server.eu/x", "https://server.eu/x"),
        ("https://server.eu//a/./b/", "https://server.eu/a/b"),
        ("s3://bucket/key", "s3://bucket/key"),
        ("https://server.eu", "https://server.eu"),
    ],
)
def test_url_like_paths_keep_their_scheme(given: str, posix: str) -> None:
    path = RemotePath(given)
    assert path.posix == posix
    assert path == posix
    assert path == RemotePath(given)
    assert (RemotePath("https://server.eu") / "x").posix == "https://server.eu/x"
    assert RemotePath("https://server.eu/a/x").parent == "https://server.eu/a"
    assert RemotePath("https://server.eu").parent == "https://server.eu"
    assert RemotePath("https://s.eu/a/../b").resolve() == "https://s.eu/b"
    assert RemotePath("https://server.eu/a/x.nxs").name == "x.nxs"


def test_truncated_keeps_suffixes_like_scitacean() -> None:
    import scitacean

    for text, length in [
        ("/data/very-long-name.nxs", 8),
        ("abcdefgh/x.tar.gz", 4),
        ("short/name", 255),
        ("a" * 300 + ".h5", 255),
        ("noext" * 10, 7),
        (".hidden-file-name", 5),
    ]:
        ours = RemotePath(text).truncated(length)
        theirs = scitacean.RemotePath(text).truncated(length)
        assert ours.posix == theirs.posix, text
        assert all(len(part) <= length for part in ours.posix.split("/"))
    with pytest.raises(ValueError, match="at least 1"):
        RemotePath("a").truncated(0)
