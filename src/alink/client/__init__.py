"""The async SciCat client: fetch datasets and download (link or copy) their files.

.. code-block:: python

    from alink import Client
    from alink.transfer.link import LinkFileTransfer

    async with Client.from_token(
        url="https://scicat.example.org", token=TOKEN, file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset("20.500.12269/abc")
        dataset = await client.download_files(dataset, target="downloads")
"""

from ._client import Client
from ._http import RetryPolicy
from ._many import DatasetDownload, DownloadsProgress, DownloadSummary, default_folder
from ._profiles import Profile, builtin_profiles, load_profiles, profiles_path
from ._query import DatasetPages

__all__ = [
    "Client",
    "DatasetDownload",
    "DatasetPages",
    "DownloadSummary",
    "DownloadsProgress",
    "Profile",
    "RetryPolicy",
    "builtin_profiles",
    "default_folder",
    "load_profiles",
    "profiles_path",
]
