"""Hypothesis strategies for SciCat datasets (with files), emails and ORCID iDs.

Needs `Hypothesis <https://hypothesis.readthedocs.io/>`_: install
``alink[testing]``. The names follow Scitacean's
``scitacean.testing.strategies`` (:func:`datasets`, :func:`emails`,
:func:`multi_emails`, :func:`orcids`); alink's datasets also have files.

.. code-block:: python

    from hypothesis import given
    from alink.testing import strategies as ast

    @given(ast.datasets(type="raw"))
    def test_my_code_reads_any_raw_dataset(dataset):
        ...

    @given(ast.datasets_with_contents(files=ast.file_contents(unique_names=True)))
    def test_downloads(dataset_and_contents):
        dataset, contents = dataset_and_contents
        transfer = FakeFileTransfer(files=contents)
        ...

Every value is one a SciCat backend accepts and returns unchanged: field
names as SciCat spells them (``contactEmail``, ``principalInvestigators``),
times as SciCat writes them (``2024-05-01T12:00:00.000Z``), metadata keys
MongoDB can store (no ``.``, no leading ``$``), finite numbers. Files have
paths relative to the source folder, as the datablock lists them, that are
unique and never the folder of another file; their sizes and checksums are
those of generated contents, which :func:`datasets_with_contents` returns
too, keyed by full remote path (source folder / path) as
:class:`~alink.testing.transfer.FakeFileTransfer` takes them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "alink.testing.strategies needs Hypothesis, which is not installed;"
        " install it with: pip install 'alink[testing]'"
    ) from exc

from .._model import Dataset
from .._paths import RemotePath

__all__ = [
    "ANY_CHECKSUM_ALGORITHM",
    "CHECKSUM_ALGORITHMS",
    "datasets",
    "datasets_with_contents",
    "emails",
    "file_contents",
    "multi_emails",
    "orcids",
    "pids",
    "relative_paths",
    "source_folders",
]

#: The ``chkAlg`` values :func:`datasets` picks from (``None``: no checksums).
CHECKSUM_ALGORITHMS: tuple[str | None, ...] = ("md5", "sha256", "blake2b", None)
#: The default ``checksum_algorithm`` of :func:`datasets`: any of those.
ANY_CHECKSUM_ALGORITHM: st.SearchStrategy[str | None] = st.sampled_from(
    CHECKSUM_ALGORITHMS
)

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_MAX_INT = 2**53  # exact in every JSON parser


# --- people -------------------------------------------------------------------


@functools.cache
def _labels(alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    """Dot-free words that start and end with a letter or digit, without
    ``--`` (a domain label with ``--`` in third place is reserved for IDNA)."""
    ends = _LOWER + _DIGITS
    return st.builds(
        lambda head, body: head + body,
        st.sampled_from(ends),
        st.text(alphabet=alphabet, max_size=max_size - 1),
    ).filter(lambda label: label[-1] in ends and "--" not in label)


#: Special-use top-level names no mail goes to (RFC 6761 and others), which
#: email validators refuse: ``a@b.local`` is not a SciCat contact address.
_SPECIAL_USE_TLDS = frozenset(
    {"arpa", "invalid", "local", "localhost", "onion", "test"}
)


@functools.cache
def emails() -> st.SearchStrategy[str]:
    """Email addresses that SciCat (and Scitacean's validation) accept.

    Lower case, ASCII only, already normalised, so that an address survives
    a round trip through SciCat and Scitacean unchanged:
    ``first.last+tag@sub.example.org``.
    """
    local = st.lists(_labels(_LOWER + _DIGITS + "_+-", 10), min_size=1, max_size=3).map(
        ".".join
    )
    domain = st.builds(
        lambda labels, tld: ".".join([*labels, tld]),
        st.lists(_labels(_LOWER + _DIGITS + "-", 12), min_size=1, max_size=3),
        st.text(alphabet=_LOWER, min_size=2, max_size=6).filter(
            lambda tld: tld not in _SPECIAL_USE_TLDS
        ),
    )
    return st.builds(lambda a, b: f"{a}@{b}", local, domain)


@functools.cache
def multi_emails(max_emails: int = 2) -> st.SearchStrategy[str]:
    """One to ``max_emails`` email addresses separated by ``;`` (as SciCat
    allows in ``contactEmail``)."""
    if max_emails < 1:
        raise ValueError(f"max_emails must be at least 1, got {max_emails!r}")
    return st.lists(emails(), min_size=1, max_size=max_emails).map(";".join)


def _orcid_check_digit(digits: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 15 digits of an ORCID iD."""
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


@functools.cache
def orcids() -> st.SearchStrategy[str]:
    """ORCID iDs as URLs, ``https://orcid.org/0000-0002-1825-0097``.

    Structurally valid (four groups of four, correct check character, which
    may be ``X``); they need not belong to anyone.
    """

    def make(digits: str) -> str:
        full = digits + _orcid_check_digit(digits)
        return "https://orcid.org/" + "-".join(full[i : i + 4] for i in (0, 4, 8, 12))

    return st.text(alphabet=_DIGITS, min_size=15, max_size=15).map(make)


@functools.cache
def _person_names() -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, last: f"{first.title()} {last.title()}",
        st.text(alphabet=_LOWER, min_size=1, max_size=10),
        st.text(alphabet=_LOWER, min_size=1, max_size=12),
    )


