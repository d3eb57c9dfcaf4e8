"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# alink's own fixtures (scicat_server and friends) come from its pytest
# plugin, as in a user's suite: the ``pytest11`` entry point registers them
# wherever alink is installed. pytester runs the plugin's own tests.
pytest_plugins = ["pytester"]

Snapshot = dict[str, tuple[str, str, int]]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _snapshot(root: Path) -> Snapshot:
    """Every entry below ``root``: kind, link target or content, and mtime."""
    tree: Snapshot = {}
    if not root.exists():
        return tree
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                tree[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            elif os.path.isdir(path):
                tree[rel] = ("dir", "", st.st_mtime_ns)
            else:
                tree[rel] = ("file", Path(path).read_bytes().hex(), st.st_mtime_ns)
    return tree


@pytest.fixture
def snapshot() -> Callable[[Path], Snapshot]:
    """A function that records a whole tree, to prove nothing changed."""
    return _snapshot


@pytest.fixture(params=["text", "compact"])
def plans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a download test with plans that keep local paths as text, and with
    compact ones that keep the caller's ``Path`` objects (used for very large
    downloads, see ``alink.transfer._plan.COMPACT_FROM``)."""
    from alink.transfer import _plan

    if request.param == "compact":
        monkeypatch.setattr(_plan, "COMPACT_FROM", 0)
    return str(request.param)


def pytest_configure(config: pytest.Config) -> None:
    """Put ``tmp_path`` on tmpfs when there is one.

    The tests create and remove tens of thousands of entries; on this
    project's CI disk that is slow for reasons that have nothing to do with
    alink. ``--basetemp`` still wins when given.
    """
    if config.option.basetemp is None and os.path.isdir("/dev/shm"):
        import tempfile

        config.option.basetemp = tempfile.mkdtemp(prefix="alink-tests-", dir="/dev/shm")
        config.stash[_SCRATCH] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


_SCRATCH = pytest.StashKey[str]()
