"""PIDs with URL-special characters, over real HTTP against the SciCat double.

SciCat (NestJS on Express) decodes a path parameter with
``decodeURIComponent``: ``%XX`` escapes only, a ``+`` stays a ``+``. So the
client must put a PID into a path with every special character
percent-escaped (a space as ``%20``, never ``+``), or a PID with a space is
never found and is mistaken for one with a literal ``+``. The double decodes
path parameters exactly like that, so these tests fail on a client that
encodes a path like a form (``quote_plus``).
"""

from __future__ import annotations

import itertools
import logging
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from alink import Client, Dataset, ScicatCommError
from alink.testing import ScicatServer, _upload_routes, make_dataset
from alink.transfer.copy import CopyFileTransfer

pytestmark = pytest.mark.anyio

#: One PID per troublesome character, then all of them at once.
PIDS = [
    "20.500.12269/abc def",  # a space: '+' in a form, '%20' in a path
    "PID+1",  # a literal plus
    "50%done",  # a percent sign that is not an escape
    "20.500.12269/tag#1",  # would end the path (fragment)
    "why?not",  # would end the path (query)
    "a&b=c",  # query separators
    "20.500.12269/run/42/x",  # slashes beyond the prefix's
    "20.500.12269/Müller-ü",  # non-ASCII: UTF-8, percent-escaped
    "20.500.12269/a b+c%d#e?f&g=h/ü",
    "..",  # a dot segment, which URL normalisation would remove
]
SPECIAL_PREFIX = "20.500.12269/a b+c%d#e?f&g=h/ü"
BLOCKS = "/v4/origdatablocks"


def _seeded(pid: str, *, is_published: bool = False) -> Any:
    """A dataset named after its ``pid``, with one file."""
    return make_dataset(
        pid=pid,
        source_folder="/data/x",
        files=[("f.dat", 10)],
        is_published=is_published,
        datasetName=f"named {pid}",
    )


@pytest.fixture
def server(scicat_server_factory: Callable[..., ScicatServer]) -> ScicatServer:
    """Every PID of :data:`PIDS` twice: private, and published with a ``pub:``
    prefix (so the anonymous path is tried with the same characters)."""
    made = [_seeded(p) for p in PIDS]
    made += [_seeded(f"pub:{p}", is_published=True) for p in PIDS]
    return scicat_server_factory(
        datasets=[m.dataset for m in made],
        orig_datablocks=[b for m in made for b in m.orig_datablocks],
        users={"user1": "pw1"},
    )


def _encoded(pid: str) -> str:
    """The path segment SciCat must receive for ``pid``."""
    return "%2E%2E" if pid == ".." else quote(pid, safe="")


# --- the helper ----------------------------------------------------------


@pytest.mark.parametrize("pid", [*PIDS, ".", "...", "a/..", "%2F", "+", " "])
def test_a_segment_holds_no_character_a_path_or_url_treats_specially(
    pid: str,
) -> None:
    from alink.client._http import _path_segment

    segment = _path_segment(pid)
    assert set(segment) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"
    )
    assert segment not in (".", "..")


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a/b", "a%2Fb"),
        ("50%", "50%25"),
        ("ü", "%C3%BC"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("abc-1.2_x~", "abc-1.2_x~"),
    ],
)
def test_segments_are_percent_escaped_utf8(text: str, segment: str) -> None:
    from alink.client._http import _path_segment

    assert _path_segment(text) == segment


# --- get_dataset ---------------------------------------------------------


@pytest.mark.parametrize("pid", PIDS)
async def test_get_dataset_finds_every_pid(server: ScicatServer, pid: str) -> None:
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        dataset = await c.get_dataset(pid)
    assert str(dataset.pid) == pid
    assert dataset.name == f"named {pid}"
    assert [f.remote_path.posix for f in dataset.files] == ["f.dat"]
    [request] = server.requests
    assert request[:2] == ("GET", f"/api/v4/datasets/{_encoded(pid)}")
    assert request.status == 200


@pytest.mark.parametrize("pid", PIDS)
async def test_get_dataset_without_login_finds_every_published_pid(
    server: ScicatServer, pid: str
) -> None:
    public = f"pub:{pid}"
    async with Client.without_login(url=server.url) as c:
        dataset = await c.get_dataset(public)
    assert str(dataset.pid) == public
    assert [f.remote_path.posix for f in dataset.files] == ["f.dat"]
    [request] = server.requests
    assert request[:2] == ("GET", f"/api/v4/datasets/public/{_encoded(public)}")
    assert request.status == 200


