"""The fast path of reading a dataset body gives exactly what the general path
gives, or declines.

The fast path (``alink.client._runs``) cuts the file lists into runs decoded
into typed entries and keeps each entry's JSON as the file's lazy ``extra``;
the general path decodes the whole body into dicts. Whatever a user can read
from the result must be the same: fields, files and all their fields, the
``extra`` mappings (keys, order, values), the SciCat round trip, and for a
malformed body the same error.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alink import Dataset, File, RemotePath, ScicatCommError
from alink._frozen import FrozenDict
from alink._model import (
    _CatalogueEntry,
    _slot_extra,
    _slot_remote_path,
    _with_local_path,
)
from alink.client import _parse, _runs
from alink.testing import make_dataset

Encoder = Callable[[Any], bytes]

ENCODINGS: dict[str, Encoder] = {
    "compact": lambda data: json.dumps(data, separators=(",", ":")).encode(),
    "spaced": lambda data: json.dumps(data).encode(),
    "indented": lambda data: json.dumps(data, indent=2).encode(),
    "msgspec": msgspec.json.encode,
    "ascii": lambda data: json.dumps(data, ensure_ascii=True).encode(),
}


def _general(body: bytes, max_files: int = 10**6) -> Dataset:
    from alink._steps import finish

    return finish(_parse._general_steps(body, what="x", max_files=max_files))


def _fast(body: bytes, max_files: int = 10**6) -> Dataset:
    return _parse.dataset_from_body(body, what="x", max_files=max_files)


def _outcome(read: Callable[[], Dataset]) -> Any:
    """Everything a user can observe of reading a body (or its error)."""
    try:
        dataset = read()
    except ScicatCommError as exc:
        return ("error", str(exc), exc.status_code)
    files = [
        (
            repr(f),
            type(f.remote_path),
            f.remote_path.posix,
            f.size,
            repr(f.creation_time),
            f.checksum,
            f.checksum_algorithm,
            f.local_path,
            f.is_on_remote,
            list(f.extra.items()),
            type(f.extra),
        )
        for f in dataset.files
    ]
    return (
        "dataset",
        list(dataset.fields.items()),
        files,
        dataset.to_scicat(),
        msgspec.json.encode(dataset.to_scicat()),
        repr(dataset),
    )


def _assert_same(body: bytes, max_files: int = 10**6) -> str:
    """Compare both paths on ``body``; say which way the fast one went."""
    buffer = bytearray(body)
    way = ["error"]

    def fast_read() -> Dataset:
        dataset = _fast(buffer, max_files)
        lazy = any(isinstance(_slot_extra(f), _CatalogueEntry) for f in dataset.files)
        way[0] = "fast" if lazy else "general"
        return dataset

    fast = _outcome(fast_read)
    assert buffer == body  # the runs' brackets were put back
    general = _outcome(lambda: _general(body, max_files))
    assert fast == general
    return way[0]


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of a few entries, so that every body is cut many times."""
    monkeypatch.setattr(_runs, "RUN_BYTES", 40)


