"""From a PID to linked files: get_dataset -> download_files, end to end.

The SciCat side is served two ways: ``httpx.MockTransport`` with the example
payloads of ``data/`` (rewritten to point at real temporary storage), and a
tiny HTTP/1.1 server on 127.0.0.1 so the real network stack (httpcore,
sockets, chunked streaming, cancellation) is exercised on both backends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.abc
import httpx
import pytest

from alink import Client, IntegrityError, ScicatCommError
from alink.client import RetryPolicy
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data"


def seeded(tmp_path: Path, name: str = "dataset-raw.v4.json") -> dict[str, Any]:
    """The example dataset, its files written to ``tmp_path`` with real sums."""
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    source = tmp_path / "facility" / "data" / "123"
    data["sourceFolder"] = str(source)
    for block in data["origdatablocks"]:
        algorithm = block.get("chkAlg") or "md5"
        for entry in block["dataFileList"]:
            content = f"content of {entry['path']}\n".encode() * 7
            path = source / entry["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            entry["size"] = len(content)
            entry["chk"] = hashlib.new(algorithm, content).hexdigest()
    return data


def mock_scicat(
    datasets: dict[str, dict[str, Any]], token: str | None
) -> httpx.MockTransport:
    """Serves the v4 dataset endpoints like SciCat (404 / public empty body)."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().partition("?")[0]
        public = "/api/v4/datasets/public/"
        if path.startswith(public):
            pid = path.removeprefix(public)
            data = datasets.get(pid)
            if data is None or not data.get("isPublished"):
                return httpx.Response(200, content=b"")
            return httpx.Response(200, json=data)
        if request.headers.get("authorization") != f"Bearer {token}":
            return httpx.Response(403, json={"message": "Forbidden resource"})
        data = datasets.get(path.removeprefix("/api/v4/datasets/"))
        if data is None:
            return httpx.Response(404, json={"message": "dataset: null not found"})
        return httpx.Response(200, json=data)

    return httpx.MockTransport(handler)


async def test_pid_to_linked_files(tmp_path: Path, token: str) -> None:
    data = seeded(tmp_path)
    pid = data["pid"]
    transport = mock_scicat({quote(pid, safe=""): data}, token)
    async with Client.from_token(
        url="https://scicat.test/api/v3",
        token=token,
        file_transfer=LinkFileTransfer(),
        transport=transport,
    ) as client:
        dataset = await client.get_dataset(pid)
        target = tmp_path / "downloads"
        result = await client.download_files(dataset, target=target, keep_tree=True)
        again = await client.download_files(result, target=target, keep_tree=True)
    assert [f.local_path for f in result.files] == [
        target / "file1.txt",
        target / "sub" / "song.mp3",
    ]
    assert [f.local_path for f in again.files] == [f.local_path for f in result.files]
    for file in result.files:
        assert file.local_path is not None
        full = file.remote_access_path(result.source_folder)
        assert full is not None
        assert os.readlink(file.local_path) == full.posix
    assert (target / "file1.txt").read_bytes().startswith(b"content of file1.txt")
    assert result.to_scicat()["datasetName"] == "My darkest magic yet"


async def test_public_dataset_to_linked_files(tmp_path: Path) -> None:
    data = seeded(tmp_path, "dataset-derived.v4.json")
    pid = data["pid"]
    transport = mock_scicat({quote(pid, safe=""): data}, None)
    async with Client.without_login(
        url="https://scicat.test",
        file_transfer=LinkFileTransfer(),
        transport=transport,
    ) as client:
        dataset = await client.get_dataset(pid)
        result = await client.download_files(dataset, target=tmp_path / "dl")
        with pytest.raises(ScicatCommError) as info:
            await client.get_dataset("PID.prefix.a0b1/unknown")
    assert info.value.status_code == 404
    assert (tmp_path / "dl" / "table.csv").is_symlink()
    assert result.files[0].checksum_algorithm == "sha256"


