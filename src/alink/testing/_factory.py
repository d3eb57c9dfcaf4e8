"""Build SciCat dataset and OrigDatablock JSON for tests, demos and benchmarks."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from .._paths import RemotePath

__all__ = [
    "DatasetWithFiles",
    "FileSpec",
    "GeneratedDataset",
    "dataset_from_directory",
    "make_dataset",
    "write_dataset",
]

#: One file: ``(path, size)``, ``(path, size, checksum)``, ``(path, content)``
#: (``bytes``: size and checksum are computed from it) or a full
#: ``dataFileList`` entry (a mapping with at least ``path`` and ``size``).
FileSpec = (
    tuple[str, int]
    | tuple[str, int, str | None]
    | tuple[str, bytes]
    | Mapping[str, Any]
)

_DEFAULT_TIME = "2024-01-01T00:00:00.000Z"


class GeneratedDataset(NamedTuple):
    """A dataset and its orig datablocks: ``ds, blocks = make_dataset(...)``.

    Pass both to ``ScicatServer.add_dataset(ds, blocks)``, or to the
    constructor's ``datasets`` / ``orig_datablocks``.
    """

    dataset: dict[str, Any]
    orig_datablocks: list[dict[str, Any]]

    def with_blocks(self) -> dict[str, Any]:
        """The dataset with ``origdatablocks`` embedded (a v4 ``include`` answer)."""
        return {**self.dataset, "origdatablocks": self.orig_datablocks}


def _file_entry(
    spec: FileSpec, index: int, file_time: str, algorithm: str | None
) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        entry = dict(spec)
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], bytes):
        entry = {"path": spec[0], "size": len(spec[1])}
        if algorithm is not None:
            entry["chk"] = hashlib.new(algorithm, spec[1]).hexdigest()
    elif isinstance(spec, tuple) and len(spec) in (2, 3):
        entry = {"path": spec[0], "size": spec[1]}
        if len(spec) == 3 and spec[2] is not None:
            entry["chk"] = spec[2]
    else:
        raise ValueError(
            f"file #{index}: expected (path, size[, checksum]), (path, bytes)"
            " or a mapping,"
            f" got {spec!r}"
        )
    path, size = entry.get("path"), entry.get("size")
    if not isinstance(path, str) or not path:
        raise ValueError(
            f"file #{index}: path must be a non-empty string, got {path!r}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(
            f"file #{index} ({path}): size must be a non-negative int, got {size!r}"
        )
    chk = entry.get("chk")
    if chk is not None and not isinstance(chk, str):
        raise ValueError(f"file #{index} ({path}): checksum must be a string")
    entry.setdefault("time", file_time)
    entry.setdefault("uid", "1000")
    entry.setdefault("gid", "1000")
    entry.setdefault("perm", "644")
    entry.setdefault("_id", f"{index:024x}")  # Mongo gives each entry an ObjectId
    return entry


def _chunks(
    items: list[dict[str, Any]], size: int | None
) -> list[list[dict[str, Any]]]:
    if size is None or not items:
        return [items]
    return [items[i : i + size] for i in range(0, len(items), size)]


def make_dataset(
    *,
    pid: str,
    source_folder: str | os.PathLike[str],
    files: Iterable[FileSpec] = (),
    type: str = "raw",
    checksum_algorithm: str | None = "md5",
    is_published: bool = False,
    files_published: bool | None = None,
    files_per_block: int | None = None,
    owner: str = "user1",
    owner_group: str = "group1",
    access_groups: Sequence[str] = ("uu", "faculty"),
    creation_time: str = _DEFAULT_TIME,
    **fields: Any,
) -> GeneratedDataset:
    """A SciCat dataset and orig datablock(s) listing ``files``.

    The shapes follow a v4 ``GET /datasets/{pid}`` answer: ``size`` and
    ``numberOfFiles`` are computed from the files; ``raw`` datasets get
    ``principalInvestigators``/``creationLocation``, ``derived`` ones
    ``inputDatasets``/``usedSoftware``. ``fields`` (SciCat names, e.g.
    ``datasetName="x"``) are added last and override anything.

    Args:
        files: ``(path, size)``, ``(path, size, checksum)``, ``(path,
            content)`` (size and checksum computed from the ``bytes``) or
            ``dataFileList`` mappings; paths are relative to ``source_folder``.
        checksum_algorithm: the blocks' ``chkAlg`` (``None``: no ``chkAlg``),
            a :mod:`hashlib` name when files are given by their content.
        is_published: the dataset's ``isPublished``.
        files_published: the blocks' ``isPublished`` (default: ``is_published``;
            anonymous readers only see published blocks).
        files_per_block: split the files into blocks of this many (default: one
            block).
    """
    if not isinstance(pid, str) or not pid:
        raise ValueError(f"pid must be a non-empty string, got {pid!r}")
    if files_per_block is not None and (
        isinstance(files_per_block, bool)
        or not isinstance(files_per_block, int)
        or files_per_block < 1
    ):
        raise ValueError(
            f"files_per_block must be a positive int, got {files_per_block!r}"
        )
    if isinstance(access_groups, str):
        raise ValueError("access_groups must be a list of group names, not a string")
    specs = list(files)
    hashing = (
        _hashlib_name(checksum_algorithm)
        if checksum_algorithm is not None
        and any(isinstance(f, tuple) and isinstance(f[-1], bytes) for f in specs)
        else None
    )
    entries = [
        _file_entry(spec, i, creation_time, hashing) for i, spec in enumerate(specs)
    ]
    total = sum(int(e["size"]) for e in entries)
    dataset: dict[str, Any] = {
        "_id": pid,
        "pid": pid,
        "owner": owner,
        "ownerEmail": f"{owner}@your.site",
        "contactEmail": f"{owner}@your.site",
        "sourceFolder": os.fspath(source_folder),
        "size": total,
        "packedSize": 0,
        "numberOfFiles": len(entries),
        "numberOfFilesArchived": 0,
        "creationTime": creation_time,
        "type": type,
        "keywords": [],
        "description": f"Generated dataset {pid}",
        "datasetName": f"Dataset {pid}",
        "version": "4",
        "techniques": [],
        "relationships": [],
        "sharedWith": [],
        "scientificMetadata": {},
        "proposalIds": [],
        "sampleIds": [],
        "instrumentIds": [],
        "inputDatasets": [],
        "usedSoftware": [],
        "ownerGroup": owner_group,
        "accessGroups": list(access_groups),
        "isPublished": is_published,
        "createdBy": owner,
        "updatedBy": owner,
        "createdAt": creation_time,
        "updatedAt": creation_time,
    }
    if type == "raw":
        dataset["principalInvestigators"] = [owner]
        dataset["creationLocation"] = "ALINK"
    elif type == "derived":
        dataset["usedSoftware"] = ["alink"]
    dataset.update(fields)
    published = is_published if files_published is None else files_published
    blocks: list[dict[str, Any]] = []
    if entries:
        for n, chunk in enumerate(_chunks(entries, files_per_block)):
            block: dict[str, Any] = {
                "_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alink:{pid}:{n}")),
                "ownerGroup": owner_group,
                "accessGroups": list(access_groups),
                "isPublished": published,
                "datasetId": pid,
                "size": sum(int(e["size"]) for e in chunk),
            }
            if checksum_algorithm is not None:
                block["chkAlg"] = checksum_algorithm
            block["dataFileList"] = chunk
            block.update(
                createdBy=owner,
                updatedBy=owner,
                createdAt=creation_time,
                updatedAt=creation_time,
            )
            blocks.append(block)
    return GeneratedDataset(dataset, blocks)


def _hashlib_name(algorithm: str) -> str:
    """``algorithm`` as :mod:`hashlib` names it (``"SHA-256"`` -> ``"sha256"``)."""
    text = algorithm.strip().lower()
    for candidate in (text, text.replace("-", "_"), text.replace("-", "")):
        if candidate in hashlib.algorithms_available:
            return candidate
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def _checksum(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_from_directory(
    directory: str | os.PathLike[str],
    *,
    pid: str,
    checksum_algorithm: str | None = "md5",
    source_folder: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> GeneratedDataset:
    """A dataset listing every file under ``directory`` (blocking; for test set-up).

    Sizes are real; checksums are computed with ``checksum_algorithm``
    (``None``: no checksums). Symlinks to files are listed like files, broken
    ones are skipped. ``source_folder`` defaults to ``directory`` (absolute);
    other keyword arguments go to :func:`make_dataset`.
    """
    root = Path(directory).absolute()
    if not root.is_dir():
        raise ValueError(f"not a directory: {root}")
    if checksum_algorithm is not None and checksum_algorithm not in (
        hashlib.algorithms_available
    ):
        raise ValueError(f"unknown checksum algorithm {checksum_algorithm!r}")
    specs: list[FileSpec] = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            if not os.path.isfile(full):
                continue  # broken symlink, socket, ...
            rel = Path(full).relative_to(root).as_posix()
            chk = _checksum(full, checksum_algorithm) if checksum_algorithm else None
            specs.append((rel, os.path.getsize(full), chk))
    return make_dataset(
        pid=pid,
        source_folder=source_folder if source_folder is not None else root,
        files=specs,
        checksum_algorithm=checksum_algorithm,
        **kwargs,
    )


@dataclasses.dataclass(frozen=True)
class DatasetWithFiles:
    """A dataset whose files exist: :func:`write_dataset` wrote them to ``folder``.

    Pass ``dataset`` and ``orig_datablocks`` to ``ScicatServer.add_dataset``;
    the dataset's ``sourceFolder`` is ``folder`` (unless you chose another),
    so :class:`~alink.transfer.link.LinkFileTransfer` and
    :class:`~alink.transfer.copy.CopyFileTransfer` find the files, and
    :meth:`remote_files` gives the same content to a
    :class:`~alink.testing.transfer.FakeFileTransfer`.
    """

    #: The dataset's SciCat JSON (without its orig datablocks).
    dataset: dict[str, Any]
    #: Its orig datablocks, listing every file with its real size and checksum.
    orig_datablocks: list[dict[str, Any]]
    #: The local folder that holds the files.
    folder: Path
    #: Each file's content, by its path relative to the source folder
    #: (as the datablock lists it: ``"sub/b.dat"``).
    contents: Mapping[str, bytes]

    @property
    def pid(self) -> str:
        """The dataset's pid."""
        return str(self.dataset["pid"])

    @property
    def source_folder(self) -> RemotePath:
        """The dataset's ``sourceFolder``."""
        return RemotePath(self.dataset["sourceFolder"])

    def path(self, relative: str) -> Path:
        """The local file of the catalogue path ``relative``."""
        if relative not in self.contents:
            raise KeyError(f"the dataset has no file {relative!r}")
        return self.folder / relative

    def remote_files(self) -> dict[RemotePath, bytes]:
        """Full remote path (source folder / path) -> content, for a fake transfer."""
        folder = self.source_folder
        return {folder / rel: content for rel, content in self.contents.items()}

    def with_blocks(self) -> dict[str, Any]:
        """The dataset with ``origdatablocks`` embedded (a v4 ``include`` answer)."""
        return {**self.dataset, "origdatablocks": self.orig_datablocks}


