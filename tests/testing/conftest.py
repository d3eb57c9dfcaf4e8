"""Fixtures for the tests of ``alink.testing`` (its own pytest fixtures come
from alink's pytest plugin)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture(scope="session")
def _tls() -> ssl.SSLContext:
    # Building a client's default TLS context costs ~30 ms; share one.
    return ssl.create_default_context()


@pytest.fixture
async def http(_tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """An async HTTP client on the current backend (asyncio or trio)."""
    async with httpx.AsyncClient(timeout=10, verify=_tls) as client:
        yield client
