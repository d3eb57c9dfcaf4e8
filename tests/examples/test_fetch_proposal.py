"""docs/examples/fetch_proposal.py: query a proposal, link every dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from alink import Client
from alink.testing import make_dataset
from alink.transfer.link import LinkFileTransfer

from .conftest import Facility, load_example, symlinks

script = load_example("fetch_proposal")


def _tag(facility: Facility, proposal: str, *names: str) -> None:
    for name in names:
        facility.server.update_dataset(facility.pids[name], {"proposalIds": [proposal]})


@pytest.mark.anyio
async def test_fetch_proposal(facility: Facility, tmp_path: Path) -> None:
    _tag(facility, "prop.42", "small-1", "small-3", "small-4")
    # A dataset of the proposal whose storage is gone: it fails alone.
    gone = make_dataset(
        pid="20.500.12269/example-gone",
        source_folder=tmp_path / "gone",
        files=[("x.dat", 1)],
        proposalIds=["prop.42"],
    )
    facility.server.add_dataset(gone.dataset, gone.orig_datablocks)
    async with Client.from_token(
        url=facility.server.url, token=facility.token, file_transfer=LinkFileTransfer()
    ) as client:
        summary = await script.fetch_proposal(client, "prop.42", tmp_path / "out")
    assert [r.pid for r in summary.failed] == ["20.500.12269/example-gone"]
    assert sorted(r.pid for r in summary.succeeded) == sorted(
        facility.pids[n] for n in ("small-1", "small-3", "small-4")
    )
    for name in ("small-1", "small-3", "small-4"):
        folder = tmp_path / "out" / f"example-{name}"
        assert len(symlinks(folder)) == facility.counts[name]
    assert not (tmp_path / "out" / "example-gone").exists()


@pytest.mark.parametrize("newest", [None, "1"])
def test_main(
    facility: Facility,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    newest: str | None,
) -> None:
    _tag(facility, "prop.7", "small-2", "small-3")
    monkeypatch.setenv("SCICAT_TOKEN", facility.token)
    argv = ["prop.7", "--url", facility.server.url, "--target", str(tmp_path / "o")]
    argv += ["--newest", newest] if newest else []
    assert script.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    count = 1 if newest else 2
    assert out[-1] == f"{count} of {count} datasets downloaded, 0 failed"
