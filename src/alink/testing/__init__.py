"""Test doubles for alink: a faithful fake SciCat server, data builders, fakes.

``ScicatServer`` is a real HTTP server on 127.0.0.1 speaking the SciCat
endpoints alink and Scitacean use, with real status codes, JSON shapes and
JWTs. ``make_dataset`` / ``dataset_from_directory`` build dataset JSON;
``write_dataset`` also writes the files, so downloads of it work;
``example_seed`` gives ready-made content. Next to them:

- ``alink.testing.fixtures``: pytest fixtures (``scicat_server`` and friends),
  enabled by alink's pytest plugin wherever alink is installed;
- ``alink.testing.transfer``: ``FakeFileTransfer``, files in memory;
- ``SFTPServer``: the system's OpenSSH ``sshd`` on 127.0.0.1, for tests of
  SFTP transfers;
- ``alink.testing.strategies``: Hypothesis strategies (``alink[testing]``).

Example::

    from alink.testing import ScicatServer, make_dataset

    ds, blocks = make_dataset(pid="p/1", source_folder="/data/1",
                              files=[("a.dat", 10, None)])
    async with ScicatServer(datasets=[ds], orig_datablocks=blocks,
                            users={"user1": "pw1"}) as server:
        token = server.token("user1")
        ...  # GET f"{server.url}/v4/datasets/p%2F1?include=origdatablocks"
"""

from .._public import present_as
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
from ._sshd import SFTPServer, find_sshd

__all__ = [
    "DatasetWithFiles",
    "Faults",
    "FileSpec",
    "GeneratedDataset",
    "RecordedRequest",
    "SFTPServer",
    "ScicatSeed",
    "ScicatServer",
    "dataset_from_directory",
    "example_seed",
    "find_sshd",
    "make_dataset",
    "write_dataset",
]

present_as(__name__, globals(), __all__)
