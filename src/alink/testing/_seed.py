"""Example data for the fake server, in the shapes of real SciCat answers.

Three datasets: a raw one (not published, group1, two files), a derived
one (published, but its datablock is not: anonymous readers see no files)
and a published raw one whose datablock is published too. Users:
``user1``/``pw1`` (group1), ``user2``/``pw2`` (group2: reads only published
datasets) and ``admin``/``admin-pw`` (reads everything).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ._server import ScicatServer

__all__ = ["ScicatSeed", "example_seed"]

RAW_PID = "PID.prefix.a0b1/5c3e1b7a-2f4d-4c8e-9a61-0d7b3f2e8c41"
DERIVED_PID = "PID.prefix.a0b1/9d2f4a6c-1e3b-4f5d-8a7c-6b9e0d1f2a3b"
PUBLISHED_PID = "PID.prefix.a0b1/3e7f0c9d-8b2a-4d1e-b5f6-7a8c9d0e1f2a"

_LIFECYCLE: dict[str, Any] = {
    "archivable": True,
    "retrievable": False,
    "publishable": False,
    "dateOfDiskPurging": "2025-01-01T10:00:00.000Z",
    "archiveRetentionTime": "2025-01-03T00:00:00.000Z",
    "dateOfPublishing": "2025-01-03T00:00:00.000Z",
    "publishedOn": "2025-01-01T10:00:00.000Z",
    "isOnCentralDisk": True,
    "archiveStatusMessage": "datasetCreated",
    "retrieveStatusMessage": "",
    "retrieveIntegrityCheck": False,
}

_COMMON: dict[str, Any] = {
    "owner": "user1",
    "ownerEmail": "user1@your.site",
    "contactEmail": "ponder.stibbons@uu.am",
    "packedSize": 0,
    "numberOfFilesArchived": 0,
    "keywords": [],
    "classification": "IN=medium,AV=low,CO=low",
    "version": "4",
    "relationships": [],
    "sharedWith": [],
    "principalInvestigators": ["Ponder Stibbons"],
    "proposalIds": [],
    "sampleIds": [],
    "instrumentIds": [],
    "ownerGroup": "group1",
    "accessGroups": ["uu", "faculty"],
    "createdBy": "user1",
    "updatedBy": "user1",
}

_RAW: dict[str, Any] = {
    "_id": RAW_PID,
    "pid": RAW_PID,
    **_COMMON,
    "sourceFolder": "/hex/data/123",
    "size": 619,
    "numberOfFiles": 2,
    "creationTime": "2004-06-13T01:45:28.100Z",
    "type": "raw",
    "description": "Doing some dark magic",
    "datasetName": "My darkest magic yet",
    "datasetlifecycle": {**_LIFECYCLE, "_id": "6650c0e2a1b2c3d4e5f60711"},
    "techniques": [
        {"pid": "DM666", "name": "dark_magic", "_id": "6650c0e2a1b2c3d4e5f60712"}
    ],
    "scientificMetadata": {
        "data_type": "event data",
        "temperature": {"value": 123, "unit": "K", "valueSI": 123, "unitSI": "K"},
        "weight": {"value": 42, "unit": "mg", "valueSI": 4.2e-05, "unitSI": "kg"},
    },
    "creationLocation": "SCITACEAN",
    "inputDatasets": [],
    "usedSoftware": [],
    "isPublished": False,
    "createdAt": "2025-01-01T10:00:00.500Z",
    "updatedAt": "2025-01-01T10:00:01.300Z",
    "__v": 0,
}

_RAW_BLOCK: dict[str, Any] = {
    "_id": "0f8a3c2e-6b1d-4e7f-9c5a-2d4b6e8f1a3c",
    "ownerGroup": "group1",
    "accessGroups": ["uu", "faculty"],
    "isPublished": False,
    "datasetId": RAW_PID,
    "size": 619,
    "chkAlg": "md5",
    "dataFileList": [
        {
            "path": "file1.txt",
            "size": 300,
            "time": "2005-11-04T13:22:09.000Z",
            "chk": "97157d347fe9af920f5e61e96cf401cb",
            "uid": "1000",
            "gid": "1000",
            "perm": "777",
            "_id": "6650c0e3a1b2c3d4e5f60720",
        },
        {
            "path": "sub/song.mp3",
            "size": 319,
            "time": "2005-11-02T09:02:54.100Z",
            "uid": "1000",
            "gid": "1000",
            "perm": "777",
            "_id": "6650c0e3a1b2c3d4e5f60721",
        },
    ],
    "createdBy": "user1",
    "updatedBy": "user1",
    "createdAt": "2025-01-01T10:00:01.250Z",
    "updatedAt": "2025-01-01T10:00:01.250Z",
    "__v": 0,
}

_DERIVED: dict[str, Any] = {
    "_id": DERIVED_PID,
    "pid": DERIVED_PID,
    **_COMMON,
    "sourceFolder": "/hex/data/dd",
    "size": 464,
    "numberOfFiles": 1,
    "creationTime": "2005-11-04T13:37:44.002Z",
    "type": "derived",
    "description": "Making it even darker",
    "datasetName": "Reprocessed dark magic",
    "datasetlifecycle": {**_LIFECYCLE, "_id": "6650c0e4a1b2c3d4e5f60731"},
    "techniques": [],
    "scientificMetadata": {
        "data_type": "reduced",
        "pressure": {
            "value": 8.1,
            "unit": "Pa",
            "valueSI": 8.1,
            "unitSI": "kg / (m s^2)",
        },
    },
    "inputDatasets": [RAW_PID],
    "usedSoftware": ["scitacean"],
    "jobParameters": {"nscans": 11},
    "jobLogData": "Output of log file...",
    "isPublished": True,
    "createdAt": "2025-01-01T10:00:02.000Z",
    "updatedAt": "2025-01-01T10:00:02.300Z",
    "__v": 0,
}

_DERIVED_BLOCK: dict[str, Any] = {
    "_id": "7b1e9d3f-2a4c-4b6e-8d0f-1c3e5a7b9d2f",
    "ownerGroup": "group1",
    "accessGroups": ["uu", "faculty"],
    "isPublished": False,
    "datasetId": DERIVED_PID,
    "size": 464,
    "chkAlg": "sha256",
    "dataFileList": [
        {
            "path": "table.csv",
            "size": 464,
            "time": "2005-10-31T00:00:01.000Z",
            "chk": "dddd8355da9105acabb9928196f022ca0581ffb73d8b89c891eb6f71477cb4cb",
            "uid": "0",
            "gid": "2000",
            "perm": "656",
            "_id": "6650c0e4a1b2c3d4e5f60730",
        }
    ],
    "createdBy": "user1",
    "updatedBy": "user1",
    "createdAt": "2025-01-01T10:00:02.250Z",
    "updatedAt": "2025-01-01T10:00:02.250Z",
    "__v": 0,
}

_PUBLISHED: dict[str, Any] = {
    "_id": PUBLISHED_PID,
    "pid": PUBLISHED_PID,
    **_COMMON,
    "sourceFolder": "/hex/public/42",
    "size": 1100,
    "numberOfFiles": 3,
    "creationTime": "2006-02-01T08:00:00.000Z",
    "type": "raw",
    "description": "Openly shared magic",
    "datasetName": "Public spells",
    "datasetlifecycle": {**_LIFECYCLE, "_id": "6650c0e5a1b2c3d4e5f60741"},
    "techniques": [],
    "scientificMetadata": {"data_type": "event data"},
    "creationLocation": "SCITACEAN",
    "inputDatasets": [],
    "usedSoftware": [],
    "isPublished": True,
    "createdAt": "2025-01-01T10:00:03.000Z",
    "updatedAt": "2025-01-01T10:00:03.300Z",
    "__v": 0,
}

_PUBLISHED_BLOCK: dict[str, Any] = {
    "_id": "2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5e7a",
    "ownerGroup": "group1",
    "accessGroups": ["uu", "faculty"],
    "isPublished": True,
    "datasetId": PUBLISHED_PID,
    "size": 1100,
    "chkAlg": "md5",
    "dataFileList": [
        {
            "path": "spells/fire.txt",
            "size": 100,
            "time": "2006-01-31T10:00:00.000Z",
            "chk": "6a0a4a9e4c33e1a2b7c4d2e3f1a0b9c8",
            "uid": "1000",
            "gid": "1000",
            "perm": "644",
            "_id": "6650c0e5a1b2c3d4e5f60750",
        },
        {
            "path": "spells/water.txt",
            "size": 200,
            "time": "2006-01-31T10:00:01.000Z",
            "chk": "1b2c3d4e5f60718293a4b5c6d7e8f901",
            "uid": "1000",
            "gid": "1000",
            "perm": "644",
            "_id": "6650c0e5a1b2c3d4e5f60751",
        },
        {
            "path": "README.md",
            "size": 800,
            "time": "2006-01-31T10:00:02.000Z",
            "uid": "1000",
            "gid": "1000",
            "perm": "644",
            "_id": "6650c0e5a1b2c3d4e5f60752",
        },
    ],
    "createdBy": "user1",
    "updatedBy": "user1",
    "createdAt": "2025-01-01T10:00:03.250Z",
    "updatedAt": "2025-01-01T10:00:03.250Z",
    "__v": 0,
}

_USERS: dict[str, dict[str, Any]] = {
    "user1": {"password": "pw1", "groups": ["group1"]},
    "user2": {"password": "pw2", "groups": ["group2"]},
    "admin": {"password": "admin-pw"},
}


@dataclasses.dataclass
class ScicatSeed:
    """Example server content (fresh copies: change them freely).

    ``seed.server()`` builds a (not yet started) :class:`ScicatServer`.
    """

    datasets: list[dict[str, Any]]
    orig_datablocks: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    raw_pid: str = RAW_PID
    derived_pid: str = DERIVED_PID
    published_pid: str = PUBLISHED_PID

    def password(self, username: str) -> str:
        """The password of a seeded user."""
        return str(self.users[username]["password"])

    def server(self, **kwargs: Any) -> ScicatServer:
        """A stopped server with this content (``kwargs`` go to the constructor)."""
        return ScicatServer(
            datasets=self.datasets,
            orig_datablocks=self.orig_datablocks,
            users=self.users,
            **kwargs,
        )


def example_seed() -> ScicatSeed:
    """The example content: 3 datasets, 3 datablocks, 3 users (see module doc)."""
    return ScicatSeed(
        datasets=copy.deepcopy([_RAW, _DERIVED, _PUBLISHED]),
        orig_datablocks=copy.deepcopy([_RAW_BLOCK, _DERIVED_BLOCK, _PUBLISHED_BLOCK]),
        users=copy.deepcopy(_USERS),
    )
