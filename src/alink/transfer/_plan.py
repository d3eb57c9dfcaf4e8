"""Pure planning: validate and normalise (remote, local) pairs before any I/O.

Nothing here touches the filesystem or an event loop. The functions work on
plain ``str`` paths in the hot loop (``Path`` objects per file are far too
slow for 100k files) and keep the typed objects at the API edge.
"""

from __future__ import annotations

import errno
import itertools
import operator
import os
import posixpath
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PosixPath, PurePosixPath
from typing import TypeAlias, cast, overload

from .._errors import UnsafePathError
from .._names import check_encodable, encodable, summarise
from .._paths import RemotePath

__all__ = [
    "Plan",
    "RemoteInput",
    "LocalInput",
    "Texts",
    "absolute_remote",
    "against_cwd",
    "working_directory",
    "find_duplicates",
    "normpath",
    "FEW",
    "Layout",
    "count_folders",
    "group_by_folder",
    "parent_runs",
    "plan_pairs",
    "plan_slice",
]

RemoteInput: TypeAlias = "RemotePath | str"
LocalInput: TypeAlias = "str | os.PathLike[str]"

_BAD_NAMES = frozenset(("", ".", ".."))


class SliceConverted(Sequence[str]):
    """Path texts held in another form, converted a slice at a time.

    Converting a slice in bulk costs a fraction of converting path by path,
    so callers take slices (the engine takes one per batch); iterating
    converts chunk by chunk.
    """

    __slots__ = ()

    def _held(self) -> Sequence[object]:
        """What is held, one entry per path."""
        raise NotImplementedError

    def _convert(self, items: list[object]) -> list[str]:
        """The texts of a list of held entries."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._held())

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        held = self._held()
        if isinstance(index, slice):
            items = held[index]
            return self._convert(items if isinstance(items, list) else list(items))
        return self._convert([held[index]])[0]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), _GIL_SLICE):
            yield from self[start : start + _GIL_SLICE]


class Texts(SliceConverted):
    """Validated paths as text, held compactly.

    Each entry is either a path's text or, for a path planned from a
    ``pathlib`` object, the caller's own object: its text was checked while
    planning, and pathlib paths are immutable, so converting it again gives
    the same text. A million local paths as text cost ~100 MB; as objects
    the caller holds anyway, one reference each. Slices convert in bulk at C
    speed (~0.25 µs a path), so the engine asks for one slice per batch.
    """

    __slots__ = ("_items", "_objects")

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._items: list[object] = list(texts)
        self._objects = False  # whether any entry is a path object

    def _held(self) -> list[object]:
        return self._items

    def _convert(self, items: list[object]) -> list[str]:
        return _texts(items) if self._objects else items  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Texts):
            return NotImplemented
        return len(self) == len(other) and all(
            a == b for a, b in zip(self, other, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Texts({list(self)!r})"

    def extend_texts(self, texts: Iterable[str]) -> None:
        """Add paths given as their (validated) text."""
        self._items.extend(texts)

    def extend_paths(self, paths: Iterable[object]) -> None:
        """Add ``pathlib`` paths whose text (:func:`_fspaths`) was validated."""
        self._items.extend(paths)
        self._objects = True


def _texts(items: list[object]) -> list[str]:
    """The text of each entry of a :class:`Texts` slice."""
    kinds = set(map(type, items))
    if kinds == _STR:
        return items  # type: ignore[return-value]
    if str not in kinds:
        converted = _fspaths(items, kinds)
        if converted is not None:
            return converted[0]
    return [item if type(item) is str else _texts([item])[0] for item in items]


#: Plans of more pairs than this are compact: they keep ``pathlib`` targets
#: as the caller's objects (see :class:`Texts`). Below, the ~100 bytes of
#: text a path are cheap, and converting every batch again would cost about
#: a tenth of a link's time.
COMPACT_FROM = 1 << 18


@dataclass(slots=True)
class Plan:
    """What a download will do: ``targets[i]`` becomes a copy/link of ``sources[i]``.

    Both hold absolute, lexically normalised paths. A ``compact`` plan keeps
    local ``pathlib`` paths as the caller's objects instead of their text.
    """

    sources: list[str] = field(default_factory=list)
    targets: Texts = field(default_factory=Texts)
    compact: bool = False

    @classmethod
    def sized(cls, total: int) -> Plan:
        """An empty plan for ``total`` pairs: compact when that is large."""
        return cls(compact=total > COMPACT_FROM)

    def __len__(self) -> int:
        return len(self.sources)


#: :func:`working_directory` when the process's working directory is gone.
_NO_CWD = "\x00"


def working_directory() -> str:
    """``os.getcwd()``, or a marker if the working directory was deleted.

    Absolute paths need no working directory, so a download of absolute
    paths still works; a relative path then raises (see :func:`against_cwd`).
    """
    try:
        return os.getcwd()
    except FileNotFoundError:
        return _NO_CWD


def against_cwd(cwd: str, path: str) -> str:
    """``cwd + "/" + path`` for a relative ``path`` (text, not normalised).

    Raises:
        FileNotFoundError: the working directory was deleted.
    """
    if cwd == _NO_CWD:
        raise FileNotFoundError(
            errno.ENOENT,
            "the working directory was deleted, so a relative path cannot be"
            " resolved (give absolute paths, or change to an existing folder)",
            path,
        )
    return f"{cwd.rstrip('/')}/{path}"


def absolute_remote(path: RemoteInput, cwd: str) -> str:
    """The absolute, ``..``-free text of a remote path (relative: against cwd)."""
    remote = path if isinstance(path, RemotePath) else RemotePath(path)
    if not remote.is_absolute():
        remote = RemotePath(against_cwd(cwd, remote.posix))
    return remote.resolve().posix


def _remote_text(item: object) -> str:
    if isinstance(item, RemotePath):
        return item.posix
    if isinstance(item, str):
        return RemotePath(item).posix
    raise TypeError(
        f"remote paths must be RemotePath or str, got {type(item).__name__}"
    )


def _local_text(item: object) -> str:
    if isinstance(item, str):
        text = item
    else:
        try:
            text = os.fspath(cast("os.PathLike[str]", item))
        except TypeError:
            raise TypeError(
                f"local paths must be str or os.PathLike, got {type(item).__name__}"
            ) from None
        if not isinstance(text, str):
            raise TypeError(f"local paths must be text, got {type(text).__name__}")
    if "\x00" in text:
        raise UnsafePathError(f"local path contains a NUL byte: {text!r}")
    return text


def _plan_plain_slice(
    prefix: str,
    remote: Sequence[RemoteInput],
    local: Sequence[LocalInput],
    start: int,
    stop: int,
    plan: Plan,
) -> list[str] | None:
    """Plan a slice whose paths are all plain, checking them a slice at a time.

    "Plain": every remote path starts with ``prefix`` and is normalised with
    no ``..``; every local path is absolute with no ``//``, no segment
    starting with a dot and no trailing slash. Such paths need no
    normalisation. The checks run as a few C-level searches over the
    NUL-joined slice instead of several per path. Returns the slice's local
    paths as text, or ``None`` (planning nothing) if any path is not plain,
    or the inputs are not ``RemotePath``/``str``/``Path``.
    """
    count = stop - start
    if count <= 0:
        return []
    remote_items = remote[start:stop]
    kinds = set(map(type, remote_items))
    sources = _remote_texts(remote_items, kinds)
    if sources is None:
        return None
    joined = "\x00".join(sources)
    if not (
        joined.count("\x00") == count - 1
        and joined.startswith(prefix)
        and joined.count("\x00" + prefix) == count - 1
        and "/.." not in joined  # '..' segments (or rare '..name's): slow path
        and (kinds == _REMOTE or _normalised(joined))
        and encodable(joined)
    ):
        return None
    items = local[start:stop]
    kinds = set(map(type, items))
    converted = _fspaths(items, kinds)
    if converted is not None:
        targets, trusted = converted
    else:
        texts = cast("list[str]", list(items)) if kinds == _STR else _local_texts(items)
        if texts is None:
            return None
        targets, trusted = texts, False
    joined = "\x00".join(targets)
    if not (
        joined.count("\x00") == count - 1
        and "/." not in joined  # names starting with a dot: slow path
        and (
            trusted
            or (
                joined.startswith("/")
                and joined.count("\x00/") == count - 1
                and _normalised(joined)
            )
        )
        and encodable(joined)
    ):
        return None
    plan.sources.extend(sources)
    if converted is not None and plan.compact:
        plan.targets.extend_paths(items)
    else:
        plan.targets.extend_texts(targets)
    return targets


_STR = frozenset((str,))
_REMOTE = frozenset((RemotePath,))
_PATH_TEXT = operator.attrgetter("_path")


def _remote_texts(items: Sequence[object], kinds: set[type]) -> list[str] | None:
    """The texts of ``RemotePath``/``str`` items as given; ``None`` for others."""
    if kinds == _REMOTE:
        return list(map(_PATH_TEXT, items))
    if kinds == _STR:
        return list(items)  # type: ignore[arg-type]
    if kinds <= {RemotePath, str}:
        return [r._path if type(r) is RemotePath else r for r in items]  # type: ignore[misc]
    return None


def _local_texts(items: Sequence[object]) -> list[str] | None:
    """``os.fspath`` of each item; ``None`` if one is not a text path."""
    try:
        texts = [p if type(p) is str else os.fspath(p) for p in items]  # type: ignore[call-overload]
    except TypeError:
        return None
    return texts if all(type(t) is str for t in texts) else None


def _normalised(joined: str) -> bool:
    """Whether no path in NUL-joined ``joined`` would change when normalised.

    That is: no empty segment (``//``, a trailing ``/``) and no ``.``
    segment. Each check is one C-level search over the whole text.
    """
    return not (
        "//" in joined
        or "/\x00" in joined
        or "/./" in joined
        or "/.\x00" in joined
        or joined.endswith(("/", "/."))
    )


def _probe_fspaths() -> tuple[Callable[[Sequence[object]], list[str]], bool] | None:
    """A C-level way to turn many ``pathlib`` paths into their text.

    ``str(path)`` on a fresh ``Path`` runs pathlib's Python code: about 1 µs
    a path on Python 3.11 and 3.5 µs on 3.12+, more than creating the
    symlink itself. The segments ``pathlib`` keeps (``_raw_paths`` on 3.12+,
    ``_parts`` on 3.11) can instead be joined by C code. That is private
    API, so it is used only if it gives ``str(path)`` for probe paths on
    this Python. The flag says whether the segments are parsed (3.11): the
    paths are then absolute and normalised (others are refused). Otherwise
    they are raw, and the caller trusts them only when they are normalised
    already, where joining the segments is exactly what ``str`` does.
    """
    parsed = sys.version_info < (3, 12)
    get = operator.attrgetter("_parts" if parsed else "_raw_paths")
    root = operator.attrgetter("_root")
    cut = operator.itemgetter(slice(1, None))

    def convert(items: Sequence[object]) -> list[str]:
        texts = list(map("/".join, map(get, items)))
        if parsed:
            # ['/', 'a'] joins to '//a'. Only a plain '/' root, and a name
            # after it: the root alone (['/']) would be cut to ''.
            if set(map(root, items)) != _SLASH:
                raise ValueError("not all absolute")
            texts = list(map(cut, texts))
            if "" in texts:
                raise ValueError("a root")
        return texts

    probes = [PurePosixPath("/a/b.c"), PosixPath("/a") / "b" / "c.d"]
    try:
        ok = convert(probes) == ["/a/b.c", "/a/b/c.d"]
    except (AttributeError, TypeError, ValueError):
        return None
    return (convert, parsed) if ok else None


_SLASH = {"/"}
_CONVERT = _probe_fspaths()
_PATH_TYPES = frozenset((PosixPath, PurePosixPath))


def _fspaths(
    items: Sequence[object], kinds: set[type]
) -> tuple[list[str], bool] | None:
    """``list(map(os.fspath, items))`` for ``pathlib`` paths, fast.

    Returns the texts and whether they are known to be absolute and
    normalised; unless they are, they are right only for paths that
    :func:`_normalised` accepts, and the caller must check. ``None`` when
    the fast way does not apply (other types, relative paths on 3.11, an
    unusual Python); the caller then converts each path.
    """
    if _CONVERT is None or not items or not kinds <= _PATH_TYPES:
        return None
    convert, parsed = _CONVERT
    try:
        return convert(items), parsed
    except (AttributeError, TypeError, ValueError):
        return None


def plan_pairs(
    source_folder: str,
    remote: Sequence[RemoteInput],
    local: Sequence[LocalInput],
    *,
    cwd: str,
    start: int = 0,
    stop: int | None = None,
    into: Plan | None = None,
) -> Plan:
    """Validate ``remote[start:stop]`` / ``local[start:stop]`` and add them to a plan.

    See :func:`plan_slice`; returns the plan.
    """
    plan = into if into is not None else Plan()
    plan_slice(source_folder, remote, local, cwd=cwd, start=start, stop=stop, into=plan)
    return plan


def plan_slice(
    source_folder: str,
    remote: Sequence[RemoteInput],
    local: Sequence[LocalInput],
    *,
    cwd: str,
    into: Plan,
    start: int = 0,
    stop: int | None = None,
) -> list[str]:
    """Validate ``remote[start:stop]`` / ``local[start:stop]`` and add them to ``into``.

    ``source_folder`` must be absolute and normalised. Every remote path must
    lie strictly inside it after lexical normalisation, and every local path
    must end in a real file name; otherwise :class:`UnsafePathError` names the
    offending paths (and nothing is added). Relative paths are taken against
    ``cwd``. Returns the new pairs' local paths as text.

    Call it on consecutive slices to keep each call short; check the local
    paths for duplicates (:class:`DuplicateCheck`) as they come.
    """
    if len(remote) != len(local):
        raise ValueError(
            f"remote and local must have the same length, got {len(remote)} remote"
            f" and {len(local)} local paths"
        )
    plan = into
    stop = len(remote) if stop is None else stop
    prefix = source_folder.rstrip("/") + "/"
    texts = _plan_plain_slice(prefix, remote, local, start, stop, plan)
    if texts is not None:
        return texts
    escaping: list[str] = []
    bad_names: list[str] = []
    sources: list[str] = []
    targets: list[str] = []
    sources_append = sources.append
    targets_append = targets.append
    prefix_len = len(prefix)
    # The hot loop: plain str checks; anything unusual takes the slow path.
    for item, place in zip(
        itertools.islice(remote, start, stop),
        itertools.islice(local, start, stop),
        strict=True,
    ):
        text = item._path if type(item) is RemotePath else _remote_text(item)
        if text[:1] != "/":
            text = absolute_remote(text, cwd)
        elif "/.." in text:
            text = RemotePath._from_clean(text).resolve().posix
        if not text.startswith(prefix) or len(text) == prefix_len:
            escaping.append(_remote_text(item))
            continue
        target = place if type(place) is str else _local_text(place)
        if (
            target[:1] != "/"
            or "//" in target
            or "/." in target
            or target.endswith("/")
            or "\x00" in target
        ):
            target = _local_text(target)  # NUL check
            if target.rpartition("/")[2] in _BAD_NAMES:
                bad_names.append(target)
                continue
            target = normpath(
                target if target.startswith("/") else against_cwd(cwd, target)
            )
        sources_append(text)
        targets_append(target)
    if escaping:
        raise UnsafePathError(
            f"{len(escaping)} remote path(s) lie outside the dataset's source folder"
            f" {source_folder!r}: {summarise(escaping)}"
        )
    if bad_names:
        raise UnsafePathError(
            f"{len(bad_names)} local path(s) do not end in a file name"
            f" ('', '.' and '..' are refused): {summarise(bad_names)}"
        )
    check_encodable(sources, "remote")
    check_encodable(targets, "local")
    plan.sources.extend(sources)
    plan.targets.extend_texts(targets)
    return targets


def normpath(path: str) -> str:
    """``posixpath.normpath``, with a leading ``//`` made ``/`` as well.

    POSIX lets ``//`` at the start mean something else, so ``normpath``
    keeps it; Linux and macOS treat it as ``/``, and two spellings of one
    local path must not escape the duplicate check.
    """
    path = posixpath.normpath(path)
    return path[1:] if path.startswith("//") else path


def find_duplicates(paths: Sequence[str]) -> list[str]:
    """Paths that occur more than once, each listed once, in input order."""
    seen: set[str] = set()
    add = seen.add
    size = 0
    duplicates: dict[str, None] = {}
    for path in paths:
        add(path)
        if len(seen) == size:
            duplicates[path] = None
        size = len(seen)
    return list(duplicates)


#: Items handed to one C-level set operation: big single calls hold the GIL
#: (and so stall the event loop thread) for their whole duration.
_GIL_SLICE = 4096


class DuplicateCheck:
    """Finds local paths used twice, fed one slice at a time.

    Paths that arrive in strictly increasing order (a sorted file list, the
    common case) cannot repeat: that is checked with C-level comparisons of
    neighbours, and no set is built. The first step back in order falls
    back to a set of every path.
    """

    __slots__ = ("_last", "_ordered", "_seen", "_size", "_targets")

    def __init__(self, targets: Sequence[str]) -> None:
        """Check ``targets``, which is filled as slices are added."""
        self._targets = targets
        self._seen: set[str] = set()
        self._size = 0
        self._ordered = True
        self._last: str | None = None

    def add(self, texts: Sequence[str], start: int) -> None:
        """Add ``targets[start:start + len(texts)]``, given as ``texts``."""
        if not texts:
            return
        if self._ordered:
            if (self._last is None or self._last < texts[0]) and all(
                map(operator.lt, texts[:-1], texts[1:])
            ):
                self._last = texts[-1]
                self._size += len(texts)
                return
            self._ordered = False
            self._update(self._targets, 0, start)
        self._update(texts, 0, len(texts))
        self._size += len(texts)

    def _update(self, targets: Sequence[str], start: int, stop: int) -> None:
        """Add ``targets[start:stop]`` in small C-level steps (GIL-friendly)."""
        for a in range(start, stop, _GIL_SLICE):
            self._seen.update(targets[a : min(stop, a + _GIL_SLICE)])

    def check(self) -> None:
        """Raise ``ValueError`` naming the paths used more than once.

        Frees the set either way: it can be large, and the next steps of a
        download need their memory.
        """
        unique, self._seen = len(self._seen), set()
        if self._ordered or unique == self._size:
            return
        duplicates = find_duplicates(self._targets)
        raise ValueError(
            f"{len(duplicates)} local path(s) are used more than once:"
            f" {summarise(duplicates)}"
        )


def check_no_duplicates(targets: Sequence[str]) -> None:
    """Raise ``ValueError`` if two pairs would write the same local path."""
    check = DuplicateCheck(targets)
    check.add(list(targets), 0)
    check.check()


#: A remote folder with at most this many wanted files has each one looked
#: at (``lstat``) instead of being listed: on network storage a listing costs
#: about as many round trips as two ``lstat`` calls, whatever its size.
FEW = 2


@dataclass(slots=True)
class Layout:
    """Where a plan's files are: the remote folders and the local ones.

    Grouped in one pass whatever the order of the files: grouped inputs (the
    usual case) a run of one folder at a time, others path by path, so a
    list that alternates between folders costs the same as a grouped one.
    ``remote`` maps each remote folder to its wanted paths (the plan's own
    strings, one reference each, in input order); ``local_folders`` maps
    each local folder to how many files it receives. Folders appear in the
    order of their first file.
    """

    remote: dict[str, list[str]] = field(default_factory=dict)
    local_folders: dict[str, int] = field(default_factory=dict)

    def add(self, sources: Sequence[str], start: int, targets: Sequence[str]) -> None:
        """Record pairs ``start .. start + len(targets)``; call on consecutive slices.

        ``sources`` are all the plan's remote paths, ``targets`` the new
        pairs' local paths as text.
        """
        group_by_folder(sources, start, start + len(targets), self.remote)
        count_folders(targets, 0, len(targets), self.local_folders)


#: Runs of one folder after which grouping checks how long they are on
#: average, and the average below which it goes on path by path.
_RUNS_BEFORE_SWITCH = 16
_SHORT_RUN = 64


def _short_runs(runs: int, covered: int) -> bool:
    """Whether ``runs`` runs covering ``covered`` paths say "not grouped"."""
    return runs >= _RUNS_BEFORE_SWITCH and covered < runs * _SHORT_RUN


def group_by_folder(
    paths: Sequence[str], start: int, stop: int, groups: dict[str, list[str]]
) -> None:
    """Append each of ``paths[start:stop]`` to its parent folder's list in ``groups``.

    Grouped paths are taken run by run (:func:`parent_runs`, a few C-level
    searches a run); as soon as the runs turn out short (paths that
    alternate between folders, or in random order) the rest of the slice
    goes path by path, so the cost does not depend on the order.
    """
    for runs, (parent, a, b) in enumerate(parent_runs(paths, start, stop), 1):
        group = groups.get(parent)
        if group is None:
            groups[parent] = list(paths[a:b])
        else:
            group.extend(paths[a:b])
        if _short_runs(runs, b - start):
            _group_each(paths, b, stop, groups)
            return


def _group_each(
    paths: Sequence[str], start: int, stop: int, groups: dict[str, list[str]]
) -> None:
    """:func:`group_by_folder` for ungrouped paths: one split each."""
    get = groups.get
    batch = paths[start:stop]
    for parent, path in zip(_parents(batch), batch, strict=True):
        parent = parent or "/"
        group = get(parent)
        if group is None:
            groups[parent] = [path]
        else:
            group.append(path)


def count_folders(
    paths: Sequence[str], start: int, stop: int, counts: dict[str, int]
) -> None:
    """Add how many of ``paths[start:stop]`` each parent folder holds to ``counts``.

    Like :func:`group_by_folder`: run by run while the paths are grouped,
    else one split a path and one C-level count.
    """
    for runs, (parent, a, b) in enumerate(parent_runs(paths, start, stop), 1):
        counts[parent] = counts.get(parent, 0) + b - a
        if _short_runs(runs, b - start):
            for folder, n in Counter(_parents(paths[b:stop])).items():
                folder = folder or "/"
                counts[folder] = counts.get(folder, 0) + n
            return


def _parents(paths: Iterable[str]) -> Iterator[str]:
    """Each path's parent folder ('' for one directly below the root), at C speed."""
    return map(_FIRST, map(str.rpartition, paths, itertools.repeat("/")))


_FIRST = operator.itemgetter(0)


def parent_runs(
    paths: Sequence[str], start: int, stop: int
) -> Iterator[tuple[str, int, int]]:
    """``(parent folder, a, b)`` for runs of ``paths[start:stop]`` sharing a parent.

    Inputs are usually grouped by folder, so each run's end is found by a
    galloping search over a few dozen paths, then the whole run is confirmed
    by a few C-level searches (:func:`_uniform_parent`) instead of splitting
    every path. Ungrouped inputs still come out right, a path at a time.
    Adjacent runs may share a parent.
    """
    a = start
    while a < stop:
        parent = paths[a].rpartition("/")[0]
        prefix = parent + "/"
        good, step = a, 1
        while good + step < stop and _directly_in(paths[good + step], prefix):
            good += step
            step *= 2
        bad = min(stop, good + step)
        while bad - good > 1:
            middle = (good + bad) // 2
            if _directly_in(paths[middle], prefix):
                good = middle
            else:
                bad = middle
        end = good + 1
        if end - a > 2 and _uniform_parent(paths, a, end) is None:
            end = a + 1  # not grouped after all: walk
            while end < stop and _directly_in(paths[end], prefix):
                end += 1
        yield parent or "/", a, end
        a = end


def _directly_in(path: str, prefix: str) -> bool:
    """Whether ``path`` names an entry directly in folder ``prefix`` (ends in /)."""
    return path.startswith(prefix) and path.find("/", len(prefix)) < 0


def _uniform_parent(paths: Sequence[str], start: int, stop: int) -> str | None:
    """The folder holding all of ``paths[start:stop]`` directly, if there is one.

    Answered with a few C-level searches over the NUL-joined slice (plan
    paths never contain NUL) instead of splitting every path.
    """
    parent = paths[start].rpartition("/")[0]
    prefix = parent + "/"
    count = stop - start
    joined = "\x00".join(paths[start:stop])
    if (
        joined.startswith(prefix)
        and joined.count("\x00" + prefix) == count - 1
        and joined.count("/") == count * prefix.count("/")
    ):
        return parent or "/"
    return None
