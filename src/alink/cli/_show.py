"""``alink show``: a dataset's main fields and its files, for people or as JSON."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .._model import Dataset, File
from .._paths import RemotePath
from . import _format
from ._auth import Login, connect
from ._progress import Reporter

__all__ = ["as_json", "as_text", "fetch", "relative_path"]

#: Fields shown by ``alink show``, in order: (label, SciCat field).
_FIELDS = (
    ("PID", "pid"),
    ("Name", "datasetName"),
    ("Type", "type"),
    ("Owner", "owner"),
    ("Owner group", "ownerGroup"),
    ("Created", "creationTime"),
    ("Published", "isPublished"),
    ("Source folder", "sourceFolder"),
    ("Description", "description"),
)


async def fetch(login: Login, pid: str, reporter: Reporter) -> Dataset:
    """Fetch ``pid`` with its file list."""
    async with connect(login) as client:
        reporter.begin(f"fetching dataset {pid}")
        dataset = await client.get_dataset(pid)
        reporter.end(f"fetched dataset {pid}")
    return dataset


def relative_path(file: File, folder: RemotePath | None) -> str:
    """The file's path below the source folder (its full path if outside)."""
    path = file.remote_path.posix
    if folder is not None:
        prefix = folder.posix.rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _access_path(file: File, folder: RemotePath | None) -> str:
    """The file's full remote path (its catalogue path without a folder)."""
    full = file.remote_access_path(folder) if folder is not None else None
    return (full or file.remote_path).posix


def _total_size(dataset: Dataset) -> int:
    return sum(f.size for f in dataset.files)


def _value(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def as_text(dataset: Dataset) -> Iterator[str]:
    """Lines for people: fields, then one line per file (size, path)."""
    fields = dataset.fields
    rows = [(label, _value(fields, key)) for label, key in _FIELDS]
    if dataset.pid is not None:
        rows[0] = ("PID", str(dataset.pid))
    total = _total_size(dataset)
    rows.append(
        (
            "Files",
            f"{_format.plural(len(dataset.files), 'file')}, {_format.size(total)}",
        )
    )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        if value is not None:
            yield f"{label + ':':<{width + 1}} {value}"
    if not dataset.files:
        return
    yield ""
    folder = dataset.source_folder
    sizes = [_format.size(f.size) for f in dataset.files]
    size_width = max(len("SIZE"), *(len(s) for s in sizes))
    yield f"{'SIZE':>{size_width}}  PATH"
    for file, text in zip(dataset.files, sizes, strict=True):
        yield f"{text:>{size_width}}  {_printable(relative_path(file, folder))}"


def _printable(path: str) -> str:
    """``path`` on one line: control characters (a newline in a file name)
    shown as escapes, as ``ls`` does, and the name quoted if there were any."""
    if path.isprintable():
        return path
    return repr(path)


def as_json(dataset: Dataset) -> dict[str, Any]:
    """A JSON object: the main fields (SciCat names) and a ``files`` list."""
    fields = dataset.fields
    out: dict[str, Any] = {key: fields.get(key) for _, key in _FIELDS}
    out["pid"] = str(dataset.pid) if dataset.pid is not None else fields.get("pid")
    out["size"] = _total_size(dataset)
    out["numberOfFiles"] = len(dataset.files)
    folder = dataset.source_folder
    out["files"] = [
        {
            "path": relative_path(f, folder),
            "remotePath": _access_path(f, folder),
            "size": f.size,
            "checksum": f.checksum,
            "checksumAlgorithm": f.checksum_algorithm,
            "creationTime": (
                f.creation_time.isoformat() if f.creation_time is not None else None
            ),
        }
        for f in dataset.files
    ]
    return out