@functools.cache
def _account_names() -> st.SearchStrategy[str]:
    return _labels(_LOWER + _DIGITS + "_-", 12)


# --- identifiers, paths and files -------------------------------------------


@functools.cache
def pids(prefix: str | None = None) -> st.SearchStrategy[str]:
    """Dataset pids as SciCat makes them: ``<prefix>/<uuid>``.

    ``prefix`` defaults to a generated one such as ``20.500.12269``.
    """
    prefixes = (
        st.just(prefix)
        if prefix is not None
        else st.integers(1000, 99999).map(lambda n: f"20.500.{n}")
    )
    return st.builds(lambda p, u: f"{p}/{u}", prefixes, st.uuids().map(str))


@functools.cache
def _segments() -> st.SearchStrategy[str]:
    """One file or folder name: letters (any script), digits, ``_-. ``."""
    return st.text(
        alphabet=st.characters(categories=("L", "N"), include_characters="_-. "),
        min_size=1,
        max_size=12,
    ).filter(lambda name: name not in (".", ".."))


@functools.cache
def relative_paths(max_depth: int = 3) -> st.SearchStrategy[str]:
    """Clean POSIX paths relative to a source folder: ``sub/run 1/data.h5``.

    No leading ``/``, no empty, ``.`` or ``..`` segments; at most
    ``max_depth`` segments.
    """
    if max_depth < 1:
        raise ValueError(f"max_depth must be at least 1, got {max_depth!r}")
    return st.lists(_segments(), min_size=1, max_size=max_depth).map("/".join)


@functools.cache
def source_folders() -> st.SearchStrategy[RemotePath]:
    """Absolute remote folders: ``/facility/2024/run 7``."""
    return st.lists(_segments(), min_size=1, max_size=3).map(
        lambda parts: RemotePath("/" + "/".join(parts))
    )


def _conflicts(path: str, taken: set[str], folders: set[str]) -> bool:
    """Whether ``path`` cannot join files ``taken`` (with parent ``folders``)."""
    if path in taken or path in folders:
        return True
    parts = path.split("/")
    return any("/".join(parts[:n]) in taken for n in range(1, len(parts)))


@functools.cache
def file_contents(
    *,
    min_files: int = 0,
    max_files: int = 5,
    max_size: int = 64,
    unique_names: bool = False,
) -> st.SearchStrategy[dict[str, bytes]]:
    """The files of a dataset: relative path -> content (up to ``max_size`` bytes).

    Paths are unique, and no path is the folder of another (``a`` and
    ``a/b`` never come together), so the files can exist on a real disk.
    With ``unique_names`` no two files share a name either, so a flat
    download (alink's and Scitacean's default) never puts two in one place.
    """
    if not 0 <= min_files <= max_files:
        raise ValueError(
            f"need 0 <= min_files <= max_files, got {min_files!r}, {max_files!r}"
        )
    if max_size < 0:
        raise ValueError(f"max_size must not be negative, got {max_size!r}")
    return _file_contents(min_files, max_files, max_size, unique_names)


@st.composite
def _file_contents(
    draw: st.DrawFn,
    min_files: int,
    max_files: int,
    max_size: int,
    unique_names: bool,
) -> dict[str, bytes]:
    count = draw(st.integers(min_files, max_files))
    files: dict[str, bytes] = {}
    folders: set[str] = set()
    names: set[str] = set()
    while len(files) < count:
        path = draw(relative_paths())
        name = path.rpartition("/")[2]
        if _conflicts(path, set(files), folders) or (unique_names and name in names):
            # Make it fit instead of rejecting: prefix the name with a number.
            head, _, _ = path.rpartition("/")
            path = f"{head}/{len(files)}-{name}" if head else f"{len(files)}-{name}"
            name = path.rpartition("/")[2]
            if _conflicts(path, set(files), folders) or (
                unique_names and name in names
            ):
                continue  # under a file, say: draw another path
        files[path] = draw(st.binary(max_size=max_size))
        names.add(name)
        parts = path.split("/")
        folders.update("/".join(parts[:n]) for n in range(1, len(parts)))
    return files


