"""Decoding a dataset body in short pieces gives exactly what one decode gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alink import Dataset, RemotePath, ScicatCommError, _model
from alink._steps import finish
from alink.client import _parse
from alink.transfer import _engine

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_files = st.lists(
    st.fixed_dictionaries({"path": st.text(max_size=8), "size": st.integers()}) | _json,
    max_size=5,
)
_blocks = st.lists(
    st.fixed_dictionaries({"dataFileList": _files | _json}, optional={"x": _json})
    | _json,
    max_size=3,
)
_bodies = (
    st.fixed_dictionaries(
        {"pid": st.text(max_size=5)}, optional={"origdatablocks": _blocks | _json}
    )
    | _json
)


@given(_bodies)
@settings(max_examples=300)
def test_pieces_decode_to_the_same_data(data: Any) -> None:
    body = json.dumps(data).encode()
    assert finish(_parse._decode(body)) == msgspec.json.decode(body) == data


def test_long_file_lists_are_decoded_a_slice_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    count = _parse._FILES_PER_CALL * 3 + 5
    data = {
        "pid": "p",
        "origdatablocks": [
            {
                "id": "b1",
                "dataFileList": [{"path": f"f{i}", "size": i} for i in range(count)],
            },
            {"id": "b2", "dataFileList": [{"path": "g", "size": 1}]},
        ],
    }
    body = bytearray(json.dumps(data).encode())
    decode = msgspec.json.decode
    decoded: list[int] = []

    def counting(buf: Any, **kwargs: Any) -> Any:
        result = decode(buf, **kwargs)
        if "type" not in kwargs and isinstance(result, list):
            decoded.append(len(result))
        return result

    monkeypatch.setattr(msgspec.json, "decode", counting)
    assert finish(_parse._decode(body)) == data
    assert max(decoded) == _parse._FILES_PER_CALL
    assert sum(decoded) == count + 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"pid": "x"',
        b'{"origdatablocks": [{"dataFileList": [{"path": }]}]}',
        b'{"origdatablocks": [{"dataFileList": [1, 2,]}]}',
        b'{"a": 1} trailing',
    ],
)
def test_malformed_json_fails_like_one_decode(body: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(body)
    with pytest.raises(msgspec.DecodeError):
        finish(_parse._decode(body))


# --- big bodies: in steps, on worker threads --------------------------------


def _big_body(files: int, **change: Any) -> bytes:
    entries = [
        {"path": f"d/f{i}.h5", "size": i, "time": "2024-01-01T00:00:00.000Z"}
        for i in range(files)
    ]
    data = {
        "pid": "p/1",
        "type": "raw",
        "sourceFolder": "/data/p1",
        "origdatablocks": [{"chkAlg": "md5", "dataFileList": entries}],
        **change,
    }
    return json.dumps(data).encode()


def test_building_files_pauses_every_few_thousand() -> None:
    data = msgspec.json.decode(_big_body(_model._FILES_PER_STEP * 2 + 1))
    steps = Dataset._from_scicat_steps(data)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            dataset = done.value
            break
        pauses += 1
    assert pauses == 2
    assert len(dataset.files) == _model._FILES_PER_STEP * 2 + 1
    assert dataset == Dataset.from_scicat(data)


@pytest.mark.anyio
async def test_a_big_body_gives_what_a_small_one_gives() -> None:
    body = _big_body(20_000)
    assert len(body) > _parse.OFFLOAD_BYTES
    dataset = await _parse.parse_dataset(body, what="x", max_files=10**6)
    assert dataset == _parse.dataset_from_body(body, what="x", max_files=10**6)
    assert dataset.files[-1].remote_path == RemotePath("/data/p1/d/f19999.h5")


@pytest.mark.anyio
async def test_a_big_body_lets_the_event_loop_run_between_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many short hand-offs to worker threads, not one long one."""
    handoffs = 0
    run_sync = anyio.to_thread.run_sync

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal handoffs
        handoffs += 1
        return await run_sync(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    monkeypatch.setattr(_engine, "_advance", _one_step)
    await _parse.parse_dataset(_big_body(20_000), what="x", max_files=10**6)
    # Decoding a slice of files and building a slice of files are steps.
    assert handoffs >= 20_000 // _parse._FILES_PER_CALL + 20_000 // 2048


def _one_step(steps: Iterator[object], seconds: float) -> tuple[bool, float, float]:
    """``_advance`` that runs one step per hand-off (no timing involved)."""
    more = next(iter(steps), _END) is not _END
    return more, 0.0, 0.0


_END = object()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"origdatablocks": [{"dataFileList": [{"path": "a", "size": -1}]}]}, "size"),
        ({"type": 5}, "type"),
    ],
)
async def test_a_big_body_of_a_wrong_shape_is_one_plain_error(
    change: dict[str, Any], match: str
) -> None:
    body = _big_body(20_000, padding="x" * _parse.OFFLOAD_BYTES, **change)
    with pytest.raises(ScicatCommError, match=match) as info:
        await _parse.parse_dataset(body, what="x", max_files=10**6)
    assert "unexpected shape" in str(info.value)


@pytest.mark.anyio
async def test_a_malformed_big_body_is_one_plain_error() -> None:
    body = _big_body(20_000)[:-2]
    with pytest.raises(ScicatCommError, match="malformed JSON"):
        await _parse.parse_dataset(body, what="x", max_files=10**6)
