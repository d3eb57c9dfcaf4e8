"""Test doubles for alink: a faithful fake SciCat server, data builders, fakes.

``ScicatServer`` is a real HTTP server on 127.0.0.1 speaking the SciCat
endpoints alink and Scitacean use, with real status codes, JSON shapes and
JWTs. ``make_dataset`` / ``dataset_from_directory`` build dataset JSON;
``write_dataset`` also writes the files, so downloads of it work;
``example_seed`` gives ready-made content. Next to them:

- ``alink.testing.fixtures``: pytest fixtures (``scicat_server`` and friends),
  enabled by alink's pytest plugin wherever alink is installed;
- ``alink.testing.transfer``: ``FakeFileTransfer``, files in memory;
- ``alink.testing.strategies``: Hypothesis strategies (``alink[testing]``).

Example::

    from alink.testing import ScicatServer, make_dataset

    ds, blocks = make_dataset(pid="p/1", source_folder="/data/1",
                              files=[("a.dat", 10, None)])
    async with ScicatServer(datasets=[ds], orig_datablocks=blocks,
                            users={"user1": "pw1"}) as server:
        token = server.token("user1")
        ...  # GET f"{server.url}/v4/datasets/p%2F1?include=origdatablocks"

The names are imported on first use: pytest imports this package in every
run where alink is installed (for the plugin), and should not pay for the
server unless a test uses it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._factory import (
        DatasetWithFiles,
        FileSpec,
        GeneratedDataset,
        dataset_from_directory,
        make_dataset,
        write_dataset,
    )
    from ._faults import Faults
    from ._seed import ScicatSeed, example_seed
    from ._server import RecordedRequest, ScicatServer

#: Public name -> the private module that defines it.
_SOURCES = {
    "DatasetWithFiles": "_factory",
    "Faults": "_faults",
    "FileSpec": "_factory",
    "GeneratedDataset": "_factory",
    "RecordedRequest": "_server",
    "ScicatSeed": "_seed",
    "ScicatServer": "_server",
    "dataset_from_directory": "_factory",
    "example_seed": "_seed",
    "make_dataset": "_factory",
    "write_dataset": "_factory",
}

__all__ = [
    "DatasetWithFiles",
    "Faults",
    "FileSpec",
    "GeneratedDataset",
    "RecordedRequest",
    "ScicatSeed",
    "ScicatServer",
    "dataset_from_directory",
    "example_seed",
    "make_dataset",
    "write_dataset",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
