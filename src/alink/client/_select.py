"""Which files of a dataset to download: the ``select=`` argument (pure).

The forms follow Scitacean's ``Client.download_files``:

- ``True`` / ``False``: every file / none;
- a ``str``: the file with exactly this remote path — relative to the
  dataset's source folder, as :attr:`alink.File.remote_path` is (the full
  path is accepted too);
- a ``list`` or ``tuple`` of such strings: any of them;
- an ``re.Pattern``: ``pattern.search(file.remote_path.posix)`` finds a match
  in the path relative to the source folder;
- a callable ``File -> bool``.

Files that are not on the remote are never selected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeAlias

from .._model import File
from .._paths import RemotePath
from ._layout import full_remote_path

__all__ = ["FileSelector", "make_selector", "select_files"]

FileSelector: TypeAlias = (
    "bool | str | RemotePath | list[str | RemotePath] | tuple[str | RemotePath, ...]"
    " | re.Pattern[str] | Callable[[File], bool]"
)


def _paths_selector(
    wanted: Sequence[str | RemotePath], folder: RemotePath | None
) -> Callable[[File], bool]:
    names: set[RemotePath] = set()
    for item in wanted:
        if not isinstance(item, str | RemotePath):
            raise TypeError(
                f"select lists must hold remote paths as str, got {type(item).__name__}"
            )
        names.add(_key(RemotePath(item), folder))

    def select(file: File) -> bool:
        return _key(file.remote_path, folder) in names

    return select


def _key(path: RemotePath, folder: RemotePath | None) -> RemotePath:
    """What two spellings of the same remote file have in common."""
    if folder is None:
        return path.resolve()
    return full_remote_path(path, folder).resolve()


def make_selector(
    select: FileSelector, folder: RemotePath | None
) -> Callable[[File], bool]:
    """A predicate for ``select`` (see the module docstring).

    ``folder`` is the dataset's source folder, used to accept paths given
    relative to it.

    Raises:
        TypeError: ``select`` is none of the accepted forms.
    """
    if select is True:
        return lambda _: True
    if select is False:
        return lambda _: False
    if isinstance(select, str | RemotePath):
        return _paths_selector([select], folder)
    if isinstance(select, list | tuple):
        return _paths_selector(select, folder)
    if isinstance(select, re.Pattern):
        if not isinstance(select.pattern, str):
            raise TypeError("select patterns must be str patterns, not bytes")
        pattern = select
        return lambda file: pattern.search(file.remote_path.posix) is not None
    if isinstance(select, bool | int | float | bytes | dict | set | frozenset):
        raise TypeError(_bad_select(select))
    if callable(select):
        return select
    raise TypeError(_bad_select(select))


def _bad_select(select: object) -> str:
    return (
        "select must be True, False, a remote path (str), a list or tuple of"
        " them, a compiled regular expression or a callable File -> bool; got"
        f" {type(select).__name__}"
    )


def select_files(
    files: Sequence[File], select: FileSelector, folder: RemotePath | None
) -> list[int]:
    """Indices of the files to download: on the remote and chosen by ``select``."""
    predicate = make_selector(select, folder)
    if select is True:
        return [i for i, f in enumerate(files) if f.is_on_remote]
    return [i for i, f in enumerate(files) if f.is_on_remote and predicate(f)]
