"""Where each selected file goes locally, validated before any I/O (pure).

Flat layout (Scitacean's): ``target / name``. Tree layout (``keep_tree``):
``target / <path relative to the source folder>``. Every remote path must
lie inside the dataset's source folder after lexical normalisation, every
local name must be a real file name, and no two files may land on the same
local path — all checked here, before the target folder is even created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._errors import UnsafePathError
from .._model import File
from .._paths import RemotePath

__all__ = ["Placement", "full_remote_path", "plan_layout"]

_BAD_NAMES = frozenset(("", ".", ".."))
#: How many offending paths a message lists before "and N more".
_SHOWN = 5


def full_remote_path(path: RemotePath, folder: RemotePath) -> RemotePath:
    """The full remote path of a file listed as ``path`` in a dataset at ``folder``.

    alink's :class:`~alink.File` already holds the full path (source folder
    joined with the catalogue's path); a path relative to the source folder,
    as Scitacean keeps it, is joined here. With a relative source folder, a
    relative path that already starts with the folder counts as full.
    """
    if path.is_absolute():
        return path
    if not folder.is_absolute() and path.is_relative_to(folder):
        return path
    return folder / path


@dataclass(frozen=True, slots=True)
class Placement:
    """One file to download: its index in the dataset and both of its paths.

    Attributes:
        index: Position of the file in ``Dataset.files``.
        remote: Full remote path, lexically normalised, inside the source folder.
        local: Local path (``target`` joined with the file's name or subpath).
    """

    index: int
    remote: RemotePath
    local: Path


def _summarise(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:_SHOWN])
    more = len(items) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def plan_layout(
    files: Sequence[File],
    indices: Sequence[int],
    *,
    folder: RemotePath,
    target: Path,
    keep_tree: bool,
) -> list[Placement]:
    """Place ``files[i]`` for each ``i`` in ``indices`` under ``target``.

    Raises:
        UnsafePathError: a remote path outside the source folder (or equal to
            it), or a file without a usable name.
        ValueError: two files would land on the same local path (in the flat
            layout: the same file name in different sub-folders).
    """
    root = folder.resolve()
    outside: list[str] = []
    bad_names: list[str] = []
    placements: list[Placement] = []
    for i in indices:
        given = files[i].remote_path
        remote = full_remote_path(given, folder).resolve()
        if remote == root or not remote.is_relative_to(root):
            outside.append(given.posix)
            continue
        if keep_tree:
            relative = remote.relative_to(root).posix
            if any(part in _BAD_NAMES for part in relative.split("/")):
                bad_names.append(given.posix)
                continue
            local = target / relative
        else:
            name = remote.name
            if name in _BAD_NAMES:
                bad_names.append(given.posix)
                continue
            local = target / name
        placements.append(Placement(i, remote, local))
    if outside:
        raise UnsafePathError(
            f"{len(outside)} file(s) lie outside the dataset's source folder"
            f" {folder.posix!r}: {_summarise(outside)}; nothing was downloaded"
        )
    if bad_names:
        raise UnsafePathError(
            f"{len(bad_names)} file(s) have no usable local name: "
            f"{_summarise(bad_names)}; nothing was downloaded"
        )
    _check_no_duplicates(placements, keep_tree)
    return placements


def _check_no_duplicates(placements: Sequence[Placement], keep_tree: bool) -> None:
    seen: dict[Path, Placement] = {}
    clashes: dict[Path, list[str]] = {}
    for placement in placements:
        first = seen.setdefault(placement.local, placement)
        if first is not placement:
            clashes.setdefault(placement.local, [first.remote.posix]).append(
                placement.remote.posix
            )
    if not clashes:
        return
    described = [
        f"{local.name if not keep_tree else str(local)!r} (from"
        f" {', '.join(repr(r) for r in remotes)})"
        for local, remotes in clashes.items()
    ]
    hint = (
        "; pass keep_tree=True to keep the remote sub-folders, or select fewer files"
        if not keep_tree
        else ""
    )
    raise ValueError(
        f"{len(clashes)} local path(s) would receive more than one file: "
        + "; ".join(described[:_SHOWN])
        + (f" and {len(described) - _SHOWN} more" if len(described) > _SHOWN else "")
        + hint
        + "; nothing was downloaded"
    )
