"""Generated datasets are valid for Scitacean too: its own Client reads them
from the SciCat double, through its pydantic models (emails, ORCIDs, ...),
without a warning."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from alink import Dataset
from alink.testing import ScicatServer
from alink.testing import strategies as ast

scitacean = pytest.importorskip("scitacean")

_HTTP: dict[str, Any] = (
    {"allow_http": True}
    if "allow_http" in inspect.signature(scitacean.Client.from_token).parameters
    else {}
)


@pytest.fixture
def server(scicat_server_factory: Callable[..., ScicatServer]) -> ScicatServer:
    return scicat_server_factory(users={"admin": "pw"})


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dataset=ast.datasets())
def test_scitacean_reads_generated_datasets(
    server: ScicatServer, caplog: pytest.LogCaptureFixture, dataset: Dataset
) -> None:
    pid = str(dataset.pid)
    if pid in server.pids:
        server.remove_dataset(pid)
    server.add_dataset(dataset.to_scicat())
    client = scitacean.Client.from_token(
        url=server.url + "/v3", token=server.token("admin"), **_HTTP
    )
    with caplog.at_level(logging.WARNING, logger="scitacean"):
        caplog.clear()
        theirs = client.get_dataset(pid)
    # Scitacean logs (rather than raises) what its models refuse.
    assert [r.getMessage() for r in caplog.records] == []
    fields = dataset.fields
    assert str(theirs.pid) == pid
    assert theirs.type == dataset.type
    assert theirs.source_folder.posix == fields["sourceFolder"]
    assert theirs.owner == fields["owner"]
    assert theirs.contact_email == fields["contactEmail"]
    assert theirs.owner_email == fields.get("ownerEmail")
    assert theirs.orcid_of_owner == fields.get("orcidOfOwner")
    blocks = dataset.to_scicat()["origdatablocks"]
    entries = [e for block in blocks for e in block["dataFileList"]]
    assert [(f.remote_path.posix, f.size, f.checksum()) for f in theirs.files] == [
        (e["path"], e["size"], e.get("chk")) for e in entries
    ]
