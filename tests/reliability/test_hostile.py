"""Hostile catalogue entries: generated file lists try to escape.

A dataset's file list is written by other people. Whatever it holds (``..``,
absolute paths, empty or odd names, unicode, very long names, duplicates
after normalisation, NUL bytes, trailing slashes, ``.``), a download either
links (or copies) files that lie inside the dataset's source folder to
names inside the target, or refuses with a clear error and creates nothing.
The transfer-level tests run with links and copies (and hard links for the
named examples). At the transfer
level, local names are derived the way the client does by default
(``target/<last segment>``); the client tests use its own layouts (flat and
``keep_tree``).

The default suite runs a small number of examples; ``-m slow`` runs >= 1000.
"""

from __future__ import annotations

import errno
import itertools
import os
import posixpath
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alink import (
    Client,
    Dataset,
    File,
    FileNotAccessibleError,
    IntegrityError,
    RemotePath,
    UnsafePathError,
)
from alink.transfer.link import LinkFileTransfer

from ._helpers import kinds, make_transfer, outcome

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]

_ODD = [
    "..",
    ".",
    "",
    "a",
    "b",
    "sub",
    " ",
    "-rf",
    "~",
    "$HOME",
    "\\",
    "\n",
    "...",
    ".hidden",
    "ds2",  # a sibling dataset's name
    "evil",  # a symlink in the dataset to a file outside it
    "door",  # a symlink in the dataset to a folder outside it
    "secret",
    "ds-evil",
    "x" * 255,  # the longest legal segment
    "y" * 256,  # one byte too long
    "é" * 128,  # 256 bytes in UTF-8
    "nul\x00byte",
    "\udcff",  # an undecodable byte, as Python represents it
    "\ud800",  # a lone surrogate (JSON allows it; no filesystem name can hold it)
    "\uff26\uff35\uff2c\uff2c",  # fullwidth FULL
    "e\u0301",  # decomposed é
    "\u00e9",  # composed é
]

