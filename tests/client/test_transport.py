"""The client's connections read large chunks; everything else is httpcore's."""

from __future__ import annotations

import gc
import ssl
from typing import Any

import anyio
import httpcore
import pytest

from alink import Client
from alink.client import _transport
from alink.testing import ScicatSeed, ScicatServer, make_dataset

pytestmark = pytest.mark.anyio


class Recording(httpcore.AsyncNetworkStream):
    """A network stream that records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        self.calls.append(("read", max_bytes, timeout))
        return b"data"

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.calls.append(("write", buffer, timeout))

    async def aclose(self) -> None:
        self.calls.append(("aclose",))

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        self.calls.append(("start_tls", server_hostname, timeout))
        return Recording()

    def get_extra_info(self, info: str) -> Any:
        return f"info {info}"


async def test_reads_ask_for_large_chunks_and_the_rest_is_passed_on() -> None:
    inner = Recording()
    stream = _transport._LargeReadStream(inner)
    assert await stream.read(65536, 3.0) == b"data"
    assert await stream.read(4 << 20) == b"data"
    await stream.write(b"x", 1.0)
    assert stream.get_extra_info("socket") == "info socket"
    tls = await stream.start_tls(ssl.create_default_context(), "host", 2.0)
    await stream.aclose()
    assert inner.calls == [
        ("read", _transport._READ_BYTES, 3.0),
        ("read", 4 << 20, None),
        ("write", b"x", 1.0),
        ("start_tls", "host", 2.0),
        ("aclose",),
    ]
    assert isinstance(tls, _transport._LargeReadStream)
    await tls.read(10)
    assert tls._stream.calls == [("read", _transport._READ_BYTES, None)]  # type: ignore[attr-defined]


async def test_a_big_dataset_comes_in_large_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes: list[int] = []
    read = _transport._LargeReadStream.read

    async def recording(
        self: _transport._LargeReadStream,
        max_bytes: int,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> bytes:
        data = await read(self, max_bytes, timeout)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(_transport._LargeReadStream, "read", recording)
    files = [(f"d/f{i:06d}.h5", i, f"{i:032x}") for i in range(20_000)]
    ds, blocks = make_dataset(
        pid="p/1", source_folder="/data", files=files, is_published=True
    )
    server = ScicatServer(datasets=[ds], orig_datablocks=blocks)
    async with server:
        client = Client.without_login(url=server.url)
        async with client:
            dataset = await client.get_dataset("p/1")
    assert [f.remote_path.posix for f in dataset.files] == [f[0] for f in files]
    assert sum(sizes) > 2 << 20
    assert max(sizes) > 65536  # httpcore alone asks for 64 KiB at a time


# The script never closed the client in the first run: that loop's sockets
# are left to the garbage collector, which warns (as it should).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_client_used_in_another_event_loop_says_so(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    backend: str,
) -> None:
    # A ported script that makes one client at module level and calls
    # anyio.run twice: its connections died with the first loop.
    client = Client.from_token(url=scicat_server.url, token=scicat_token)

    async def fetch() -> str:
        return str((await client.get_dataset(scicat_seed.raw_pid)).pid)

    assert anyio.run(fetch, backend=backend) == scicat_seed.raw_pid
    with pytest.raises(
        RuntimeError, match=r"another event loop.*make a Client in each"
    ):
        anyio.run(fetch, backend=backend)
    anyio.run(client.aclose, backend=backend)  # no error: nothing left to close
    assert "closed" in repr(client)
    gc.collect()  # the first loop's sockets go here, under this test's filters
