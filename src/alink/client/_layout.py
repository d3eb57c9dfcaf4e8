"""Where each selected file goes locally, validated before any I/O (pure).

Flat layout (Scitacean's): ``target / name``. Tree layout (``keep_tree``):
``target / <path relative to the source folder>``. Every remote path must
lie inside the dataset's source folder after lexical normalisation, every
local name must be a real file name, and no two files may land on the same
local path — all checked here, before the target folder is even created.

The per-file loop works on ``str`` (a ``Path`` per file costs more than
everything else together for 100k files); local paths become ``Path``
objects only in the dataset handed back to the caller.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._errors import DuplicateLocalPathError, UnsafePathError
from .._model import File
from .._names import check_encodable, summarise
from .._paths import RemotePath

__all__ = ["Layout", "full_remote_path", "plan_layout"]

_BAD_NAMES = frozenset(("", ".", ".."))
#: How many offending paths a message lists before "and N more".
_SHOWN = 5


def full_remote_path(path: RemotePath, folder: RemotePath) -> RemotePath:
    """The full remote path of a file listed as ``path`` in a dataset at ``folder``.

    ``path`` is relative to the source folder, as :attr:`alink.File.remote_path`
    is; an absolute one is kept as it is (and must still lie inside ``folder``).
    """
    return path if path.is_absolute() else folder / path


@dataclass(slots=True)
class Layout:
    """The files to download, as parallel lists (``k`` = position in the lists).

    Attributes:
        indices: ``indices[k]`` is the file's position in ``Dataset.files``.
        remote: Full remote path, lexically normalised, inside the source folder.
        local: Local path text: ``target`` joined with the name or sub-path.
    """

    indices: list[int] = field(default_factory=list)
    remote: list[RemotePath] = field(default_factory=list)
    local: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.indices)


def _target_prefix(target: str | os.PathLike[str]) -> str:
    text = os.fspath(target)
    if not isinstance(text, str):
        raise TypeError("target must be a text path")
    if not text:
        raise ValueError("target must not be empty")
    if "\x00" in text:
        raise UnsafePathError(f"target contains a NUL byte: {text!r}")
    stripped = text.rstrip("/")
    return stripped + "/" if stripped else "/"


def plan_layout(
    files: Sequence[File],
    indices: Sequence[int],
    *,
    folder: RemotePath,
    target: str | os.PathLike[str],
    keep_tree: bool,
) -> Layout:
    """Place ``files[i]`` for each ``i`` in ``indices`` under ``target``.

    Raises:
        UnsafePathError: a remote path outside the source folder (or equal to
            it), or a file without a usable name.
        ValueError: two files would land on the same local path (in the flat
            layout: the same file name in different sub-folders).
    """
    into = _target_prefix(target)
    root = folder.resolve().posix
    anywhere = root in ("", ".")  # a relative "." folder: any relative path
    prefix = "" if anywhere else ("/" if root == "/" else root + "/")
    cut = len(prefix)
    outside: list[str] = []
    layout = Layout()
    add_index = layout.indices.append
    add_remote = layout.remote.append
    add_local = layout.local.append
    for i in indices:
        given = files[i].remote_path
        remote = given
        text = given.posix
        if not text.startswith("/"):
            remote = full_remote_path(given, folder)
            text = remote.posix
        if ".." in text:
            remote = remote.resolve()
            text = remote.posix
        if anywhere:
            inside = not (text.startswith(("/", "../")) or text == "..")
        else:
            inside = text.startswith(prefix)
        relative = text[cut:]
        if not inside or relative in _BAD_NAMES:
            outside.append(given.posix)
            continue
        add_index(i)
        add_remote(remote)
        add_local(into + (relative if keep_tree else relative.rpartition("/")[2]))
    if outside:
        raise UnsafePathError(
            f"{len(outside)} file(s) lie outside the dataset's source folder"
            f" {folder.posix!r} or have no usable name: {summarise(outside)};"
            " nothing was downloaded"
        )
    check_encodable(layout.local, "local")
    _check_no_duplicates(layout, keep_tree)
    return layout


def _check_no_duplicates(layout: Layout, keep_tree: bool) -> None:
    if len(set(layout.local)) == len(layout.local):
        return
    first: dict[str, int] = {}
    clashes: dict[str, list[RemotePath]] = {}
    for k, local in enumerate(layout.local):
        seen = first.setdefault(local, k)
        if seen != k:
            clashes.setdefault(local, [layout.remote[seen]]).append(layout.remote[k])
    described = []
    for local, remotes in list(clashes.items())[:_SHOWN]:
        name = local if keep_tree else local.rpartition("/")[2]
        if len(set(remotes)) == 1:
            described.append(
                f"{name!r} (the file list names {remotes[0].posix!r}"
                f" {len(remotes)} times)"
            )
            continue
        sources = summarise([r.posix for r in remotes], shown=3)
        described.append(f"{name!r} (from {sources})")
    # One file listed twice (perhaps spelt 'a/./b' and 'a/b'): no layout helps.
    repeated = all(len(set(r)) == 1 for r in clashes.values())
    more = len(clashes) - _SHOWN
    summary = (
        f"{len(clashes)} local path(s) would receive more than one file: "
        + "; ".join(described)
        + (f"; and {more} more" if more > 0 else "")
        + "; nothing was downloaded"
    )
    if repeated:
        hint = "the dataset lists these files more than once: select each once"
    elif not keep_tree:
        hint = (
            "pass keep_tree=True to keep the remote sub-folders, or select fewer files"
        )
    else:
        hint = "select fewer files"
    raise DuplicateLocalPathError(
        f"{summary} ({hint})",
        clashes={local: tuple(remotes) for local, remotes in clashes.items()},
        flat=not keep_tree,
        summary=summary,
    )