async def test_catalogue_checksum_mismatch_end_to_end(
    tmp_path: Path, token: str
) -> None:
    data = seeded(tmp_path)
    data["origdatablocks"][0]["dataFileList"][1]["chk"] = "f" * 32
    transport = mock_scicat({quote(data["pid"], safe=""): data}, token)
    async with Client.from_token(
        url="https://scicat.test",
        token=token,
        file_transfer=LinkFileTransfer(),
        transport=transport,
    ) as client:
        dataset = await client.get_dataset(data["pid"])
        with pytest.raises(IntegrityError, match=r"song\.mp3"):
            await client.download_files(dataset, target=tmp_path / "dl")
    assert not (tmp_path / "dl").exists()


# --- a real HTTP server on 127.0.0.1 ---------------------------------------------

Respond = Callable[[str, dict[str, str], anyio.abc.ByteStream], Awaitable[None]]


async def _read_request(
    stream: anyio.abc.ByteStream,
) -> tuple[str, dict[str, str]] | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        try:
            chunk = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
        buffer += chunk
    head, _, _ = buffer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return lines[0], headers


@asynccontextmanager
async def http_server(respond: Respond) -> AsyncIterator[str]:
    """Serve one answer per request with ``respond``; yields the base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            while True:
                request = await _read_request(stream)
                if request is None:
                    return
                try:
                    await respond(request[0], request[1], stream)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_real_server(
    tmp_path: Path, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = seeded(tmp_path)
    body = json.dumps(data).encode()
    seen: list[tuple[str, dict[str, str]]] = []

    async def respond(
        line: str, headers: dict[str, str], stream: anyio.abc.ByteStream
    ) -> None:
        seen.append((line, headers))
        await stream.send(
            _head(
                "200 OK",
                {"Content-Type": "application/json", "Content-Length": str(len(body))},
            )
            + body
        )

    for name in ("httpx", "httpcore", "alink"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with (
        http_server(respond) as url,
        Client.from_token(
            url=url, token=token, file_transfer=LinkFileTransfer()
        ) as client,
    ):
        first = await client.get_dataset(data["pid"])
        second = await client.get_dataset(data["pid"])
        result = await client.download_files(second, target=tmp_path / "dl")
    assert first == second
    assert len(seen) == 2
    line, headers = seen[0]
    assert line == (
        f"GET /api/v4/datasets/{quote(data['pid'], safe='')}"
        "?include=origdatablocks HTTP/1.1"
    )
    assert headers["authorization"] == f"Bearer {token}"
    assert [f.local_path.name for f in result.files if f.local_path] == [
        "file1.txt",
        "song.mp3",
    ]
    # One connection, reused; the token in no log record (httpcore included).
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert sum("connect_tcp.started" in r.getMessage() for r in caplog.records) == 1
    assert not [r for r in caplog.records if token in r.getMessage()]


async def test_real_server_endless_body_is_cut_off(token: str) -> None:
    sent = 0

    async def respond(
        line: str, headers: dict[str, str], stream: anyio.abc.ByteStream
    ) -> None:
        nonlocal sent
        await stream.send(_head("200 OK", {"Transfer-Encoding": "chunked"}))
        chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
        while True:
            await stream.send(chunk)
            sent += 0x4000

    async with (
        http_server(respond) as url,
        Client.from_token(url=url, token=token, max_response_size=1 << 20) as client,
    ):
        with pytest.raises(ScicatCommError, match="larger than the limit"):
            await client.get_dataset("p/1")
    # Reading stopped near the limit (socket buffers hold a few more chunks).
    assert sent < 64 << 20


async def test_real_server_error_body_is_truncated_and_slow_server_times_out(
    token: str, sleeps: list[float]
) -> None:
    async def respond(
        line: str, headers: dict[str, str], stream: anyio.abc.ByteStream
    ) -> None:
        if "slow" in line:
            await anyio.sleep(30)
            return
        await stream.send(
            _head("500 Internal Server Error", {"Content-Length": "300000"})
        )
        await stream.send(b'{"message": "' + b"x" * 299_980 + b'"}')

    async with (
        http_server(respond) as url,
        Client.from_token(
            url=url, token=token, timeout=0.2, retry=RetryPolicy(attempts=2)
        ) as client,
    ):
        with pytest.raises(ScicatCommError, match="HTTP 500") as info:
            await client.get_dataset("p/1")
        assert info.value.status_code == 500
        assert len(str(info.value)) < 1000
        with pytest.raises(ScicatCommError, match="Timeout"):
            await client.get_dataset("slow")
    assert len(sleeps) == 1
