"""A big dataset body is built in steps on worker threads, with the same result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest

from alink import Dataset, RemotePath, ScicatCommError, _model
from alink.client import _parse
from alink.transfer import _engine


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


def test_many_small_blocks_pause_too() -> None:
    data = msgspec.json.decode(_big_body(0))
    data["origdatablocks"] = [
        {"dataFileList": [{"path": f"b{b}/f{i}", "size": 1} for i in range(10)]}
        for b in range(_model._FILES_PER_STEP // 10 * 3)
    ]
    steps = Dataset._from_scicat_steps(data)
    pauses = sum(1 for _ in steps)
    assert pauses >= 2


@pytest.mark.anyio
async def test_a_big_body_gives_what_a_small_one_gives() -> None:
    body = _big_body(20_000)
    assert len(body) > _parse.OFFLOAD_BYTES
    dataset = await _parse.parse_dataset(body, what="x", max_files=10**6)
    assert dataset == _parse.dataset_from_body(body, what="x", max_files=10**6)
    assert dataset.files[-1].remote_path == RemotePath("d/f19999.h5")


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
    # Building each slice of files is a step.
    assert handoffs >= 20_000 // _model._FILES_PER_STEP


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
