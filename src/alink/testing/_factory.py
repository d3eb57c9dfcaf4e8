"""Build SciCat dataset and OrigDatablock JSON for tests, demos and benchmarks."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["FileSpec", "GeneratedDataset", "dataset_from_directory", "make_dataset"]

#: One file: ``(path, size)``, ``(path, size, checksum)`` or a full
#: ``dataFileList`` entry (a mapping with at least ``path`` and ``size``).
FileSpec = tuple[str, int] | tuple[str, int, str | None] | Mapping[str, Any]

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


def _file_entry(spec: FileSpec, index: int, file_time: str) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        entry = dict(spec)
    elif isinstance(spec, tuple) and len(spec) in (2, 3):
        entry = {"path": spec[0], "size": spec[1]}
        if len(spec) == 3 and spec[2] is not None:
            entry["chk"] = spec[2]
    else:
        raise ValueError(
            f"file #{index}: expected (path, size[, checksum]) or a mapping,"
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
        files: ``(path, size)``, ``(path, size, checksum)`` or ``dataFileList``
            mappings; paths are relative to ``source_folder``.
        checksum_algorithm: the blocks' ``chkAlg`` (``None``: no ``chkAlg``).
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
    entries = [_file_entry(spec, i, creation_time) for i, spec in enumerate(files)]
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
