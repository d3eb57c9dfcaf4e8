"""pytest fixtures for the fake SciCat server, as a pytest plugin.

Installing alink registers this module as a pytest plugin (the ``pytest11``
entry point ``alink.testing.fixtures``), so every test suite in that
environment can use the fixtures without importing anything. Where plugins
are not loaded automatically (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``), enable
it with ``-p alink.testing.fixtures`` or, in the root ``conftest.py``,
``pytest_plugins = ["alink.testing.fixtures"]`` (this names the same
plugin, so having both is fine); ``-p no:alink.testing.fixtures`` turns it
off.

The servers run on background threads, so the fixtures are synchronous and
work in sync tests and in ``@pytest.mark.anyio`` tests on asyncio and trio
alike. Loading the plugin imports alink's core and the server, but not
httpx (alink's client), Hypothesis or trio.

Fixtures:
    scicat_seed: fresh :class:`~alink.testing.ScicatSeed` example content
        (metadata only: its source folders do not exist on this machine).
    scicat_server: a running server with that content (one per test).
    scicat_token: a valid JWT for ``user1`` on ``scicat_server``.
    scicat_server_factory: ``make(**ScicatServer kwargs)`` -> a running
        server; every server made is stopped after the test.
    scicat_dataset_factory: ``make(files, **write_dataset kwargs)`` writes
        files to a fresh temporary folder and adds a dataset listing them to
        ``scicat_server`` (or ``server=``); returns a
        :class:`~alink.testing.DatasetWithFiles`.
    scicat_dataset_with_files: a dataset on ``scicat_server`` whose three
        files exist on disk, readable by ``user1``: download it with
        ``LinkFileTransfer`` or ``CopyFileTransfer``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from ._factory import DatasetWithFiles, write_dataset
from ._seed import ScicatSeed, example_seed
from ._server import ScicatServer

__all__ = [
    "DEFAULT_FILES",
    "scicat_dataset_factory",
    "scicat_dataset_with_files",
    "scicat_seed",
    "scicat_server",
    "scicat_server_factory",
    "scicat_token",
]

#: The files of ``scicat_dataset_with_files`` (path relative to its source
#: folder -> content): one at the top, two in sub-folders, names unique so
#: the default flat download puts all three side by side.
DEFAULT_FILES: Mapping[str, bytes] = {
    "file1.txt": b"The first file of a dataset whose files exist.\n",
    "sub/song.mp3": bytes(range(256)) * 4,
    "sub/deeper/table.csv": b"x,y\n1,2\n3,4\n",
}

_PIDS = itertools.count(1)


@pytest.fixture
def scicat_seed() -> ScicatSeed:
    """Example content: raw, derived and published datasets; three users.

    The datasets' files are listed in the catalogue but exist nowhere; use
    ``scicat_dataset_with_files`` to download files.
    """
    return example_seed()


@pytest.fixture
def scicat_server(scicat_seed: ScicatSeed) -> Iterator[ScicatServer]:
    """A running :class:`~alink.testing.ScicatServer` seeded with ``scicat_seed``."""
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


@pytest.fixture
def scicat_dataset_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., DatasetWithFiles]:
    """Write files and add a dataset listing them to a running server.

    ``make(files=None, *, pid=None, server=None, **kwargs)``: ``files`` maps
    paths relative to the source folder to their content (default:
    :data:`DEFAULT_FILES`); they are written to a fresh temporary folder,
    which becomes the dataset's source folder. ``pid`` defaults to a new
    one; ``server`` to ``scicat_server`` (started only if needed); other
    keyword arguments go to :func:`~alink.testing.write_dataset` and
    :func:`~alink.testing.make_dataset` (``owner_group=``,
    ``is_published=``, ``checksum_algorithm=``, SciCat fields, ...).
    """

    def make(
        files: Mapping[str, bytes | str] | None = None,
        *,
        pid: str | None = None,
        server: ScicatServer | None = None,
        **kwargs: Any,
    ) -> DatasetWithFiles:
        number = next(_PIDS)
        made = write_dataset(
            tmp_path_factory.mktemp("scicat-files"),
            DEFAULT_FILES if files is None else files,
            pid=pid if pid is not None else f"PID.prefix.a0b1/files-{number:04d}",
            **kwargs,
        )
        target = (
            server if server is not None else request.getfixturevalue("scicat_server")
        )
        target.add_dataset(made.dataset, made.orig_datablocks)
        return made

    return make


@pytest.fixture
def scicat_dataset_with_files(
    scicat_dataset_factory: Callable[..., DatasetWithFiles],
) -> DatasetWithFiles:
    """A raw dataset on ``scicat_server`` whose files exist on this machine.

    Owned by ``group1`` (``scicat_token``'s user reads it), not published;
    its files are :data:`DEFAULT_FILES`, with real sizes and md5 checksums,
    in a temporary folder that is the dataset's source folder.
    """
    return scicat_dataset_factory()
