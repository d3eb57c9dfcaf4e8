"""Datasets, their files and PIDs; lossless conversion from and to SciCat JSON."""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from os import PathLike, fspath
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import msgspec

from ._frozen import FrozenDict, freeze, freeze_entry, thaw, thaw_entry
from ._paths import RemotePath
from ._steps import finish

if TYPE_CHECKING:
    from typing import Unpack

    from ._build import NewDatasetFields

__all__ = ["PID", "Dataset", "File"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _Unset:
    """The type of :data:`_UNSET`: "not given", where ``None`` means something."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()

_Part = TypeVar("_Part", RemotePath, "PID")


def _settle(
    keyword_name: str,
    key: str,
    keyword: str | _Part | _Unset | None,
    fields: Mapping[str, Any],
    parse: Callable[[Any], _Part],
    current: _Part | None,
) -> _Part | None:
    """The value of a part a dataset keeps both as an attribute and as a field.

    ``source_folder``/``sourceFolder`` and ``pid``/``pid`` can be given as a
    keyword or in ``fields``; a user who writes SciCat's field names must get
    the same dataset as one who writes the keyword, so neither may be dropped
    silently. ``keyword`` is :data:`_UNSET` when it was not given; then the
    field decides when it is there (``None`` or ``""`` meaning "none"), else
    ``current`` stays. When both are given they must name the same thing.

    Raises:
        ValueError: the keyword and the field disagree.
        TypeError: the field is neither text nor the part's own type.
    """
    in_fields = key in fields
    from_field: _Part | None = None
    if in_fields:
        raw = fields[key]
        if raw is not None and not isinstance(raw, str | RemotePath | PID):
            raise TypeError(
                f"fields[{key!r}] must be a string or None, got {_kind(raw)}"
            )
        from_field = parse(raw) if raw is not None and raw != "" else None
    if isinstance(keyword, _Unset):
        return from_field if in_fields else current
    chosen = parse(keyword) if keyword is not None else None
    if in_fields and chosen != from_field:
        raise ValueError(
            f"{keyword_name}={keyword!r} and fields[{key!r}]={fields[key]!r}"
            f" disagree; give {keyword_name} or fields[{key!r}], not both"
        )
    return chosen


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class PID:
    """A SciCat persistent identifier: ``prefix/pid`` (the prefix may be absent).

    ``PID("20.500.12269", "abc")``, ``PID(pid="abc")`` and
    ``PID.parse("20.500.12269/abc")`` are all accepted.
    """

    prefix: str | None
    pid: str

    def __init__(self, prefix: str | None = None, pid: str | None = None) -> None:
        if not pid:
            raise ValueError("a PID needs a non-empty 'pid' part")
        object.__setattr__(self, "prefix", prefix or None)
        object.__setattr__(self, "pid", pid)

    @classmethod
    def parse(cls, text: str | PID) -> PID:
        """Split ``"prefix/id"`` at its first slash (no slash: no prefix)."""
        if isinstance(text, PID):
            return text
        if not isinstance(text, str) or not text:
            raise ValueError(f"not a PID: {text!r}")
        prefix, sep, rest = text.partition("/")
        return cls(prefix, rest) if sep and prefix and rest else cls(None, text)

    def __str__(self) -> str:
        return f"{self.prefix}/{self.pid}" if self.prefix else self.pid

    @property
    def without_prefix(self) -> PID:
        """This PID without its prefix (as Scitacean's)."""
        return PID(pid=self.pid)


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


#: What :func:`_lenient_time` gives for a text that is not a time.
_BAD_TIME = datetime.min


def _lenient_time(text: object) -> datetime:
    """``text`` as a time, also as RFC 3339 allows it (a lowercase ``t`` or
    ``z``, which ``fromisoformat`` refuses); :data:`_BAD_TIME` when it is none."""
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(text.upper())
    return _BAD_TIME


def _format_time(value: datetime) -> str:
    """A time as SciCat writes it: UTC with ``Z`` (a naive time stays naive),
    milliseconds, or microseconds when it has them (nothing is cut off)."""
    aware = value.utcoffset() is not None
    if aware:
        value = value.astimezone(UTC)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    text = value.isoformat(timespec=spec)
    return text.removesuffix("+00:00") + "Z" if aware else text


def _same_time(text: object, value: datetime) -> bool:
    """Whether the catalogue's ``text`` names the time ``value``."""
    return _lenient_time(text) == value


@dataclasses.dataclass(frozen=True, slots=True)
class File:
    """One file of a dataset: where it lives remotely and, once downloaded, locally.

    ``remote_path`` is the path **relative to the dataset's source folder**,
    exactly as the catalogue's datablock lists it (``file1.dat``,
    ``sub/song.mp3``), as in Scitacean; :meth:`remote_access_path` gives the
    full remote path. ``checksum`` is the value recorded in the catalogue,
    computed with ``checksum_algorithm``.
    """

    remote_path: RemotePath
    size: int = 0
    creation_time: datetime | None = None
    checksum: str | None = None
    checksum_algorithm: str | None = None
    local_path: Path | None = None
    is_on_remote: bool = True
    #: Catalogue fields alink does not interpret (uid, gid, perm, _id, ...).
    extra: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: _EMPTY, repr=False, compare=False
    )

    @classmethod
    def from_remote(
        cls,
        remote_path: str | RemotePath,
        size: int,
        creation_time: datetime | str | None,
        checksum: str | None = None,
        checksum_algorithm: str | None = None,
        remote_uid: str | None = None,
        remote_gid: str | None = None,
        remote_perm: str | None = None,
        **extra: Any,
    ) -> File:
        """A file that exists on the remote (as listed in the catalogue).

        ``remote_uid``, ``remote_gid`` and ``remote_perm`` are the
        datablock's ``uid``, ``gid`` and ``perm``, as in Scitacean; other
        keyword arguments are further ``dataFileList`` fields, kept in
        :attr:`extra`.

        Raises:
            TypeError: a ``checksum`` without its ``checksum_algorithm`` (as
                in Scitacean: a checksum alone cannot be checked).
            ValueError: a ``size`` that is not a non-negative integer, or an
                empty ``remote_path`` (as reading the catalogue's JSON
                refuses them; other unusable paths are refused when the
                file is downloaded).
        """
        if checksum is not None and checksum_algorithm is None:
            raise TypeError(
                "a checksum needs its checksum_algorithm (e.g. 'md5') to be"
                " checked; pass both or neither"
            )
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"size must be a non-negative integer, got {size!r}")
        if isinstance(remote_path, str) and not remote_path:
            raise ValueError("remote_path must be a non-empty path")
        remote = RemotePath(remote_path)
        owner = {"uid": remote_uid, "gid": remote_gid, "perm": remote_perm}
        extra.update((k, v) for k, v in owner.items() if v is not None)
        return cls(
            remote_path=remote,
            size=size,
            creation_time=_parse_time(creation_time),
            checksum=checksum,
            checksum_algorithm=checksum_algorithm,
            extra=freeze(extra) if extra else _EMPTY,
        )

    @classmethod
    def from_local(
        cls,
        path: str | PathLike[str],
        *,
        remote_path: str | RemotePath | None = None,
    ) -> File:
        """A local file not on the remote; its remote path defaults to its name."""
        local = Path(path)
        return cls(
            remote_path=RemotePath(
                remote_path if remote_path is not None else local.name
            ),
            local_path=local,
            is_on_remote=False,
        )

    @property
    def is_on_local(self) -> bool:
        """Whether the file has a local copy (or link)."""
        return self.local_path is not None

    async def local_is_up_to_date(self) -> bool:
        """Whether the local file exists and has the catalogue's checksum.

        Scitacean's method, awaited: the file is read on a worker thread.
        ``False`` without a local path, a checksum or its algorithm (nothing
        to compare), or when the local file cannot be read.
        """
        if (
            self.local_path is None
            or self.checksum is None
            or self.checksum_algorithm is None
        ):
            return False
        from .filesystem import checksum_of_file

        try:
            found = await checksum_of_file(
                self.local_path, algorithm=self.checksum_algorithm
            )
        except OSError:
            return False
        return found == self.checksum

    @property
    def remote_uid(self) -> str | None:
        """The file's owner on the remote, as the catalogue lists it (``uid``)."""
        return _text_field(self.extra, "uid")

    @property
    def remote_gid(self) -> str | None:
        """The file's group on the remote, as the catalogue lists it (``gid``)."""
        return _text_field(self.extra, "gid")

    @property
    def remote_perm(self) -> str | None:
        """The file's permissions on the remote, as the catalogue lists them
        (``perm``)."""
        return _text_field(self.extra, "perm")

    def remote_access_path(self, source_folder: str | RemotePath) -> RemotePath | None:
        """The full remote path: ``source_folder / remote_path``.

        ``None`` for a file that is not on the remote (yet), as in Scitacean.
        An absolute ``remote_path`` is returned as it is.
        """
        if not self.is_on_remote:
            return None
        return RemotePath(source_folder) / self.remote_path

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # The read-only ``extra`` mapping cannot be pickled as it is.
        return (
            _rebuild_file,
            (
                self.remote_path,
                self.size,
                self.creation_time,
                self.checksum,
                self.checksum_algorithm,
                self.local_path,
                self.is_on_remote,
                dict(self.extra),
            ),
        )

    def downloaded(self, *, local_path: str | PathLike[str]) -> File:
        """A copy of this file that knows its local path."""
        return dataclasses.replace(self, local_path=Path(fspath(local_path)))

    def uploaded(self, *, remote_path: str | RemotePath | None = None) -> File:
        """A copy of this file marked as present on the remote.

        ``remote_path`` (relative to the source folder) replaces the file's
        own when given.
        """
        return dataclasses.replace(
            self,
            remote_path=RemotePath(remote_path) if remote_path else self.remote_path,
            is_on_remote=True,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _BlockInfo:
    """An orig datablock's own fields (without its file list) and its file count."""

    fields: Mapping[str, Any]
    count: int


#: Fields SciCat writes itself when it creates or changes a dataset: a copy
#: to upload as a new one goes without them (see :meth:`Dataset.as_new`).
_LIFECYCLE_FIELDS = (
    "_id",
    "createdAt",
    "createdBy",
    "updatedAt",
    "updatedBy",
    "datasetlifecycle",
    "history",
    "version",
    "__v",
)

#: Dataset's own attributes (set while one is made).
_DATASET_SLOTS = frozenset(
    ("_blocks", "_fields", "_files", "_listed", "_pid", "_source_folder")
)

#: What :meth:`Dataset.derive` carries over by default (as Scitacean's).
_DERIVE_KEEPS = (
    "contact_email",
    "orcid_of_owner",
    "owner",
    "owner_email",
    "principal_investigators",
    "techniques",
)


class Dataset:
    """A SciCat dataset: its catalogue fields and its files.

    Every field the server sent is kept in :attr:`fields` (unknown ones too), so
    :meth:`to_scicat` gives back what :meth:`from_scicat` read. Datasets are
    immutable: methods that change something return a new dataset.
    """

    __slots__ = tuple(sorted(_DATASET_SLOTS))

    def __init__(
        self,
        *,
        type: str,
        source_folder: str | RemotePath | None = None,
        pid: str | PID | None = None,
        files: Iterable[File] = (),
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """A dataset from its parts.

        ``fields`` are catalogue fields under SciCat's names. Its
        ``sourceFolder`` and ``pid`` count as the ``source_folder`` and
        ``pid`` keywords (``None`` there means none), so either spelling
        gives the same dataset; ``None`` for a keyword means "not given".

        Raises:
            ValueError: a keyword and its field are both given and disagree
                (or a ``pid`` is not a PID).
            TypeError: ``fields["sourceFolder"]`` or ``fields["pid"]`` is
                neither a string nor ``None``.
        """
        given = fields or {}
        # Frozen copies: the caller's values may change later, and a value
        # changed in place would change every dataset that shares it.
        all_fields = {
            key: freeze(value)
            for key, value in given.items()
            if key != "origdatablocks"  # files come as ``files``, not fields
        }
        all_fields["type"] = type
        self._source_folder = _settle(
            "source_folder",
            "sourceFolder",
            _UNSET if source_folder is None else source_folder,
            given,
            RemotePath,
            None,
        )
        if self._source_folder is not None:
            all_fields["sourceFolder"] = self._source_folder.posix
        else:
            all_fields.pop("sourceFolder", None)
        self._pid = _settle(
            "pid", "pid", _UNSET if pid is None else pid, given, PID.parse, None
        )
        if self._pid is not None:
            all_fields["pid"] = str(self._pid)
        else:
            all_fields.pop("pid", None)
        self._fields: Mapping[str, Any] = MappingProxyType(all_fields)
        self._files: tuple[File, ...] = tuple(files)
        self._blocks: tuple[_BlockInfo, ...] = ()
        self._listed = True

    @classmethod
    def new(
        cls,
        *,
        type: str,
        source_folder: str | RemotePath | None = None,
        pid: str | PID | None = None,
        fields: Mapping[str, Any] | None = None,
        **keywords: Unpack[NewDatasetFields],
    ) -> Dataset:
        """A new dataset to upload, with Scitacean's keyword names.

        The counterpart of Scitacean's ``Dataset(type="raw", name=...,
        owner=..., ...)``: the keywords (``name``, ``owner``, ``owner_group``,
        ``contact_email``, ``principal_investigators``, ``creation_location``,
        ``meta`` for the scientific metadata, ``input_datasets`` and
        ``used_software`` of derived datasets, ...; the how-to "Ingestion
        service" lists them) become SciCat's fields (``datasetName``,
        ``ownerGroup``, ...). ``creation_time`` defaults to now. ``fields``
        adds SciCat-named fields as they are; its ``sourceFolder`` and
        ``pid`` count as the ``source_folder`` and ``pid`` keywords (as in
        the constructor: giving both with different values is a
        ``ValueError``). A new dataset usually has no ``pid``: SciCat
        assigns one when it is uploaded.

        SciCat requires ``type``, ``source_folder`` (the transfer may choose
        it), ``name``, ``owner_group``, ``contact_email`` and a creation time;
        ``Client.upload_new_dataset_now`` checks that before anything is sent.
        """
        from ._build import scicat_fields

        made = scicat_fields(keywords)
        return cls(
            type=type,
            source_folder=source_folder,
            pid=pid,
            fields={**made, **(fields or {})},
        )

    def add_local_files(
        self,
        *paths: str | PathLike[str],
        base_path: str | PathLike[str] | None = None,
        remote_paths: Iterable[str | RemotePath] | None = None,
    ) -> Dataset:
        """A new dataset with local files to upload appended (no disk access).

        Scitacean's ``dataset.add_local_files(...)``, immutable: by default a
        file goes flat into the source folder under its own name; with
        ``base_path`` it keeps its place below that folder; ``remote_paths``
        (relative to the source folder) name each file explicitly. Sizes and
        checksums are read when the dataset is uploaded; use
        :meth:`with_local_files` to read them now.

        Raises:
            ValueError: a file outside ``base_path``, an unsafe or duplicate
                remote path.
        """
        from ._build import local_files

        pairs = local_files(
            paths,
            base_path=base_path,
            remote_paths=None if remote_paths is None else list(remote_paths),
        )
        if self._files:
            taken = {f.remote_path.resolve().posix for f in self._files}
            clash = [r.posix for _, r in pairs if r.resolve().posix in taken]
            if clash:
                raise ValueError(f"the dataset already has files at {clash[:5]!r}")
        return self._evolve(
            self._files
            + tuple(_new_local_file(remote, local) for local, remote in pairs)
        )

    async def with_local_files(
        self,
        *paths: str | PathLike[str],
        base_path: str | PathLike[str] | None = None,
        remote_paths: Iterable[str | RemotePath] | None = None,
        checksum_algorithm: str | None = "blake2b",
    ) -> Dataset:
        """:meth:`add_local_files`, with each file's size, time and checksum read.

        The files are read on worker threads, several at once, each as a
        stream (memory stays bounded); ``checksum_algorithm`` is Scitacean's
        default, ``None`` reads sizes and times only. The creation time is
        the file's modification time.

        Raises:
            ValueError: as :meth:`add_local_files`, or a path that is not a
                regular file.
            FileNotFoundError: files that do not exist (all are named).
        """
        from ._describe import describe_files

        add = functools.partial(
            self.add_local_files, *paths, base_path=base_path, remote_paths=remote_paths
        )
        # ~3 µs a file: 100k files on a worker thread, not on the event loop.
        added = add() if len(paths) <= 2048 else await _to_thread(add)
        new = added._files[len(self._files) :]
        described = await describe_files(new, checksum_algorithm=checksum_algorithm)
        return self._evolve(self._files + tuple(described))

    @property
    def type(self) -> str:
        """``"raw"`` or ``"derived"``."""
        return str(self._fields["type"])

    @property
    def pid(self) -> PID | None:
        """The dataset's persistent identifier, if it has one."""
        return self._pid

    @property
    def source_folder(self) -> RemotePath | None:
        """The remote folder that holds the dataset's files."""
        return self._source_folder

    @property
    def files(self) -> tuple[File, ...]:
        """The dataset's files in catalogue order."""
        return self._files

    @property
    def fields(self) -> Mapping[str, Any]:
        """Every catalogue field as SciCat names it (read-only)."""
        return self._fields

    @property
    def name(self) -> str | None:
        """The ``datasetName`` field."""
        value = self._fields.get("datasetName")
        return value if isinstance(value, str) else None

    @property
    def owner(self) -> str | None:
        """The ``owner`` field."""
        value = self._fields.get("owner")
        return value if isinstance(value, str) else None

    @property
    def files_listed(self) -> bool:
        """Whether :attr:`files` is the dataset's file list.

        ``False`` for a dataset read without its orig datablocks (as
        ``Client.query_datasets(files=False)`` returns them): its files are
        not known here, :attr:`files` is empty and :attr:`size` and
        :attr:`number_of_files` are the catalogue's figures.
        """
        return self._listed

    @property
    def size(self) -> int:
        """Total size in bytes of the dataset's files (see :attr:`files_listed`)."""
        if not self._listed and not self._files:
            return _count_field(self._fields, "size")
        return sum(f.size for f in self._files)

    @property
    def number_of_files(self) -> int:
        """How many files the dataset lists (see :attr:`files_listed`)."""
        if not self._listed and not self._files:
            return _count_field(self._fields, "numberOfFiles")
        return len(self._files)

    def _evolve(self, files: tuple[File, ...]) -> Dataset:
        new = object.__new__(Dataset)
        new._fields = self._fields
        new._source_folder = self._source_folder
        new._pid = self._pid
        new._files = files
        new._blocks = self._blocks
        new._listed = self._listed
        return new

    def replace(
        self,
        *,
        type: str | None = None,
        source_folder: str | RemotePath | _Unset | None = _UNSET,
        pid: str | PID | _Unset | None = _UNSET,
        files: Iterable[File] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Dataset:
        """A new dataset with some parts changed; ``self`` is unchanged.

        The immutable counterpart of Scitacean's attribute assignments
        (``ds.source_folder = ...``) and ``add_files``: ``fields`` are SciCat
        fields merged into the existing ones (a value of ``None`` removes a
        field); ``files`` replaces the whole file list. ``sourceFolder`` and
        ``pid`` in ``fields`` act as the ``source_folder`` and ``pid``
        keywords would (``None`` removes them), so moving a dataset under
        SciCat's name moves it. Also available as
        ``copy.replace(dataset, ...)`` on Python 3.13+.

        Raises:
            ValueError: a keyword and its field are both given and disagree
                (``source_folder`` and ``fields["sourceFolder"]``, ``pid``
                and ``fields["pid"]``).
            TypeError: ``fields["sourceFolder"]`` or ``fields["pid"]`` is
                neither a string nor ``None``.
        """
        changes = fields or {}
        folder = _settle(
            "source_folder",
            "sourceFolder",
            source_folder,
            changes,
            RemotePath,
            self._source_folder,
        )
        new_pid = _settle("pid", "pid", pid, changes, PID.parse, self._pid)
        merged = dict(self._fields)
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        # The settled values, in place (the fields keep their order); the
        # constructor then finds keyword and field agreeing.
        for key, part in (("sourceFolder", folder), ("pid", new_pid)):
            if part is None:
                merged.pop(key, None)
            else:
                merged[key] = str(part)
        new = Dataset(
            type=type if type is not None else str(merged.get("type", self.type)),
            source_folder=folder,
            pid=new_pid,
            files=self._files if files is None else files,
            fields=merged,
        )
        if files is None:
            new._blocks = self._blocks
            new._listed = self._listed
        return new

    __replace__ = replace

    def add_files(self, *files: File) -> Dataset:
        """A new dataset with ``files`` appended (Scitacean's ``add_files``,
        which changes the dataset in place).

        As in Scitacean, files added together go into one datablock and so
        share its checksum algorithm: a file without one takes that of the
        others (or, when none of them has one, that of the dataset's last
        file, whose datablock it joins).

        Raises:
            TypeError: an argument is not a :class:`File`.
            ValueError: two files would have the same remote path (among the
                new ones or with the dataset's), or the new files use
                different checksum algorithms (add them in separate calls).
        """
        for file in files:
            if not isinstance(file, File):
                raise TypeError(f"expected File objects, got {_kind(file)}")
        _check_new_paths(self._files, files)
        algorithms = {f.checksum_algorithm for f in files} - {None}
        if len(algorithms) > 1:
            raise ValueError(
                "cannot add files with different checksum algorithms"
                f" ({', '.join(sorted(map(str, algorithms)))}) at once: they would"
                " share one datablock; add each group with its own add_files call"
            )
        common = (
            algorithms.pop()
            if algorithms
            else (self._files[-1].checksum_algorithm if self._files else None)
        )
        if common is not None:
            files = tuple(
                f
                if f.checksum_algorithm is not None
                else dataclasses.replace(f, checksum_algorithm=common)
                for f in files
            )
        return self._evolve(self._files + files)

    def replace_files(self, *files: File) -> Dataset:
        """A new dataset where files with the same remote path are replaced.

        Files whose remote path is not in the dataset yet are appended. A
        replacement takes the old file's place, in its datablock: without a
        checksum algorithm it takes the old file's.

        Raises:
            TypeError: an argument is not a :class:`File`.
            ValueError: a replacement for a file of a datablock read from
                SciCat uses another checksum algorithm than that block.
        """
        for file in files:
            if not isinstance(file, File):
                raise TypeError(f"expected File objects, got {_kind(file)}")
        by_path = {f.remote_path: f for f in files}
        in_blocks = sum(b.count for b in self._blocks)
        replaced: list[File] = []
        for at, old in enumerate(self._files):
            new = by_path.pop(old.remote_path, None)
            if new is None:
                replaced.append(old)
                continue
            if at < in_blocks and new.checksum_algorithm != old.checksum_algorithm:
                # It takes the old one's place in a datablock read from
                # SciCat, whose one chkAlg would relabel its checksum.
                if new.checksum_algorithm is not None:
                    raise ValueError(
                        f"cannot replace {old.remote_path.posix!r} (checksum"
                        f" algorithm {old.checksum_algorithm!r}, as its datablock)"
                        " with a file checksummed with"
                        f" {new.checksum_algorithm!r}: remove it with"
                        " replace(files=...) and add the new file with add_files"
                    )
                new = dataclasses.replace(
                    new, checksum_algorithm=old.checksum_algorithm
                )
            replaced.append(new)
        return self._evolve(tuple(replaced) + tuple(by_path.values()))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _DATASET_SLOTS:
            object.__setattr__(self, name, value)
            return
        from ._build import FIELD_NAMES

        field = FIELD_NAMES.get(name, "datasetName" if name == "name" else None)
        if name in ("source_folder", "pid", "type", "files"):
            change = f"dataset.replace({name}=...)"
        elif field is not None:
            change = f"dataset.replace(fields={{{field!r}: ...}})"
        else:
            change = "dataset.replace(...)"
        raise AttributeError(
            f"alink datasets are immutable: {name!r} cannot be set; make a"
            f" changed one with dataset = {change}",
            name=name,
            obj=self,
        )

    def __getattr__(self, name: str) -> Any:
        # Only for names the class does not have: a hint for Scitacean's
        # attribute names (``ds.owner_group``), which alink keeps as fields.
        from ._build import FIELD_NAMES

        field = FIELD_NAMES.get(name)
        if field is None:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}",
                name=name,
                obj=self,
            )
        raise AttributeError(
            f"alink's Dataset has no attribute {name!r}: its SciCat field is"
            f" dataset.fields[{field!r}] (alink keeps every field under SciCat's"
            f" name; change it with dataset.replace(fields={{{field!r}: ...}}))",
            name=name,
            obj=self,
        )

    def as_new(self) -> Dataset:
        """A copy to upload as a new dataset (Scitacean's ``as_new``).

        It has no ``pid`` and none of the fields SciCat writes when it
        creates or changes a dataset (:data:`_LIFECYCLE_FIELDS`: ``createdAt``,
        ``updatedBy``, ``datasetlifecycle``, ...); everything else, files
        included, is kept. Uploading a changed copy of a downloaded dataset
        without this would be refused by SciCat (the pid exists already).
        """
        gone = {key: None for key in _LIFECYCLE_FIELDS if key in self._fields}
        new = self.replace(pid=None, fields=gone, files=self._files)
        new._listed = self._listed  # the datablocks (SciCat's) are not kept
        return new

    def derive(self, *, keep: Iterable[str] = _DERIVE_KEEPS) -> Dataset:
        """A new derived dataset whose input is this one (Scitacean's ``derive``).

        Its ``inputDatasets`` is this dataset's pid and its creation time
        now; of this dataset's fields, only those named in ``keep`` (by
        default: the owner and contacts, the principal investigators and
        the techniques) are carried over, by Scitacean's keyword
        (``"owner_group"``) or SciCat's field name (``"ownerGroup"``). It has
        no files and no source folder yet.

        Raises:
            ValueError: this dataset has no pid (the derived one names it),
                or ``keep`` names something that is no dataset field.
        """
        from ._build import FIELD_NAMES

        if self._pid is None:
            raise ValueError(
                "cannot derive from a dataset without a pid: the derived dataset"
                " names its input by pid"
            )
        if isinstance(keep, str):
            raise TypeError("keep must be a collection of field names, not one name")
        known = {**FIELD_NAMES, "source_folder": "sourceFolder"}
        fields: dict[str, Any] = {}
        for name in keep:
            field = known.get(name, name)
            if field not in known.values() and field not in self._fields:
                raise ValueError(f"keep names no dataset field: {name!r}")
            if field in ("type", "pid", "inputDatasets", "creationTime"):
                continue  # the derived dataset's own
            value = self._fields.get(field)
            if value is not None:
                fields[field] = value
        return Dataset.new(type="derived", input_datasets=[self._pid], fields=fields)

    def __repr__(self) -> str:
        return (
            f"Dataset(type={self.type!r}, pid={self._pid and str(self._pid)!r},"
            f" source_folder={self._source_folder!r}, files={len(self._files)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return self._fields == other._fields and self._files == other._files

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Read-only mappings cannot be pickled as they are; plain dicts can.
        return (
            _rebuild_dataset,
            (
                dict(self._fields),
                self._files,
                self._source_folder,
                self._pid,
                tuple((dict(b.fields), b.count) for b in self._blocks),
                self._listed,
            ),
        )

    # --- SciCat JSON ------------------------------------------------------

    @classmethod
    def from_scicat(cls, data: Mapping[str, Any]) -> Dataset:
        """Build a dataset from SciCat JSON (a v4 dataset with ``origdatablocks``).

        Raises ``ValueError`` (or ``TypeError``) naming the field when the JSON
        does not have the shape of a SciCat dataset.
        """
        from ._gcpause import collector_paused

        # Many files: no collection walks the JSON and the new files meanwhile.
        with collector_paused():
            return finish(cls._from_scicat_steps(data))

    @classmethod
    def _from_scicat_steps(
        cls,
        data: Mapping[str, Any],
        runs: Mapping[int, Sequence[_Run]] | None = None,
        *,
        owned: bool = False,
    ) -> Generator[None, None, Dataset]:
        """:meth:`from_scicat`, pausing every few thousand files.

        A caller that runs the steps on a worker thread can hand the GIL back
        to the event loop's thread between them: building 100k files is
        some 200 ms of Python.

        ``runs`` maps the index of a block to its files already decoded into
        typed entries (see :mod:`alink.client._parse`); such a block's own
        ``dataFileList`` is ignored. If a run holds an entry that only the
        general path handles exactly (a time ``fromisoformat`` refuses, a NUL
        in a path), :class:`_NotFast` is raised and the caller starts over
        without runs.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a dataset must be a JSON object, got {_kind(data)}")
        dtype = data.get("type")
        if not isinstance(dtype, str):
            raise ValueError(
                f"dataset field 'type' must be a string, got {_kind(dtype)}"
            )
        source = data.get("sourceFolder")
        if source is not None and not isinstance(source, str):
            raise ValueError(
                f"dataset field 'sourceFolder' must be a string, got {_kind(source)}"
            )
        pid = data.get("pid")
        if pid is not None and not isinstance(pid, str):
            raise ValueError(f"dataset field 'pid' must be a string, got {_kind(pid)}")
        blocks_json = data.get("origdatablocks")
        if blocks_json is None:
            blocks_json = []
        if not isinstance(blocks_json, list):
            raise ValueError(
                "dataset field 'origdatablocks' must be a list,"
                f" got {_kind(blocks_json)}"
            )
        dataset = cls(
            type=dtype,
            source_folder=source or None,
            pid=pid or None,
            fields=data,
        )
        # Keep the server's exact spelling of every field for the round trip.
        dataset._fields = MappingProxyType(
            {k: freeze(v) for k, v in data.items() if k != "origdatablocks"}
        )
        files: list[File] = []
        blocks: list[_BlockInfo] = []
        paused_at = 0
        for index, block in enumerate(blocks_json):
            if len(files) - paused_at >= _FILES_PER_STEP:  # many small blocks
                paused_at = len(files)
                yield
            before = len(files)
            prepared = runs.get(index) if runs else None
            if prepared is None:
                yield from _files_of_block(block, index, files, owned)
            else:
                yield from _files_of_runs(block, index, prepared, files)
            blocks.append(
                _BlockInfo(
                    MappingProxyType(
                        {k: freeze(v) for k, v in block.items() if k != "dataFileList"}
                    ),
                    len(files) - before,
                )
            )
        dataset._files = tuple(files)
        dataset._blocks = tuple(blocks)
        dataset._listed = data.get("origdatablocks") is not None
        return dataset

    def to_scicat(self) -> dict[str, Any]:
        """The dataset as SciCat JSON, with its files in ``origdatablocks``."""
        out: dict[str, Any] = thaw(self._fields)
        blocks: list[dict[str, Any]] = []
        remaining = list(self._files)
        for info in self._blocks:
            chunk, remaining = remaining[: info.count], remaining[info.count :]
            block = thaw(info.fields)
            block["dataFileList"] = [self._file_json(f) for f in chunk]
            blocks.append(block)
        # Files beyond the blocks read from SciCat: one new block per run of
        # files with the same checksum algorithm (a block has one ``chkAlg``;
        # a file without an algorithm joins the run it is in).
        for run, algorithm in _runs_by_algorithm(remaining):
            block = {"size": sum(f.size for f in run)}
            if self._pid is not None:
                block["datasetId"] = str(self._pid)
            if algorithm:
                block["chkAlg"] = algorithm
            block["dataFileList"] = [self._file_json(f) for f in run]
            blocks.append(block)
        if blocks or self._listed:
            out["origdatablocks"] = blocks  # (else: read without, given back so)
        return out

    def _file_json(self, file: File) -> dict[str, Any]:
        out = thaw_entry(file.extra)
        path = file.remote_path.posix
        # Keep the server's spelling when it names the same file.
        original = out.get("path")
        if not (
            isinstance(original, str)
            and (original == path or RemotePath(original) == path)
        ):
            out["path"] = path
        out["size"] = file.size
        # Likewise the server's own text of an unchanged time.
        if file.creation_time is not None and not _same_time(
            out.get("time"), file.creation_time
        ):
            out["time"] = _format_time(file.creation_time)
        if file.checksum is not None:
            out["chk"] = file.checksum
        return out


async def _to_thread(func: Callable[[], Dataset]) -> Dataset:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(func)


def _check_new_paths(existing: Iterable[File], new: Iterable[File]) -> None:
    """Refuse new files whose remote path repeats (Scitacean's rule)."""
    seen: set[str] = set()
    repeated: list[str] = []
    for file in new:
        key = file.remote_path.posix
        if key in seen:
            repeated.append(key)
        seen.add(key)
    if repeated:
        raise ValueError(f"duplicate remote paths among the files: {repeated[:5]!r}")
    taken = sorted(seen.intersection(f.remote_path.posix for f in existing))
    if taken:
        raise ValueError(
            f"cannot add files with remote paths {taken[:5]!r}: the dataset already"
            " has files there"
        )


def _runs_by_algorithm(
    files: Sequence[File],
) -> Iterator[tuple[Sequence[File], str | None]]:
    """Consecutive runs of ``files`` that can share one datablock's ``chkAlg``."""
    start, algorithm = 0, None
    for i, file in enumerate(files):
        name = file.checksum_algorithm
        if name is not None and algorithm is not None and name != algorithm:
            yield files[start:i], algorithm
            start, algorithm = i, name
        elif name is not None:
            algorithm = name
    if start < len(files):
        yield files[start:], algorithm


def _count_field(fields: Mapping[str, Any], name: str) -> int:
    """A non-negative integer field of the catalogue's (``0`` if it is not one)."""
    value = fields.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0


def _text_field(fields: Mapping[str, Any], name: str) -> str | None:
    """A catalogue field as text (SciCat stores uid/gid as strings; some
    servers send numbers), ``None`` when absent."""
    value = fields.get(name)
    return None if value is None else str(value)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


#: One slot setter per File field, in field order (see :func:`_new_file`).
#: Unpacking fails at import if File gains or loses a field.
(
    _set_remote_path,
    _set_size,
    _set_creation_time,
    _set_checksum,
    _set_checksum_algorithm,
    _set_local_path,
    _set_is_on_remote,
    _set_extra,
) = (getattr(File, field.name).__set__ for field in dataclasses.fields(File))


class _LazyRemotePath:
    """``File.remote_path``: the slot may hold a clean path's text until read.

    Reading a dataset makes 100k files at once; a ``RemotePath`` object per
    file, made up front, costs about a quarter of that time (allocating and
    the garbage collector walking them). :func:`_files_of_block` stores the
    text of a path that needs no normalising instead, and the first read
    makes the ``RemotePath`` and keeps it. Everything that reads the field
    (equality, hashing, ``repr``, ``dataclasses.replace``, pickling) sees a
    ``RemotePath``.
    """

    __slots__ = ("_get", "_set", "_slot")

    def __init__(self, slot: Any) -> None:
        self._slot = slot
        self._get, self._set = slot.__get__, slot.__set__

    def __get__(self, file: File | None, owner: type | None = None) -> Any:
        if file is None:
            return self
        value = self._get(file)
        if type(value) is str:
            path = _new_object(RemotePath)  # RemotePath._from_clean, inlined
            path._path = value
            self._set(file, path)
            return path
        return value

    def __set__(self, file: File, value: RemotePath) -> None:
        self._set(file, value)

    def __delete__(self, file: File) -> None:
        self._slot.__delete__(file)


_new_object = object.__new__
File.remote_path = _LazyRemotePath(File.__dict__["remote_path"])  # type: ignore[assignment,misc]


#: Numbers the catalogue entries as the fast path decodes them (see
#: :class:`_CatalogueEntry`); a C-level counter, called by the decoder.
_entry_numbers = itertools.count()


class _CatalogueEntry(
    msgspec.Struct,
    gc=False,
    rename={"table": "alink's table", "at": "alink's place"},
):
    """A catalogue entry decoded typed, with only the fields that make a
    :class:`File`, typed as :func:`_files_of_block` accepts them (an entry
    of another shape makes the decoder fail, and the general path is used).

    Not tracked by the garbage collector (``gc=False``: it holds strings,
    numbers and its table, never a cycle). A file built from it keeps it in
    its ``extra`` slot until that is read (see :class:`_LazyExtra`): ``table``
    holds the JSON of its dataset's entries (set after decoding, whatever the
    JSON held under that name), and ``at`` is its number there, filled by
    the decoder calling :data:`_entry_numbers` (which shows that no entry
    brought its own ``at``: see :mod:`alink.client._runs`).
    """

    path: Annotated[str, msgspec.Meta(min_length=1)]
    size: Annotated[int, msgspec.Meta(ge=0)] = 0
    chk: str | None = None
    time: str | None = None
    table: Any = None
    at: int = msgspec.field(default_factory=_entry_numbers.__next__)


#: Set ``table`` of many entries at C speed (see alink.client._runs).
_set_entry_table = _CatalogueEntry.__dict__["table"].__set__

#: Decodes the JSON of a run of entries (see :class:`_EntryTable`).
_decode_json = msgspec.json.Decoder().decode


class _EntryTable:
    """The JSON of a dataset's runs of catalogue entries, decoded a run at a
    time when the ``extra`` of one of its files is first read.

    Its entries reference it, so it lives as long as the last of them (and
    is freed with it, by reference counting).

    It holds each run's text (a view into the response body) and the number
    of its first entry; the first read of a run decodes it, with the decoder
    that would have decoded the body up front, into the same dicts (same
    keys, order and values).
    """

    __slots__ = ("__weakref__", "_decoded", "_firsts", "_last", "_texts")

    def __init__(self) -> None:
        self._firsts: list[int] = []
        self._texts: list[memoryview | None] = []
        self._decoded: list[list[Any] | None] = []
        #: The run read last, ``(first, entries)``: files are mostly read in
        #: order.
        self._last: tuple[int, list[Any]] = (0, [])

    def add(self, first: int, text: memoryview) -> None:
        """Entries ``first, first + 1, ...`` are the JSON array items ``text``."""
        self._firsts.append(first)
        self._texts.append(text)
        self._decoded.append(None)

    def entry(self, at: int) -> Any:
        """Entry number ``at``, decoded."""
        first, decoded = self._last
        if not 0 <= at - first < len(decoded):
            run = bisect.bisect_right(self._firsts, at) - 1
            first, known = self._firsts[run], self._decoded[run]
            if known is None:
                text = self._texts[run]
                assert text is not None
                known = _decode_json(b"".join((b"[", text, b"]")))
                self._decoded[run], self._texts[run] = known, None
            decoded = known
            self._last = (first, decoded)
        return decoded[at - first]


class _LazyExtra:
    """``File.extra``: for a file read from SciCat, its entry's fields are
    decoded when first read.

    Such a file keeps every field of its catalogue entry in ``extra`` (uid,
    gid, perm, ``_id`` and anything unknown). Decoding them for 100k files
    up front, into 100k dicts, was a third of reading the dataset, and most
    programs never look at them: the fast path of :mod:`alink.client._parse`
    stores the file's typed :class:`_CatalogueEntry` instead, and the first
    read gives the same dict the general path would have made (see
    :class:`_EntryTable`), and keeps it. Everything that
    reads the field (``dataclasses.replace``, pickling, copying,
    :meth:`Dataset.to_scicat`) sees that dict.
    """

    __slots__ = ("_get", "_set", "_slot")

    def __init__(self, slot: Any) -> None:
        self._slot = slot
        self._get, self._set = slot.__get__, slot.__set__

    def __get__(self, file: File | None, owner: type | None = None) -> Any:
        if file is None:
            return self
        value = self._get(file)
        kind = type(value)
        if kind is _CatalogueEntry:
            value = FrozenDict(value.table.entry(value.at))
            self._set(file, value)
        elif kind is dict:  # an entry of JSON the client decoded
            value = FrozenDict(value)
            self._set(file, value)
        return value

    def __set__(self, file: File, value: Mapping[str, Any]) -> None:
        self._set(file, value)

    def __delete__(self, file: File) -> None:
        self._slot.__delete__(file)


File.extra = _LazyExtra(File.__dict__["extra"])  # type: ignore[assignment,misc]

#: The slots themselves, read without making anything (see _with_local_path).
_slot_remote_path = File.__dict__["remote_path"]._slot.__get__
_slot_extra = File.__dict__["extra"]._slot.__get__


def _with_local_path(file: File, local_path: Path) -> File:
    """``file.downloaded(local_path=local_path)`` for a ``Path``, without
    ``dataclasses.replace`` and without making the lazy fields (a download of
    100k files must not decode 100k ``extra`` mappings nobody asked for)."""
    new = object.__new__(File)
    _set_remote_path(new, _slot_remote_path(file))
    _set_size(new, file.size)
    _set_creation_time(new, file.creation_time)
    _set_checksum(new, file.checksum)
    _set_checksum_algorithm(new, file.checksum_algorithm)
    _set_local_path(new, local_path)
    _set_is_on_remote(new, file.is_on_remote)
    _set_extra(new, _slot_extra(file))
    return new


def _new_file(
    remote_path: RemotePath | str,
    size: int,
    creation_time: datetime | None,
    checksum: str | None,
    checksum_algorithm: str | None,
    extra: Mapping[str, Any],
) -> File:
    """A remote :class:`File`, as ``File(...)`` makes it, without the frozen
    dataclass ``__init__``'s ``object.__setattr__`` per field.

    Only for the hot loop of :func:`_files_of_block`: reading a 100k-file
    dataset gets some 20 % faster. (File has no ``__post_init__``.)
    """
    file = object.__new__(File)
    _set_remote_path(file, remote_path)
    _set_size(file, size)
    _set_creation_time(file, creation_time)
    _set_checksum(file, checksum)
    _set_checksum_algorithm(file, checksum_algorithm)
    _set_local_path(file, None)
    _set_is_on_remote(file, True)
    _set_extra(file, extra)
    return file


def _new_local_file(remote_path: RemotePath, local_path: Path) -> File:
    """``File(remote_path=..., local_path=..., is_on_remote=False)``, as
    :func:`_new_file` makes it (for :meth:`Dataset.add_local_files`)."""
    file = object.__new__(File)
    _set_remote_path(file, remote_path)
    _set_size(file, 0)
    _set_creation_time(file, None)
    _set_checksum(file, None)
    _set_checksum_algorithm(file, None)
    _set_local_path(file, local_path)
    _set_is_on_remote(file, False)
    _set_extra(file, _EMPTY)
    return file


#: Files built between two pauses of :meth:`Dataset._from_scicat_steps`.
_FILES_PER_STEP = 2048


def _as_is(entry: dict[str, Any]) -> dict[str, Any]:
    return entry


def _files_of_block(
    block: object, index: int, files: list[File], owned: bool = False
) -> Iterator[None]:
    """Append the files of ``origdatablocks[index]`` to ``files``, pausing
    every :data:`_FILES_PER_STEP` files.

    Each file keeps its entry as ``extra``: a read-only copy, or, when the
    JSON is ``owned`` (decoded by the client, nobody else holds it), the
    entry itself, made read-only when first read (see :class:`_LazyExtra`).
    """
    keep = _as_is if owned else FrozenDict
    where = f"origdatablocks[{index}]"
    block_fields = _checked_block(block, where)
    entries = block_fields.get("dataFileList")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ValueError(f"{where}.dataFileList must be a list, got {_kind(entries)}")
    algorithm = _algorithm_of(block_fields, where)
    # The hot loop of reading a dataset (100k files and more): files made by
    # _new_file, and clean paths kept as text without re-normalising.
    # Anything unusual (``.``, ``//``, a trailing slash, a NUL) is normalised
    # by RemotePath right away.
    new_file = _new_file
    append = files.append
    fromisoformat = datetime.fromisoformat
    for start in range(0, len(entries), _FILES_PER_STEP):
        if start:
            yield
        for n, entry in enumerate(entries[start : start + _FILES_PER_STEP], start):
            if not isinstance(entry, dict):
                raise TypeError(
                    f"{where}.dataFileList[{n}] must be a JSON object,"
                    f" got {_kind(entry)}"
                )
            path = entry.get("path")
            size = entry.get("size", 0)
            if not isinstance(path, str) or not path:
                raise ValueError(
                    f"{where}.dataFileList[{n}].path must be a non-empty string,"
                    f" got {path!r}"
                )
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(
                    f"{where}.dataFileList[{n}].size must be a non-negative integer,"
                    f" got {size!r}"
                )
            checksum = entry.get("chk") or None
            if checksum is not None and not isinstance(checksum, str):
                raise ValueError(f"{where}.dataFileList[{n}].chk must be a string")
            time_text = entry.get("time")
            try:
                created = (
                    fromisoformat(time_text)
                    if type(time_text) is str and time_text
                    else _parse_time(time_text)
                )
            except ValueError:
                created = _lenient_time(time_text)
            if created is _BAD_TIME:
                raise ValueError(
                    f"{where}.dataFileList[{n}].time is not an ISO 8601 time:"
                    f" {entry.get('time')!r}"
                )
            if (
                path[0] != "."
                and path[-1] != "/"
                and "//" not in path
                and "/." not in path
                and "\x00" not in path
            ):
                # Clean: the text is what RemotePath would hold (see
                # _LazyRemotePath); the object is made when first read.
                remote: RemotePath | str = path
            else:
                remote = RemotePath(path)
            append(new_file(remote, size, created, checksum, algorithm, keep(entry)))


class _Run(Protocol):
    """Consecutive entries of one block's file list, decoded in one call."""

    @property
    def entries(self) -> Sequence[_CatalogueEntry]: ...


class _NotFast(Exception):
    """A run holds an entry only the general path handles exactly."""


class _FileBuilder:
    """A :class:`File` under construction: the same slots, but no frozen
    ``__setattr__``, so the hot loop can fill them with plain attribute
    stores (~3x faster than a slot setter call each) before turning it into
    a ``File`` by assigning ``__class__`` (allowed between classes of the
    same layout; checked below, at import)."""

    __slots__ = (
        "checksum",
        "checksum_algorithm",
        "creation_time",
        "extra",
        "is_on_remote",
        "local_path",
        "remote_path",
        "size",
    )

    remote_path: RemotePath | str
    size: int
    creation_time: datetime | None
    checksum: str | None
    checksum_algorithm: str | None
    local_path: Path | None
    is_on_remote: bool
    extra: Mapping[str, Any] | _CatalogueEntry


def _builder_works() -> bool:
    if sorted(_FileBuilder.__slots__) != sorted(File.__slots__):
        return False
    probe = object.__new__(_FileBuilder)
    try:
        probe.__class__ = File  # type: ignore[assignment]
    except TypeError:
        return False
    return True


#: Whether :func:`_append_entries` may build files through _FileBuilder
#: (else the fast path is simply not taken).
_BUILDER_WORKS = _builder_works()


def _checked_block(block: object, where: str) -> Mapping[str, Any]:
    if not isinstance(block, Mapping):
        raise TypeError(f"{where} must be a JSON object, got {_kind(block)}")
    return block


def _algorithm_of(block: Mapping[str, Any], where: str) -> str | None:
    algorithm = block.get("chkAlg") or None
    if algorithm is not None and not isinstance(algorithm, str):
        raise ValueError(f"{where}.chkAlg must be a string, got {_kind(algorithm)}")
    return algorithm


def _files_of_runs(
    block: object, index: int, runs: Sequence[_Run], files: list[File]
) -> Iterator[None]:
    """:func:`_files_of_block` for a block whose entries come decoded in runs
    (its own ``dataFileList`` is a placeholder); the same checks, in the
    same order, and the same files."""
    where = f"origdatablocks[{index}]"
    algorithm = _algorithm_of(_checked_block(block, where), where)
    if not _BUILDER_WORKS:
        raise _NotFast(where)
    for run in runs:
        entries = run.entries
        for start in range(0, len(entries), _FILES_PER_STEP):
            part = entries[start : start + _FILES_PER_STEP]
            if not _append_entries(part, algorithm, files):
                raise _NotFast(where)
            yield


def _append_entries(
    entries: Sequence[_CatalogueEntry], algorithm: str | None, files: list[File]
) -> bool:
    """Append a file per typed entry; ``False``, with nothing appended, if
    an entry needs the general path.

    The entries' types were checked by the decoder (path a non-empty string,
    size a non-negative integer, chk and time strings or null); what is left
    is what :func:`_files_of_block` does with them: the time through
    ``datetime.fromisoformat``, an empty checksum as ``None``, and each path
    kept as text if it needs no normalising (checked for the whole slice at
    once) or made a ``RemotePath`` now.
    """
    start = len(files)
    new = object.__new__
    builder = _FileBuilder
    file_class = File
    fromisoformat = datetime.fromisoformat
    append = files.append
    paths: list[str] = []
    keep_path = paths.append
    try:
        for entry in entries:
            when = entry.time
            file = new(builder)
            file.remote_path = path = entry.path
            file.size = entry.size
            file.creation_time = fromisoformat(when) if when else None
            file.checksum = entry.chk or None
            file.checksum_algorithm = algorithm
            file.local_path = None
            file.is_on_remote = True
            file.extra = entry
            file.__class__ = file_class  # type: ignore[assignment]
            append(file)  # type: ignore[arg-type]
            keep_path(path)
    except ValueError:  # a time fromisoformat refuses: the general path says so
        del files[start:]
        return False
    if not paths:
        return True
    # One text of all the paths answers "is every path clean?" (as
    # _files_of_block asks it of each path) in three C-level passes: with
    # "." and the NUL separators read as "/", a path that starts with ".",
    # ends with "/" or holds "//", "/." or "./" makes a "//" (".." and "./"
    # are refused too; those paths just take the exact test below), and a
    # NUL inside a path adds to the count of NULs.
    joined = "\x00".join(paths)
    if (
        joined[0] == "."
        or joined[-1] == "/"
        or joined.count("\x00") != len(paths) - 1
        or "//" in joined.translate(_DOTS_AS_SLASHES)
    ):
        for made, path in zip(files[start:], paths, strict=True):
            if not _is_clean(path):
                try:
                    _set_remote_path(made, RemotePath(path))
                except ValueError:  # a NUL: the general path raises it
                    del files[start:]
                    return False
    return True


#: For the test of clean paths in :func:`_append_entries`.
_DOTS_AS_SLASHES = str.maketrans({".": "/", "\x00": "/"})


def _is_clean(path: str) -> bool:
    """Whether ``RemotePath(path)`` would keep ``path`` as it is (the test of
    :func:`_files_of_block`; a few clean paths are refused, never the other
    way round)."""
    return (
        path[0] != "."
        and path[-1] != "/"
        and "//" not in path
        and "/." not in path
        and "\x00" not in path
    )


def _rebuild_file(
    remote_path: RemotePath,
    size: int,
    creation_time: datetime | None,
    checksum: str | None,
    checksum_algorithm: str | None,
    local_path: Path | None,
    is_on_remote: bool,
    extra: dict[str, Any],
) -> File:
    """Unpickle a :class:`File`."""
    return File(
        remote_path=remote_path,
        size=size,
        creation_time=creation_time,
        checksum=checksum,
        checksum_algorithm=checksum_algorithm,
        local_path=local_path,
        is_on_remote=is_on_remote,
        extra=freeze_entry(extra) if extra else _EMPTY,
    )


def _rebuild_dataset(
    fields: dict[str, Any],
    files: tuple[File, ...],
    source_folder: RemotePath | None,
    pid: PID | None,
    blocks: tuple[tuple[dict[str, Any], int], ...],
    listed: bool = True,
) -> Dataset:
    """Unpickle a :class:`Dataset`."""
    new = object.__new__(Dataset)
    new._fields = MappingProxyType({k: freeze(v) for k, v in fields.items()})
    new._files = files
    new._source_folder = source_folder
    new._pid = pid
    new._blocks = tuple(
        _BlockInfo(MappingProxyType(freeze(block)), count) for block, count in blocks
    )
    new._listed = listed
    return new
