"""The async SciCat client: fetch and search datasets, download (link or copy) files.

Besides :class:`Client`: the pages of a search (:class:`DatasetPages`), the
outcome of :meth:`Client.download_datasets` (:class:`DownloadSummary`,
:class:`DatasetDownload`, :class:`DownloadsProgress`), and facility profiles
(:class:`Profile`, :func:`load_profiles`, :func:`builtin_profiles`,
:func:`profiles_path`).

.. code-block:: python

    from alink import Client
    from alink.transfer.link import LinkFileTransfer

    async with Client.from_token(
        url="https://scicat.example.org", token=TOKEN, file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset("20.500.12269/abc")
        dataset = await client.download_files(dataset, target="downloads")
"""

from .. import _CLIENT_NAMES
from .._public import present_as
from ._client import Client
from ._download import DownloadReport, VerifyProgressCallback
from ._http import RetryPolicy
from ._many import DatasetDownload, DownloadsProgress, DownloadSummary, default_folder
from ._profiles import Profile, builtin_profiles, load_profiles, profiles_path
from ._query import DatasetPages

__all__ = [
    "Client",
    "DatasetDownload",
    "DownloadReport",
    "DatasetPages",
    "DownloadSummary",
    "DownloadsProgress",
    "Profile",
    "RetryPolicy",
    "VerifyProgressCallback",
    "builtin_profiles",
    "default_folder",
    "load_profiles",
    "profiles_path",
]

present_as(__name__, globals(), __all__)
# The package root re-exports some of these (importing them on first use):
# present those as ``alink.Client`` and so on, whoever imports this first.
present_as("alink", globals(), _CLIENT_NAMES)