# --- field values -----------------------------------------------------------


@functools.cache
def _texts(max_size: int = 40, min_size: int = 0) -> st.SearchStrategy[str]:
    """Any text JSON and MongoDB store (no lone surrogates, no NUL)."""
    return st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
        min_size=min_size,
        max_size=max_size,
    )


@functools.cache
def _times() -> st.SearchStrategy[str]:
    """Times as SciCat writes them: UTC, milliseconds, ``Z``."""
    return st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.just(UTC),
    ).map(lambda t: t.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z")


@functools.cache
def _numbers() -> st.SearchStrategy[int | float]:
    return st.integers(-_MAX_INT, _MAX_INT) | st.floats(
        allow_nan=False, allow_infinity=False
    )


@functools.cache
def _metadata_keys() -> st.SearchStrategy[str]:
    return _texts(20, min_size=1).filter(
        lambda key: "." not in key and not key.startswith("$")
    )


@functools.cache
def _scalars() -> st.SearchStrategy[Any]:
    return _texts() | _numbers() | st.booleans()


@functools.cache
def _scientific_metadata() -> st.SearchStrategy[dict[str, Any]]:
    """``scientificMetadata``: plain values, quantities with units, lists and
    one level of nesting, as facilities write it."""
    quantity = st.fixed_dictionaries(
        {"value": _numbers(), "unit": st.sampled_from(["K", "mg", "Pa", "m", "s"])}
    )
    leaf = _scalars() | quantity | st.lists(_numbers(), max_size=4)
    nested = st.dictionaries(_metadata_keys(), leaf, max_size=3)
    return st.dictionaries(_metadata_keys(), leaf | nested, max_size=5)


def _string_lists(
    values: st.SearchStrategy[str], min_size: int = 0, max_size: int = 3
) -> st.SearchStrategy[list[str]]:
    return st.lists(values, min_size=min_size, max_size=max_size, unique=True)


def _optional(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A dict with any subset of ``fields`` (absent, not ``null``, as SciCat)."""
    return st.fixed_dictionaries({}, optional=fields)


#: Hosts for ``sourceFolderHost``: fully qualified, as SciCat's ``IsFQDN``
#: requires (a bare ``nas1`` is refused on upload).
_HOSTS = ("fileserver.facility.eu", "nas1.storage.facility.eu")


@functools.cache
def _common_fields(for_upload: bool) -> st.SearchStrategy[dict[str, Any]]:
    # An upload needs what SciCat's create requires and alink's client
    # checks: a datasetName, and one contact address (older backends, and
    # alink, refuse a ``;``-separated list there; catalogues may hold one).
    upload_only: dict[str, st.SearchStrategy[Any]] = (
        {"datasetName": _texts(min_size=1)} if for_upload else {}
    )
    required = st.fixed_dictionaries(
        {
            **upload_only,
            "owner": _person_names(),
            "contactEmail": multi_emails(),
            "principalInvestigators": _string_lists(_person_names(), min_size=1),
            "creationTime": _times(),
            "ownerGroup": _account_names(),
            "accessGroups": _string_lists(_account_names()),
            "isPublished": st.booleans(),
        }
    )
    optional = _optional(
        {
            "ownerEmail": emails(),
            "orcidOfOwner": orcids(),
            **({} if for_upload else {"datasetName": _texts(min_size=1)}),
            "description": _texts(),
            "keywords": _string_lists(_texts(15, min_size=1)),
            "license": st.sampled_from(["CC-BY-4.0", "CC0-1.0", "MIT"]),
            "classification": st.just("IN=medium,AV=low,CO=low"),
            "comment": _texts(),
            "dataQualityMetrics": st.integers(0, 100),  # an int for Scitacean
            "sharedWith": _string_lists(emails()),
            "techniques": st.lists(
                st.fixed_dictionaries(
                    {"pid": _account_names(), "name": _texts(20, min_size=1)}
                ),
                max_size=2,
            ),
            "relationships": st.lists(
                st.fixed_dictionaries(
                    {"pid": pids(), "relationship": st.sampled_from(["isSourceOf"])}
                ),
                max_size=2,
            ),
            "scientificMetadata": _scientific_metadata(),
            "instrumentGroup": _account_names(),
            "sourceFolderHost": st.sampled_from(_HOSTS),
        }
    )
    parts = [required, optional]
    if not for_upload:
        parts.append(
            st.fixed_dictionaries(
                {
                    "version": st.just("4"),
                    "createdBy": _account_names(),
                    "updatedBy": _account_names(),
                    "createdAt": _times(),
                    "updatedAt": _times(),
                    "packedSize": st.just(0),
                    "numberOfFilesArchived": st.just(0),
                }
            )
        )
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


@functools.cache
def _raw_fields() -> st.SearchStrategy[dict[str, Any]]:
    def ordered(times: list[str]) -> dict[str, str]:
        start, end = sorted(times)
        return {"startTime": start, "endTime": end}

    required = st.fixed_dictionaries(
        {
            "creationLocation": st.sampled_from(["/PSI/SLS/TOMCAT", "ESS/LoKI", "ILL"]),
        }
    )
    optional = _optional(
        {
            "dataFormat": st.sampled_from(["NeXus", "HDF5", "TIFF"]),
            "proposalIds": _string_lists(_account_names()),
            "sampleIds": _string_lists(_account_names()),
            "instrumentIds": _string_lists(_account_names()),
        }
    )
    span = st.none() | st.lists(_times(), min_size=2, max_size=2).map(ordered)
    return st.tuples(required, optional, span).map(
        lambda p: {**p[0], **p[1], **(p[2] or {})}
    )


@functools.cache
def _derived_fields() -> st.SearchStrategy[dict[str, Any]]:
    required = st.fixed_dictionaries(
        {
            "inputDatasets": _string_lists(pids(), min_size=1),
            "usedSoftware": _string_lists(
                st.sampled_from(["scipp", "mantid", "alink", "python 3.12"]),
                min_size=1,
            ),
        }
    )
    optional = _optional(
        {
            "jobParameters": st.dictionaries(_metadata_keys(), _scalars(), max_size=3),
            "jobLogData": _texts(),
        }
    )
    return st.tuples(required, optional).map(lambda p: {**p[0], **p[1]})


def _file_entry(
    draw: st.DrawFn, path: str, content: bytes, algorithm: str | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": path,
        "size": len(content),
        "time": draw(_times()),
    }
    # Catalogues often lack some checksums even when the block names one.
    if algorithm is not None and draw(st.integers(0, 5)):
        entry["chk"] = hashlib.new(algorithm, content).hexdigest()
    entry.update(draw(_file_extras()))
    return entry


@functools.cache
def _file_extras() -> st.SearchStrategy[dict[str, str]]:
    """Owner, group and permissions, which some facilities record."""
    return _optional(
        {
            "uid": st.sampled_from(["0", "1000", "50123"]),
            "gid": st.sampled_from(["0", "1000", "2000"]),
            "perm": st.sampled_from(["644", "664", "755", "-rw-r--r--"]),
        }
    )


def _split(
    draw: st.DrawFn, entries: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """The file entries in one or more consecutive blocks (none if no files)."""
    if not entries:
        return []
    cuts = sorted(
        draw(
            st.sets(st.integers(1, len(entries) - 1), max_size=2)
            if len(entries) > 1
            else st.just(set())
        )
    )
    bounds = [0, *cuts, len(entries)]
    return [entries[a:b] for a, b in itertools.pairwise(bounds)]


def _field_value(draw: st.DrawFn, value: Any) -> Any:
    return draw(value) if isinstance(value, st.SearchStrategy) else value


@st.composite
def _dataset_and_contents(
    draw: st.DrawFn,
    type: str | st.SearchStrategy[str] | None,
    for_upload: bool,
    files: Mapping[str, bytes] | st.SearchStrategy[Mapping[str, bytes]] | None,
    checksum_algorithm: Any,
    fields: Mapping[str, Any],
) -> tuple[Dataset, dict[RemotePath, bytes]]:
    kind = draw(st.sampled_from(["raw", "derived"])) if type is None else type
    kind = _field_value(draw, kind)
    json: dict[str, Any] = {}
    pid: str | None = None
    if not for_upload:
        pid = draw(pids())
        json.update({"_id": pid, "pid": pid})
    json["type"] = kind
    json["sourceFolder"] = draw(source_folders()).posix
    json.update(draw(_common_fields(for_upload)))
    if kind == "raw":
        json.update(draw(_raw_fields()))
    elif kind == "derived":
        json.update(draw(_derived_fields()))
    algorithm = _field_value(draw, checksum_algorithm)
    if files is None:
        # SciCat would take an upload without files, but alink's client
        # refuses one unless asked (allow_empty=True): give uploads a file.
        files = file_contents(min_files=1 if for_upload else 0)
    contents = dict(_field_value(draw, files))
    entries = [
        _file_entry(draw, path, content, algorithm)
        for path, content in contents.items()
    ]
    json["size"] = sum(e["size"] for e in entries)
    json["numberOfFiles"] = len(entries)
    for key, value in fields.items():
        json[key] = _field_value(draw, value)
    if "pid" in fields:  # the server's ``_id`` is the pid
        if json["pid"] is None:
            del json["pid"]
            json.pop("_id", None)
        elif not for_upload:
            json["_id"] = json["pid"]
    pid = json.get("pid") if isinstance(json.get("pid"), str) else None
    blocks = []
    for n, chunk in enumerate(_split(draw, entries)):
        block: dict[str, Any] = {}
        if not for_upload:
            block["_id"] = f"{n:08x}-0000-4000-8000-{len(chunk):012x}"
            block["ownerGroup"] = json.get("ownerGroup")
            block["accessGroups"] = json.get("accessGroups", [])
            block["isPublished"] = json.get("isPublished", False)
        if pid is not None:
            block["datasetId"] = pid
        block["size"] = sum(e["size"] for e in chunk)
        if algorithm is not None:
            block["chkAlg"] = algorithm
        block["dataFileList"] = chunk
        blocks.append(block)
    dataset = Dataset.from_scicat({**json, "origdatablocks": blocks})
    folder = dataset.source_folder
    remote = {
        (folder / path if folder is not None else RemotePath(path)): content
        for path, content in contents.items()
    }
    return dataset, remote


def datasets_with_contents(
    type: Literal["raw", "derived"] | st.SearchStrategy[str] | None = None,
    for_upload: bool = False,
    *,
    files: Mapping[str, bytes] | st.SearchStrategy[Mapping[str, bytes]] | None = None,
    checksum_algorithm: str
    | st.SearchStrategy[str | None]
    | None = ANY_CHECKSUM_ALGORITHM,
    **fields: Any,
) -> st.SearchStrategy[tuple[Dataset, dict[RemotePath, bytes]]]:
    """Datasets and their files' contents: ``(dataset, {full remote path: bytes})``.

    Takes the arguments of :func:`datasets`. The contents are keyed by
    ``dataset.source_folder / path``, ready for
    ``FakeFileTransfer(files=contents)`` (or for writing them to disk).
    """
    return _dataset_and_contents(type, for_upload, files, checksum_algorithm, fields)


def datasets(
    type: Literal["raw", "derived"] | st.SearchStrategy[str] | None = None,
    for_upload: bool = False,
    *,
    files: Mapping[str, bytes] | st.SearchStrategy[Mapping[str, bytes]] | None = None,
    checksum_algorithm: str
    | st.SearchStrategy[str | None]
    | None = ANY_CHECKSUM_ALGORITHM,
    **fields: Any,
) -> st.SearchStrategy[Dataset]:
    """SciCat datasets, with files, as :meth:`alink.Dataset.from_scicat` reads them.

    Args:
        type: ``"raw"``, ``"derived"`` or a strategy; ``None``: either.
            Raw datasets get ``creationLocation`` (and maybe
            ``startTime``/``endTime``, ``proposalIds``, ...); derived ones
            ``inputDatasets`` and ``usedSoftware`` (maybe ``jobParameters``).
        for_upload: Datasets ``Client.upload_new_dataset_now`` uploads as
            they are, and SciCat (and :class:`~alink.testing.ScicatServer`)
            accepts: only fields a client sets when it creates a dataset
            (no ``pid``, no fields the server manages such as
            ``createdAt`` or ``version``), always a ``datasetName``, at
            least one file (by default), and datablocks without server ids.
        files: Relative path -> content, or a strategy of such mappings
            (default: :func:`file_contents`, up to 5 small files; at least
            one with ``for_upload``).
        checksum_algorithm: The datablocks' ``chkAlg`` (``None``: no
            checksums), or a strategy of those; by default
            :data:`ANY_CHECKSUM_ALGORITHM`.
        fields: SciCat fields (SciCat's names: ``owner="librarian"``,
            ``ownerGroup=st.sampled_from(["a", "b"])``, ``pid="p/1"``,
            ``sourceFolder="/data/x"``), each a value or a strategy; they
            replace what would be generated.

    Every value is valid for SciCat (see the module's description); the
    files' sizes and checksums are those of generated contents (see
    :func:`datasets_with_contents` to get them).
    """
    return datasets_with_contents(
        type,
        for_upload=for_upload,
        files=files,
        checksum_algorithm=checksum_algorithm,
        **fields,
    ).map(_first)


def _first(pair: tuple[Dataset, dict[RemotePath, bytes]]) -> Dataset:
    return pair[0]