_safe = st.text(
    alphabet=st.characters(blacklist_characters="/.\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
# Mostly ordinary names, so that many lists are linked and checked, not
# only refused.
segments = st.one_of(
    _safe,
    _safe,
    st.sampled_from(_ODD),
    st.text(
        alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=12,
    ),
)


@st.composite
def hostile_paths(draw: st.DrawFn) -> str:
    """One file path as a catalogue might hold it."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.sampled_from(["/etc/passwd", "/", "//", "/..", "../ds2/f"]))
    if kind == 1:
        # Longer than PATH_MAX (4096) in total.
        return "/".join(["d" * 200] * 21) + "/f"
    parts = draw(st.lists(segments, min_size=1, max_size=4))
    path = "/".join(parts)
    if draw(st.booleans()) and kind == 2:
        path = "/" + path
    if draw(st.integers(0, 9)) == 0:
        path += "/"
    return path


file_lists = st.lists(hostile_paths(), min_size=1, max_size=6)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def build_world(root: Path, paths: list[str]) -> tuple[Path, Path]:
    """Source folder, target and bystanders; remote files are created for
    every path that lies inside the source folder where that is possible."""
    source = root / "remote" / "ds"
    source.mkdir(parents=True)
    (root / "remote" / "ds2").mkdir()
    (root / "remote" / "ds2" / "f").write_text("another dataset")
    (root / "remote" / "ds-evil").mkdir()
    (root / "outside").mkdir()
    (root / "outside" / "secret").write_text("bystander")
    (source / "evil").symlink_to(root / "outside" / "secret")
    (source / "door").symlink_to(root / "outside")
    target = root / "target"
    target.mkdir()
    (target / "user file.txt").write_text("the user's")
    for path in paths:
        full = posixpath.normpath(f"{source}/{path}")
        if not _inside(full, str(source)) or full == str(source):
            continue
        try:
            Path(full).parent.mkdir(parents=True, exist_ok=True)
            with open(full, "x") as file:
                file.write(path)
        except (OSError, ValueError):
            continue  # clashes with another entry, too long, NUL, ...
    return source, target


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


counter = itertools.count()


async def check_hostile(
    base: Path, snapshot: Snap, paths: list[str], kind: str = "link"
) -> None:
    root = base / str(next(counter))
    source, target = build_world(root, paths)
    before = snapshot(root)
    remote = [f"{source}/{p}" if not p.startswith("/") else p for p in paths]
    local = [f"{target}/{p.rpartition('/')[2]}" for p in paths]
    exc = await outcome(download(source, remote, local, kind))
    event("refused: " + type(exc).__name__ if exc is not None else "linked")
    if exc is not None:
        assert not isinstance(exc, BaseExceptionGroup), exc
        # A refusal: nothing was created or changed, anywhere.
        assert snapshot(root) == before, _describe(exc)
        if isinstance(exc, ValueError):
            # A path problem names itself; otherwise a duplicate local name.
            assert isinstance(exc, UnsafePathError) or (
                type(exc) is ValueError and "more than once" in str(exc)
            ), _describe(exc)
        elif isinstance(exc, FileNotAccessibleError):
            # Only for paths inside the dataset that are not regular files.
            for bad in exc.remote_paths:
                full = posixpath.normpath(bad.posix)
                assert _inside(full, str(source)), bad
                assert not os.path.isfile(full) or os.path.islink(full), bad
        elif isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            pass  # acceptable: nothing was created (checked above)
        elif isinstance(exc, FileExistsError):
            assert Path(exc.filename).name == "user file.txt", exc
        else:
            raise exc
    else:
        # Linked: every entry is a link from inside the target to a file
        # inside the source folder (or a copy of such a file); nothing else
        # changed.
        after = snapshot(root)
        real_source = os.path.realpath(source)
        for path, wanted in zip(local, remote, strict=True):
            rel = os.path.relpath(path, root)
            assert _inside(posixpath.normpath(path), str(target)), path
            entry, link, _ = after.pop(rel)
            if kind == "link":
                assert entry == "link"
                assert os.path.isabs(link)
                assert _inside(link, str(source)), link
                assert _inside(os.path.realpath(link), real_source), link
            else:
                assert entry == "file"
                read = posixpath.normpath(wanted)
                assert _inside(read, str(source)), read
                assert _inside(os.path.realpath(read), real_source), read
                assert bytes.fromhex(link) == Path(read).read_bytes(), read
        for rel in list(after):
            if rel not in before and after[rel][0] == "dir":
                pytest.fail(f"unexpected folder {rel}")
        target_rel = os.path.relpath(target, root)
        after.pop(target_rel)
        before.pop(target_rel)
        assert after == before
    shutil.rmtree(root)


async def download(
    source: Path, remote: list[str], local: list[str], kind: str = "link"
) -> None:
    dataset = Dataset(type="raw", source_folder=str(source))
    async with make_transfer(kind).connect_for_download(dataset) as con:
        await con.download_files(remote=remote, local=local)


_settings = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
    ],
    "database": None,
}


@pytest.mark.parametrize("kind", kinds("link", "copy"), indirect=True)
@settings(max_examples=50, **_settings)
@given(paths=file_lists)
async def test_hostile_file_lists(
    tmp_path: Path, snapshot: Snap, kind: str, paths: list[str]
) -> None:
    await check_hostile(tmp_path, snapshot, paths, kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", kinds("link", "copy"), indirect=True)
@settings(max_examples=1000, **_settings)
@given(paths=file_lists)
async def test_hostile_file_lists_thoroughly(
    tmp_path: Path, snapshot: Snap, kind: str, paths: list[str]
) -> None:
    await check_hostile(tmp_path, snapshot, paths, kind)


@pytest.mark.parametrize(
    ("paths", "error"),
    [
        (["../ds2/f"], UnsafePathError),
        (["/etc/passwd"], UnsafePathError),
        (["a/../../ds2/f"], UnsafePathError),
        (["../ds-evil/x"], UnsafePathError),
        ([".."], UnsafePathError),
        (["."], UnsafePathError),
        ([""], UnsafePathError),
        (["a/"], UnsafePathError),
        (["nul\x00byte"], UnsafePathError),
        (["\ud800"], UnsafePathError),
        (["a", "b/\ud800"], UnsafePathError),
        (["a/f", "b/f"], ValueError),  # the same local name twice
        (["a/f", "a/./f"], ValueError),
        # No remote file can have such a name.
        (["y" * 256], FileNotAccessibleError),
        (["/".join(["d" * 200] * 21) + "/f"], FileNotAccessibleError),
    ],
)
async def test_known_hostile_lists(
    tmp_path: Path,
    snapshot: Snap,
    kind: str,
    paths: list[str],
    error: type[Exception],
) -> None:
    """Named examples of the generated classes, with the exact error."""
    root = tmp_path / "w"
    source, target = build_world(root, paths)
    before = snapshot(root)
    remote = [f"{source}/{p}" if not p.startswith("/") else p for p in paths]
    local = [f"{target}/{p.rpartition('/')[2]}" for p in paths]
    with pytest.raises(error):
        await download(source, remote, local, kind)
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "name",
    ["y" * 256, "/".join(["d" * 200] * 21) + "/f"],
    ids=["segment>255", "path>4096"],
)
@pytest.mark.parametrize(
    "kind", kinds("link", "copy", "hardlink", "copy-named"), indirect=True
)
async def test_local_names_too_long_create_nothing(
    tmp_path: Path, snapshot: Snap, kind: str, name: str
) -> None:
    """A local name the filesystem cannot hold: ``ENAMETOOLONG``, after the
    files before it were made, and everything is rolled back (a copy's
    temporary file too)."""
    root = tmp_path / "w"
    paths = [f"f{i}" for i in range(20)]
    source, target = build_world(root, paths)
    before = snapshot(root)
    remote = [f"{source}/{p}" for p in paths]
    local = [f"{target}/{p}" for p in paths[:-1]] + [f"{target}/{name}"]
    with pytest.raises(OSError) as info:  # noqa: PT011
        await download(source, remote, local, kind)
    assert info.value.errno == errno.ENAMETOOLONG
    assert snapshot(root) == before


# --- the same lists through the client -------------------------------------


async def check_hostile_client(
    base: Path, snapshot: Snap, paths: list[str], keep_tree: bool
) -> None:
    """Through ``Client.download_files``: flat, or keeping the remote tree
    (where the client itself must keep local paths inside the target)."""
    root = base / str(next(counter))
    source, target = build_world(root, paths)
    target = target / "download"  # created by the client only on success
    before = snapshot(root)
    try:
        files = [
            File.from_remote(p, size=_size(source, p), creation_time=None)
            for p in paths
        ]
    except (UnsafePathError, ValueError):
        event("client: refused by the model")
        shutil.rmtree(root)
        return  # a NUL byte, an empty path: such an entry cannot even be built
    dataset = Dataset(type="raw", source_folder=str(source), files=files)
    async with Client.without_login(
        url="https://scicat.invalid", file_transfer=LinkFileTransfer()
    ) as client:
        exc = await outcome(
            client.download_files(
                dataset, target=target, keep_tree=keep_tree, verify="size"
            )
        )
    event("client: " + (type(exc).__name__ if exc is not None else "linked"))
    if exc is not None:
        assert not isinstance(exc, BaseExceptionGroup), exc
        assert snapshot(root) == before, _describe(exc)
        assert isinstance(
            exc, ValueError | FileNotAccessibleError | IntegrityError | OSError
        ), _describe(exc)
        if isinstance(exc, OSError):
            assert exc.errno == errno.ENAMETOOLONG, _describe(exc)
    else:
        after = snapshot(root)
        real_source = os.path.realpath(source)
        for rel, (kind, link, _) in after.items():
            if rel in before:
                continue
            path = root / rel
            assert _inside(str(path), str(target)), rel
            if kind == "link":
                assert _inside(link, str(source)), link
                assert _inside(os.path.realpath(link), real_source), link
            else:
                assert kind == "dir", rel
        assert {k: after[k] for k in before if k != "target"} == {
            k: v for k, v in before.items() if k != "target"
        }
    shutil.rmtree(root)


def _size(source: Path, path: str) -> int:
    try:
        return os.path.getsize(posixpath.normpath(f"{source}/{path}"))
    except (OSError, ValueError):
        return 0


@settings(max_examples=25, **_settings)
@given(paths=file_lists, keep_tree=st.booleans())
async def test_hostile_file_lists_through_the_client(
    tmp_path: Path, snapshot: Snap, paths: list[str], keep_tree: bool
) -> None:
    await check_hostile_client(tmp_path, snapshot, paths, keep_tree)


@pytest.mark.slow
@settings(max_examples=1000, **_settings)
@given(paths=file_lists, keep_tree=st.booleans())
async def test_hostile_file_lists_through_the_client_thoroughly(
    tmp_path: Path, snapshot: Snap, paths: list[str], keep_tree: bool
) -> None:
    await check_hostile_client(tmp_path, snapshot, paths, keep_tree)


def test_remote_path_refuses_nul() -> None:
    with pytest.raises(UnsafePathError):
        RemotePath("a\x00b")


async def test_client_refuses_unencodable_names_clearly(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a").write_text("x")
    dataset = Dataset(
        type="raw",
        source_folder=str(source),
        files=[
            File.from_remote("a", size=1, creation_time=None),
            File.from_remote("b/\ud800", size=0, creation_time=None),
        ],
    )
    async with Client.without_login(
        url="https://scicat.invalid", file_transfer=LinkFileTransfer()
    ) as client:
        with pytest.raises(UnsafePathError):
            await client.download_files(dataset, target=tmp_path / "t")
