"""Decoding a dataset body in short pieces gives exactly what one decode gives."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alink.client import _parse

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
    assert _parse._decode(body) == msgspec.json.decode(body) == data


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
    assert _parse._decode(body) == data
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
        _parse._decode(body)