async def test_a_plus_and_a_space_are_different_datasets(
    scicat_server_factory: Callable[..., ScicatServer],
) -> None:
    space_pid, plus_pid = "20.500.12269/x y", "20.500.12269/x+y"
    made = [_seeded(p) for p in (space_pid, plus_pid)]
    server = scicat_server_factory(
        datasets=[m.dataset for m in made],
        orig_datablocks=[b for m in made for b in m.orig_datablocks],
        users={"user1": "pw1"},
    )
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        space = await c.get_dataset(space_pid)
        plus = await c.get_dataset(plus_pid)
        server.remove_dataset(space_pid)
        with pytest.raises(ScicatCommError) as caught:
            await c.get_dataset(space_pid)  # never the '+' one instead
    assert (str(space.pid), space.name) == (space_pid, f"named {space_pid}")
    assert (str(plus.pid), plus.name) == (plus_pid, f"named {plus_pid}")
    assert caught.value.status_code == 404


@pytest.mark.parametrize("pid", PIDS)
async def test_a_search_by_pid_finds_exactly_that_dataset(
    server: ScicatServer, pid: str
) -> None:
    """The filter travels as JSON in the query string, where ``+`` means a
    space: httpx's ``params=`` escapes a literal ``+`` (a regression guard)."""
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        found = await c.query_datasets({"pid": pid}, files=True)
    assert [(str(d.pid), len(d.files)) for d in found] == [(pid, 1)]


# --- uploads: reading back and undoing address the new PID ---------------


def _new(storage: Path, local: Path, count: int = 2) -> Dataset:
    """A valid new dataset with ``count`` local files of 2000 bytes, to be
    copied to ``storage``."""
    local.mkdir(parents=True)
    paths = [local / f"f{i:02d}.dat" for i in range(count)]
    for path in paths:
        path.write_bytes(os.urandom(2000))
    dataset = Dataset.new(
        type="raw",
        source_folder=str(storage / "run42"),
        name="run 42",
        owner="Ponder Stibbons",
        owner_group="group1",
        access_groups=["uu"],
        contact_email="ponder.stibbons@uu.am",
        principal_investigators=["Ponder Stibbons"],
        creation_location="/UU/HEX",
    )
    return dataset.add_local_files(*paths, base_path=local)


@pytest.fixture
def writable(scicat_server_factory: Callable[..., ScicatServer]) -> ScicatServer:
    """An empty server whose new datasets get a PID full of special characters;
    ``admin`` (no groups) may delete."""
    return scicat_server_factory(users={"admin": "pw"}, pid_prefix=SPECIAL_PREFIX)


async def test_an_upload_reads_its_dataset_back_by_its_pid(
    writable: ScicatServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = _new(tmp_path / "storage", tmp_path / "local")
    async with Client.from_token(
        url=writable.url,
        token=writable.token("admin"),
        file_transfer=CopyFileTransfer(),
    ) as c:
        uploaded = await c.upload_new_dataset_now(dataset)
    pid = str(uploaded.pid)
    assert pid.startswith(SPECIAL_PREFIX + "/")
    assert writable.pids == [pid]
    # The answer is the dataset as stored after its datablock (sizes counted).
    assert uploaded.fields["numberOfFiles"] == 2
    assert uploaded.fields["size"] == 4000
    [read_back] = [r for r in writable.requests if r.method == "GET"]
    assert read_back.path == f"/api/v4/datasets/{quote(pid, safe='')}"
    assert read_back.status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_failed_upload_deletes_its_dataset_and_datablocks_by_id(
    writable: ScicatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SciCat's datablock ids are UUIDs, but the client must not rely on it:
    # make the double's ids (and the PIDs' suffixes) full of special characters.
    counter = itertools.count()
    monkeypatch.setattr(
        _upload_routes,
        "uuid",
        types.SimpleNamespace(uuid4=lambda: f"id {next(counter)}+x/ü%#?&"),
    )
    dataset = _new(tmp_path / "storage", tmp_path / "local", count=12)
    # Several datablocks (a tiny budget); the second one fails.
    writable.faults.fail_next(status=500, method="POST", match=BLOCKS, skip=1)
    async with Client.from_token(
        url=writable.url,
        token=writable.token("admin"),
        file_transfer=CopyFileTransfer(),
    ) as c:
        with pytest.raises(ScicatCommError) as caught:
            await c.upload_new_dataset_now(dataset, max_datablock_bytes=1024)
    assert caught.value.status_code == 500
    notes = " ".join(caught.value.__notes__)
    assert "deleted its 1 orig datablock(s)" in notes
    assert "deleted dataset" in notes
    assert writable.pids == []
    deletes = [(r.path, r.status) for r in writable.requests if r.method == "DELETE"]
    block_id, pid = "id 1+x/ü%#?&", f"{SPECIAL_PREFIX}/id 0+x/ü%#?&"
    assert deletes == [
        (f"/api/v4/origdatablocks/{quote(block_id, safe='')}", 200),
        (f"/api/v4/datasets/{quote(pid, safe='')}", 200),
    ]
