"""Fixtures for the client tests.

A scriptable fake SciCat (``httpx.MockTransport``), JWTs, example payloads, a
small dataset on real temporary storage, and a retry sleep that records
instead of waiting. (Tests run with ``--import-mode=importlib``, so helpers
reach them as fixtures, not imports.)
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from alink import Dataset, File
from alink.client import _http

DATA = Path(__file__).parent / "data"

Handler = Callable[[httpx.Request], httpx.Response]


def load(name: str) -> dict[str, Any]:
    """An example SciCat payload (a copy, safe to change)."""
    return copy.deepcopy(json.loads((DATA / name).read_text()))  # type: ignore[no-any-return]


def make_jwt(exp: float | None, **claims: Any) -> str:
    """A JWT-shaped token (fake signature) with the given ``exp``."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload = dict(claims)
    if exp is not None:
        payload["exp"] = exp
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.c2lnbmF0dXJl"


def fresh_token() -> str:
    return make_jwt(time.time() + 3600, username="user1")


def json_response(status: int, data: Any) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(data).encode(),
        headers={"Content-Type": "application/json"},
    )


@dataclass
class FakeScicat:
    """Records every request and answers with ``handler``."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return httpx.MockTransport(handle)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class Storage:
    """A source folder with files on real disk, and a dataset describing it."""

    source: Path
    contents: dict[str, bytes]
    dataset: Dataset
    target: Path

    def remote(self, relative: str) -> str:
        return str(self.source / relative)


CONTENTS = {
    "a.txt": b"alpha\n",
    "b.dat": b"bravo" * 100,
    "sub/c.txt": b"charlie\n",
    "sub/deep/d.bin": bytes(range(256)),
}


def make_storage(
    tmp_path: Path,
    contents: dict[str, bytes] | None = None,
    *,
    algorithm: str | None = "md5",
) -> Storage:
    contents = dict(CONTENTS if contents is None else contents)
    source = tmp_path / "remote" / "dataset"
    for name, data in contents.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    files = [
        File.from_remote(
            name,
            len(data),
            "2024-01-01T00:00:00Z",
            checksum=(hashlib.new(algorithm, data).hexdigest() if algorithm else None),
            checksum_algorithm=algorithm,
        )
        for name, data in contents.items()
    ]
    dataset = Dataset(type="raw", source_folder=str(source), pid="p/1", files=files)
    return Storage(source, contents, dataset, tmp_path / "download")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace the retry sleep: record delays instead of waiting."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(_http, "_sleep", fake_sleep)
    return recorded


@pytest.fixture
def scicat() -> Callable[[Handler], FakeScicat]:
    """``scicat(handler)``: a fake SciCat that records requests."""
    return FakeScicat


@pytest.fixture
def payload() -> Callable[[str], dict[str, Any]]:
    """``payload(name)``: a fresh copy of an example JSON from ``data/``."""
    return load


@pytest.fixture
def jwt() -> Callable[..., str]:
    """``jwt(exp, **claims)``: a JWT-shaped token."""
    return make_jwt


@pytest.fixture
def token() -> str:
    """A JWT valid for an hour."""
    return fresh_token()


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """Files in ``tmp_path/remote/dataset`` and a dataset (md5) describing them."""
    return make_storage(tmp_path)


@pytest.fixture
def storage_factory(tmp_path: Path) -> Callable[..., Storage]:
    """``storage_factory(contents=None, algorithm="md5")`` on ``tmp_path``."""
    return lambda contents=None, **kw: make_storage(tmp_path, contents, **kw)
