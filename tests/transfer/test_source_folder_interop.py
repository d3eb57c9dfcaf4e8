"""Upload folder patterns name the same folder as Scitacean's.

A facility that ports its ingestion settings (``source_folder=
"/ingest/{owner}/{name}"``) must find its datasets' files where Scitacean
put them: every placeholder value is escaped the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytest.importorskip("scitacean")
import scitacean as sc
from scitacean.transfer.copy import CopyFileTransfer as ScitaceanCopy

from alink import Dataset
from alink.transfer.copy import CopyFileTransfer

KEYWORDS = {
    "type": "raw",
    "owner": "Ponder Stibbons",
    "owner_group": "group1",
    "contact_email": "p@uu.am",
    "principal_investigators": ["P. Stibbons"],
    "creation_location": "UU/lab 2",
}

PATTERNS = [
    "/ingest/{owner}/{name}",
    "/ingest/{creation_time}",
    "/ingest/{contact_email}/{creation_location}",
    "/i/{principal_investigators[0]}/{type}",
    "/i/{owner_group}-{name:>12}",
]

NAMES = [
    "Run 7: ü/x *?",
    "plain",
    "a.b-c_d e",
    "tab\there|pipe<>\"quote'",
    "日本語",
    "C:\\Windows",
]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "created",
    [
        datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC),
    ],
)
def test_patterns_give_scitaceans_folder(
    pattern: str, name: str, created: datetime
) -> None:
    theirs = ScitaceanCopy(source_folder=pattern).source_folder_for(
        sc.Dataset(**KEYWORDS, name=name, creation_time=created)  # type: ignore[arg-type]
    )
    ours = CopyFileTransfer(source_folder=pattern).source_folder_for(
        Dataset.new(**KEYWORDS, name=name, creation_time=created)  # type: ignore[arg-type]
    )
    assert ours.posix == theirs.posix