def _body(
    files: list[dict[str, Any]], blocks: int = 1, **fields: Any
) -> dict[str, Any]:
    per = max(1, -(-len(files) // blocks))
    return {
        "pid": "p/1",
        "type": "raw",
        "sourceFolder": "/data/p1",
        **fields,
        "origdatablocks": [
            {
                "_id": f"b{b}",
                "chkAlg": "md5",
                "dataFileList": files[b * per : (b + 1) * per],
            }
            for b in range(blocks)
        ],
    }


def _entry(i: int, **change: Any) -> dict[str, Any]:
    entry = {
        "path": f"d{i % 3}/f{i}.h5",
        "size": i,
        "chk": f"{i:032x}",
        "time": "2024-01-02T03:04:05.678Z",
        "uid": "1000",
        "perm": "644",
    }
    entry.update(change)
    return entry


# --- the fast path is taken, and its files are lazy ---------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_typical_body_takes_the_fast_path(encoding: str, small_runs: None) -> None:
    body = ENCODINGS[encoding](_body([_entry(i) for i in range(50)], blocks=3))
    dataset = _fast(body)
    assert len(dataset.files) == 50
    assert all(isinstance(_slot_extra(f), _CatalogueEntry) for f in dataset.files)
    assert all(type(_slot_remote_path(f)) is str for f in dataset.files)
    _assert_same(body)


def test_a_generated_dataset_takes_the_fast_path() -> None:
    ds, blocks = make_dataset(
        pid="p/1",
        source_folder="/data",
        files=[(f"sub/f{i}", i, f"{i:032x}") for i in range(5000)],
        files_per_block=1000,
    )
    body = msgspec.json.encode({**ds, "origdatablocks": blocks})
    dataset = _fast(body)
    assert all(isinstance(_slot_extra(f), _CatalogueEntry) for f in dataset.files)
    _assert_same(body)


def test_typed_entries_are_not_tracked_by_the_collector() -> None:
    import gc

    dataset = _fast(ENCODINGS["compact"](_body([_entry(i) for i in range(5)])))
    entries = [_slot_extra(f) for f in dataset.files]
    assert [e.at for e in entries] == sorted({e.at for e in entries})
    assert not any(gc.is_tracked(e) for e in entries)


def test_a_dropped_dataset_frees_its_json_at_once() -> None:
    """No reference cycle keeps the body alive until a full collection."""
    import gc
    import weakref

    dataset = _fast(ENCODINGS["compact"](_body([_entry(i) for i in range(50)])))
    table = weakref.ref(_slot_extra(dataset.files[0]).table)
    assert table() is not None
    enabled = gc.isenabled()
    gc.disable()
    try:
        del dataset
        assert table() is None
    finally:
        if enabled:
            gc.enable()


def test_an_entry_that_brings_the_table_field_is_still_read_right(
    small_runs: None,
) -> None:
    body = ENCODINGS["compact"](_body([_entry(0, **{"alink's table": [1, 2]})]))
    assert _assert_same(body) == "fast"


def test_an_entry_that_brings_the_counter_s_field_takes_the_general_path(
    small_runs: None,
) -> None:
    body = ENCODINGS["compact"](_body([_entry(0), _entry(1, **{"alink's place": 0})]))
    assert _assert_same(body) == "general"


def test_extra_is_decoded_on_first_read_and_kept() -> None:
    file = _fast(ENCODINGS["compact"](_body([_entry(7)]))).files[0]
    assert isinstance(_slot_extra(file), _CatalogueEntry)
    extra = file.extra
    assert type(extra) is FrozenDict  # read-only: files are shared
    assert list(extra) == ["path", "size", "chk", "time", "uid", "perm"]
    assert extra["uid"] == "1000"
    assert file.extra is extra
    assert _slot_extra(file) is extra


@pytest.mark.parametrize(
    "use",
    [
        lambda f: dataclasses.replace(f, size=9).extra,
        lambda f: pickle.loads(pickle.dumps(f)).extra,
        lambda f: copy.copy(f).extra,
        lambda f: copy.deepcopy(f).extra,
        lambda f: f.downloaded(local_path="/t/x").extra,
        lambda f: _with_local_path(f, __import__("pathlib").Path("/t/x")).extra,
        lambda f: dataclasses.asdict(f)["extra"],
    ],
)
def test_an_unread_extra_behaves_as_the_mapping(use: Callable[[File], Any]) -> None:
    def fresh() -> File:
        return _fast(
            ENCODINGS["compact"](_body([_entry(3, x=[1, {"y": None}])]))
        ).files[0]

    expected = dict(_entry(3, x=[1, {"y": None}]))
    assert dict(use(fresh())) == expected
    file = fresh()
    file.extra  # noqa: B018 - read it first
    assert dict(use(file)) == expected


def test_a_download_keeps_extra_unread() -> None:
    file = _fast(ENCODINGS["compact"](_body([_entry(1)]))).files[0]
    local = _with_local_path(file, __import__("pathlib").Path("/t/x"))
    assert isinstance(_slot_extra(local), _CatalogueEntry)
    assert isinstance(_slot_extra(file), _CatalogueEntry)
    assert local == file.downloaded(local_path="/t/x")
    assert local.extra == file.extra


def test_a_pickled_dataset_is_the_same_dataset() -> None:
    dataset = _fast(ENCODINGS["compact"](_body([_entry(i) for i in range(5)])))
    twin = pickle.loads(pickle.dumps(dataset))
    assert twin == dataset
    assert twin.to_scicat() == dataset.to_scicat()
    assert [f.extra for f in twin.files] == [f.extra for f in dataset.files]


# --- the same result as the general path --------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        [],
        [_entry(0)],
        [_entry(i) for i in range(40)],
        [
            _entry(i, path=p)
            for i, p in enumerate(["a},{b", "c}]d", 'e"f', "g\\h", "é/ü"])
        ],
        [
            _entry(i, path=p)
            for i, p in enumerate(["./a", "sub//b", "c/", ".hid", "x/./y"])
        ],
        [_entry(0, path="a\x00b")],
        [_entry(0, chk=""), _entry(1, chk=None), _entry(2, chk=0)],
        [_entry(0, time=""), _entry(1, time=None), _entry(2, time=5)],
        [_entry(0, time="2024-01-02T03:04:05.1234567Z")],
        [_entry(0, time="2024-01-02t03:04:05z")],
        [_entry(0, time="2024-01-02")],
        [_entry(0, time="soon")],
        [_entry(0, size=-1)],
        [_entry(0, size=True)],
        [_entry(0, size=1.0)],
        [_entry(0, size=10**30)],
        [_entry(0, path="")],
        [_entry(0, path=5)],
        [{"size": 3}],
        [_entry(0), 5],
        [_entry(0), [1]],
        [_entry(0, nested={"dataFileList": [{"path": "x"}]}, more=[{"a": "}]"}])],
        [_entry(i, **{"}],{": "},{", "[": "]"}) for i in range(10)],
        [_entry(0), _entry(1, **{"alink's place": 0}), _entry(2)],
        [_entry(0, **{"alink's place": "x"})],
        [_entry(0, at=5, run="r", _table=None)],
    ],
)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_shapes_give_what_the_general_path_gives(
    files: list[Any], encoding: str, small_runs: None
) -> None:
    for blocks in (1, 3):
        _assert_same(ENCODINGS[encoding](_body(files, blocks=blocks)))


