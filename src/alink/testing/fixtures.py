"""pytest fixtures for the fake SciCat server.

Enable them in your suite's root ``conftest.py``::

    pytest_plugins = ["alink.testing.fixtures"]

(or import the fixtures you need into a ``conftest.py``). The servers run
on background threads, so the fixtures are synchronous and work in sync
tests and in ``@pytest.mark.anyio`` tests on asyncio and trio alike.

Fixtures:
    scicat_seed: fresh :class:`~alink.testing.ScicatSeed` example content.
    scicat_server: a running server with that content (one per test).
    scicat_token: a valid JWT for ``user1`` on ``scicat_server``.
    scicat_server_factory: ``make(**ScicatServer kwargs)`` -> a running
        server; every server made is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ._seed import ScicatSeed, example_seed
from ._server import ScicatServer

__all__ = ["scicat_seed", "scicat_server", "scicat_server_factory", "scicat_token"]


@pytest.fixture
def scicat_seed() -> ScicatSeed:
    """Example content: raw, derived and published datasets; three users."""
    return example_seed()


@pytest.fixture
def scicat_server(scicat_seed: ScicatSeed) -> Iterator[ScicatServer]:
    """A running :class:`ScicatServer` seeded with ``scicat_seed``."""
    with scicat_seed.server() as server:
        yield server


@pytest.fixture
def scicat_token(scicat_server: ScicatServer) -> str:
    """A valid token for ``user1`` on ``scicat_server``."""
    return scicat_server.token("user1")


@pytest.fixture
def scicat_server_factory() -> Iterator[Callable[..., ScicatServer]]:
    """Make running servers with custom content; all are stopped afterwards."""
    servers: list[ScicatServer] = []

    def make(**kwargs: Any) -> ScicatServer:
        server = ScicatServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.stop()
