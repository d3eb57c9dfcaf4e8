"""The order of a file list changes nothing but the order of what is reported.

Property: the same (remote, local) pairs in any order give the same links
(or copies) and the same refusal; a refusal names its paths in the order of
the list it was given. The planning and the source check group the files by
folder whatever their order (see ``alink.transfer._plan.Layout`` and
``alink.transfer._sources``), so this holds over folders that are listed,
folders with few files (looked at one by one), sub-folders that are symlinks
(inside and outside the dataset), missing folders and every kind of entry
(symlink loops too).
The default suite runs a small number of examples; ``-m slow`` runs 1000.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alink import FileNotAccessibleError, UnsafePathError
from alink.transfer import _sources

from ._helpers import kinds, outcome
from .test_hostile import download

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]

#: Folders of the remote dataset: listed ones (many files), small ones,
#: nested ones, a symlink to a folder inside, one to a folder outside, and
#: one that does not exist.
_FOLDERS = ["", "big", "big/deep", "small", "inner-link", "outer-link", "gone"]
#: Entries each folder may hold, by name: what each one is.
_ENTRIES = {
    "f0": "file",
    "f1": "file",
    "f2": "file",
    "f3": "file",
    "f4": "file",
    "missing": None,
    "sub": "dir",
    "link-in": "link-in",
    "link-out": "link-out",
    "dangling": "dangling",
    "loop": "loop",
    "self-link": "self-link",
}

files = st.lists(
    st.tuples(st.sampled_from(_FOLDERS), st.sampled_from(sorted(_ENTRIES))),
    min_size=1,
    max_size=14,
    unique=True,
)


def build_world(root: Path) -> Path:
    """The dataset's source folder with every folder and entry of the lists."""
    source = root / "remote" / "ds"
    outside = root / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret").write_text("bystander")
    for folder in ("", "big", "big/deep", "small"):
        base = source / folder
        base.mkdir(parents=True, exist_ok=True)
        for name, what in _ENTRIES.items():
            path = base / name
            if what == "file":
                path.write_text(f"{folder}/{name}")
            elif what == "dir":
                path.mkdir()
            elif what == "link-in":
                path.symlink_to(source / "big" / "f0")
            elif what == "link-out":
                path.symlink_to(outside / "secret")
            elif what == "dangling":
                path.symlink_to(base / "nothing here")
            elif what == "loop":  # loop -> loop-back -> loop
                path.symlink_to(base / "loop-back")
                (base / "loop-back").symlink_to(path.name)
            elif what == "self-link":
                path.symlink_to(path.name)
    (source / "inner-link").symlink_to(source / "small")
    (source / "outer-link").symlink_to(outside / "dir")
    for name in ("f0", "f1", "f2", "f3", "f4"):
        (outside / "dir" / name).write_text("outside")
    return source


def _quoted(message: str) -> list[str]:
    return re.findall(r"'(/[^']*)'", message)  # quoted absolute paths


counter = itertools.count()


async def run(
    base: Path, snapshot: Snap, pairs: list[tuple[str, str]], kind: str
) -> tuple[Exception | None, dict[str, Any]]:
    """Download ``pairs`` (remote relative path, local name) into a fresh world."""
    root = base / str(next(counter))
    source = build_world(root)
    target = root / "target"
    remote = [f"{source}/{rel}" for rel, _ in pairs]
    local = [f"{target}/{name}" for _, name in pairs]
    exc = await outcome(download(source, remote, local, kind))
    tree = _contents(target, root)
    shutil.rmtree(root)
    return exc, tree


def _contents(target: Path, root: Path) -> dict[str, Any]:
    """What ``target`` holds, comparable across worlds (paths relative to ``root``)."""
    found: dict[str, Any] = {}
    for folder, dirs, names in os.walk(target):
        for name in dirs + names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, target)
            if os.path.islink(path):
                found[rel] = ("link", os.path.relpath(os.readlink(path), root))
            elif os.path.isdir(path):
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", Path(path).read_text())
    return found