@pytest.mark.parametrize(
    "data",
    [
        {"type": "raw"},
        {"type": "raw", "origdatablocks": None},
        {"type": "raw", "origdatablocks": {}},
        {"type": "raw", "origdatablocks": [None, {"dataFileList": [_entry(0)]}]},
        {"type": "raw", "origdatablocks": [{"dataFileList": None}]},
        {"type": "raw", "origdatablocks": [{"dataFileList": {"a": 1}}]},
        {"type": "raw", "origdatablocks": [{"dataFileList": [_entry(0)], "chkAlg": 5}]},
        {"type": 5, "origdatablocks": [{"dataFileList": [_entry(0)]}]},
        {"type": "raw", "sourceFolder": "a\x00b", "origdatablocks": []},
        {"origdatablocks": [{"dataFileList": [_entry(0)]}], "type": "raw"},
        {
            "type": "raw",
            "description": '"dataFileList":[{"path":"fake"}]',
            "scientificMetadata": {"dataFileList": [_entry(9)]},
            'x"dataFileList': [{"path": "y"}],
            "origdatablocks": [{"dataFileList": [_entry(0)]}],
        },
        {
            "type": "raw",
            "origdatablocks": [{"dataFileList": [_entry(0)]}],
            "derived": {"origdatablocks": [{"dataFileList": [_entry(1)]}]},
        },
        [{"dataFileList": [_entry(0)]}],
    ],
)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_odd_datasets_give_what_the_general_path_gives(
    data: Any, encoding: str, small_runs: None
) -> None:
    _assert_same(ENCODINGS[encoding](data))