def _relative_file_path(path: object, index: int) -> str:
    if not isinstance(path, str) or not path:
        raise ValueError(
            f"file #{index}: path must be a non-empty string, got {path!r}"
        )
    parts = path.split("/")
    if (
        path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or ("\x00" in path)
    ):
        raise ValueError(
            f"file #{index}: {path!r} is not a clean path relative to the source"
            " folder (no leading '/', no '', '.' or '..' segments)"
        )
    return path


def _as_bytes(content: object, path: str) -> bytes:
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    raise TypeError(
        f"the content of {path!r} must be bytes or str, got {type(content).__name__}"
    )


def _time_text(seconds: float) -> str:
    text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def write_dataset(
    folder: str | os.PathLike[str],
    files: Mapping[str, bytes | str],
    *,
    pid: str,
    checksum_algorithm: str | None = "md5",
    source_folder: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> DatasetWithFiles:
    """Write ``files`` under ``folder`` and describe them as a SciCat dataset.

    Blocking; for test set-up. ``files`` maps paths relative to the source
    folder (``"sub/b.dat"``) to their content (``str`` is written as UTF-8).
    Missing folders are made. A file that already exists with the same
    content is kept; one with other content raises ``FileExistsError`` and
    nothing is written. Sizes, modification times and checksums
    (``checksum_algorithm``; ``None``: none) are those of the files written.
    ``source_folder`` defaults to ``folder`` (absolute), so transfers that
    read this machine's disk find the files; other keyword arguments go to
    :func:`make_dataset`.

    Raises:
        ValueError: a path is not a clean relative path, or is also the
            folder of another file.
        TypeError: a content is neither ``bytes`` nor ``str``.
        FileExistsError: a file exists with other content.
    """
    if isinstance(files, str | bytes) or not isinstance(files, Mapping):
        raise TypeError("files must be a mapping of relative path -> content")
    if checksum_algorithm is not None:
        checksum_algorithm = _hashlib_name(checksum_algorithm)
    root = Path(folder).absolute()
    contents: dict[str, bytes] = {}
    for index, (path, content) in enumerate(files.items()):
        rel = _relative_file_path(path, index)
        contents[rel] = _as_bytes(content, rel)
    folders = {
        "/".join(p.split("/")[:n]) for p in contents for n in range(1, p.count("/") + 1)
    }
    clashes = sorted(folders.intersection(contents))
    if clashes:
        raise ValueError(
            f"{clashes[0]!r} cannot be a file and the folder of another file"
        )
    differing = []
    for rel, content in contents.items():
        target = root / rel
        if (target.is_symlink() or target.exists()) and (
            target.is_symlink()
            or not target.is_file()
            or target.read_bytes() != content
        ):
            differing.append(rel)
    if differing:
        raise FileExistsError(
            f"{len(differing)} file(s) already exist under {str(root)!r} with other"
            f" content: {', '.join(map(repr, differing[:5]))}; nothing was written"
        )
    specs: list[FileSpec] = []
    for rel, content in contents.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.write_bytes(content)
        entry: dict[str, Any] = {
            "path": rel,
            "size": len(content),
            "time": _time_text(target.stat().st_mtime),
        }
        if checksum_algorithm is not None:
            entry["chk"] = hashlib.new(checksum_algorithm, content).hexdigest()
        specs.append(entry)
    root.mkdir(parents=True, exist_ok=True)
    generated = make_dataset(
        pid=pid,
        source_folder=source_folder if source_folder is not None else root,
        files=specs,
        checksum_algorithm=checksum_algorithm,
        **kwargs,
    )
    return DatasetWithFiles(
        generated.dataset, generated.orig_datablocks, root, dict(contents)
    )