async def check_order(
    base: Path,
    snapshot: Snap,
    chosen: list[tuple[str, str]],
    order: list[int],
    kind: str,
) -> None:
    pairs = [
        (f"{folder}/{name}".lstrip("/"), f"{folder or 'top'}/{name}")
        for folder, name in chosen
    ]
    permuted = [pairs[i] for i in order]
    first, first_tree = await run(base, snapshot, pairs, kind)
    second, second_tree = await run(base, snapshot, permuted, kind)
    event("refused: " + type(first).__name__ if first is not None else "done")
    assert type(first) is type(second), (first, second)
    assert first_tree == second_tree  # the same links or copies (or none)
    if first is None or second is None:
        return
    assert not isinstance(first, BaseExceptionGroup)
    if isinstance(first, FileNotAccessibleError):
        assert isinstance(second, FileNotAccessibleError)
        named = [_relative(p.posix) for p in first.remote_paths]
        again = [_relative(p.posix) for p in second.remote_paths]
    elif isinstance(first, UnsafePathError):
        # Symlinks that lead out: the message names the first few.
        named = [_relative(p) for p in _quoted(str(first))]
        again = [_relative(p) for p in _quoted(str(second))]
        assert str(first).split()[0] == str(second).split()[0]  # how many
    else:
        raise first
    if len(named) < 5:
        assert sorted(named) == sorted(again)
    # Each names its paths in the order of the list it was given.
    assert named == [r for r, _ in pairs if r in named]
    assert again == [r for r, _ in permuted if r in again]


def _relative(path: str) -> str:
    """A remote path relative to the source folder."""
    return path.rsplit("/remote/ds/", 1)[1]


_settings = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
    ],
    "database": None,
}


@st.composite
def lists_and_orders(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[int]]:
    chosen = draw(files)
    order = draw(st.permutations(range(len(chosen))))
    return chosen, list(order)


@pytest.mark.parametrize("kind", kinds("link", "copy"), indirect=True)
@pytest.mark.parametrize("matching", ["set", "sorted search", "by name"])
@settings(max_examples=30, **_settings)
@given(case=lists_and_orders())
async def test_order_changes_nothing_but_the_order_of_reports(
    tmp_path: Path,
    snapshot: Snap,
    kind: str,
    matching: str,
    case: tuple[list[tuple[str, str]], list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if matching == "sorted search":
        monkeypatch.setattr(_sources, "_SET_LIMIT", 2)
    elif matching == "by name":  # as on slow storage (see SourceCheck.open_base)
        monkeypatch.setattr(_sources.SourceCheck, "_relative", True)
    await check_order(tmp_path, snapshot, *case, kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", kinds("link", "copy"), indirect=True)
@settings(max_examples=1000, **_settings)
@given(case=lists_and_orders(), sorted_search=st.booleans(), by_name=st.booleans())
async def test_order_changes_nothing_thoroughly(
    tmp_path: Path,
    snapshot: Snap,
    kind: str,
    case: tuple[list[tuple[str, str]], list[int]],
    sorted_search: bool,
    by_name: bool,
) -> None:
    limit = _sources._SET_LIMIT
    _sources._SET_LIMIT = 2 if sorted_search else limit
    _sources.SourceCheck._relative = by_name
    try:
        await check_order(tmp_path, snapshot, *case, kind)
    finally:
        _sources._SET_LIMIT = limit
        _sources.SourceCheck._relative = False


def test_the_world_has_every_kind_of_entry(tmp_path: Path) -> None:
    source = build_world(tmp_path)
    assert os.path.islink(source / "outer-link")
    assert os.path.isfile(source / "big" / "deep" / "f4")
    assert not os.path.exists(source / "gone")
    assert os.path.islink(source / "small" / "loop")
    assert not os.path.exists(source / "small" / "self-link")