_LIST = b'{"type":"raw","origdatablocks":[{"dataFileList":['


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"null",
        b'{"type": "raw"',
        _LIST + b'{"path":"a"},{"path":"b"}',
        _LIST + b'{"path":"a"},{"path":"b"}]',
        _LIST + b'{"path":"a"},{"path":"b"}]}]}x',
        _LIST + b'{"path":"a"},,{"path":"b"}]}]}',
        _LIST + b'{"path":"a"} {"path":"b"}]}]}',
        _LIST + b'{"path":"a","path":"b"}]}]}',
        b'{"type":"raw","origdatablocks":[{"dataFileList":[{"path":"a"}],'
        b'"dataFileList":[{"path":"b"}]}]}',
        b'{"type":"raw","origdatablocks":[],"origdatablocks":[{"dataFileList":'
        b'[{"path":"b"}]}]}',
        b'{"type":"raw","origdatablocks":[{"dataFileList" : [ {"path":"a"} , '
        b'{"path":"b"} ] }]}',
        _LIST + b'{"path":"a\\u0000"}]}]}',
        _LIST + b'{"path":"\\ud800"}]}]}',
        _LIST + b'{"path":"a\\"},{\\"b"}]}]}',
        _LIST + b'{"path":"a}]"},{"path":"b"}]}]}',
    ],
)
def test_raw_bodies_give_what_the_general_path_gives(
    body: bytes, small_runs: None
) -> None:
    _assert_same(body)


def test_too_many_files_is_the_general_error(small_runs: None) -> None:
    body = ENCODINGS["compact"](_body([_entry(i) for i in range(30)]))
    _assert_same(body, max_files=29)
    with pytest.raises(ScicatCommError, match="30 files, more than the limit of 29"):
        _fast(body, max_files=29)
    _assert_same(body, max_files=30)


# --- property: any dataset, any encoding ---------------------------------------

_text = st.text(
    alphabet=st.sampled_from(list('ab/.}{][,":\\ é\x00\n'))
    | st.characters(exclude_categories=("Cs",)),
    max_size=12,
)
_times = st.sampled_from(
    [
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05.123+02:00",
        "2024-01-02T03:04:05.1234567Z",
        "2024-01-02t03:04:05z",
        "2024-01-02",
        "",
        "later",
    ]
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3)
    ),
    max_leaves=6,
)


def _datasets_with(odd: int) -> st.SearchStrategy[dict[str, Any]]:
    """Datasets where one value in ``odd`` has another shape (0: none)."""

    def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
        if not odd:
            return valid
        return st.integers(1, odd).flatmap(lambda k: valid if k > 1 else other)

    valid_times = st.sampled_from(
        ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+02:00", "2024-01-02 03:04"]
    )
    entries = st.fixed_dictionaries(
        {
            "path": mostly(_text.filter(lambda t: bool(t) and "\x00" not in t), _json),
            "size": mostly(st.integers(min_value=0, max_value=10**20), _json),
        },
        optional={
            "chk": mostly(st.none() | _text, _json),
            "time": mostly(st.none() | valid_times, _times | _json),
            "uid": _json,
            "dataFileList": _json,
            **({"alink's place": st.integers()} if odd else {}),
        },
    ).flatmap(lambda entry: st.permutations(list(entry.items())).map(dict))
    blocks = st.lists(
        mostly(
            st.fixed_dictionaries(
                {"dataFileList": st.lists(mostly(entries, _json), max_size=8)},
                optional={"chkAlg": mostly(st.just("md5"), _json), "x": _json},
            ),
            _json,
        ),
        max_size=3,
    )
    return st.fixed_dictionaries(
        {"type": mostly(st.just("raw"), _json), "origdatablocks": blocks},
        optional={"sourceFolder": mostly(st.just("/data"), _json), "meta": _json},
    )


_datasets = st.one_of(_datasets_with(0), _datasets_with(30), _datasets_with(4))


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=_datasets,
    encoding=st.sampled_from(sorted(ENCODINGS)),
    run_bytes=st.sampled_from([1, 30, 200, 1 << 20]),
)
def test_any_dataset_gives_what_the_general_path_gives(
    data: dict[str, Any],
    encoding: str,
    run_bytes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_runs, "RUN_BYTES", run_bytes)
    event(_assert_same(ENCODINGS[encoding](data)))


def test_remote_paths_are_the_general_ones() -> None:
    paths = ["a.txt", "sub//c.txt", "./d.txt", "sub/", "/abs/g.txt", "ünï/h"]
    dataset = _fast(ENCODINGS["compact"](_body([_entry(0, path=p) for p in paths])))
    assert [f.remote_path for f in dataset.files] == [RemotePath(p) for p in paths]
