"""docs/examples/trio_pipeline.py: several datasets linked concurrently on trio."""

from __future__ import annotations

from pathlib import Path

import pytest

from alink import ScicatCommError

from .conftest import Facility, load_example, symlinks

pipeline = load_example("trio_pipeline")

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The example uses trio's own nursery and channels: trio only."""
    return "trio"


async def test_links_every_dataset(facility: Facility, tmp_path: Path) -> None:
    names = ["small-1", "small-2", "small-3", "small-4", "large"]
    results = await pipeline.link_datasets(
        url=facility.server.url,
        token=facility.token,
        pids=[facility.pids[n] for n in names],
        target=tmp_path,
        workers=2,
    )
    by_pid = {r.pid: r for r in results}
    assert set(by_pid) == {facility.pids[n] for n in names}
    for name in names:
        result = by_pid[facility.pids[name]]
        assert result.files == facility.counts[name]
        assert result.folder == pipeline.folder_for(tmp_path, facility.pids[name])
        assert len(symlinks(result.folder)) == facility.counts[name]


async def test_a_failure_cancels_the_pipeline(
    facility: Facility, tmp_path: Path
) -> None:
    missing = "20.500.12269/no-such-dataset"
    with pytest.raises(ExceptionGroup) as caught:
        await pipeline.link_datasets(
            url=facility.server.url,
            token=facility.token,
            pids=[missing, facility.pids["small-1"]],
            target=tmp_path,
            workers=2,
        )
    assert caught.group_contains(ScicatCommError)
    assert not pipeline.folder_for(tmp_path, missing).exists()


def test_folder_names_are_safe(tmp_path: Path) -> None:
    assert pipeline.folder_for(tmp_path, "a/b") == tmp_path / "a%2Fb"
    assert pipeline.folder_for(tmp_path, "../x").parent == tmp_path
    with pytest.raises(ValueError, match="folder name"):
        pipeline.folder_for(tmp_path, "..")


def test_main(
    facility: Facility,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SCICAT_TOKEN", facility.token)
    pid = facility.pids["small-3"]
    pipeline.main(["--url", facility.server.url, "--target", str(tmp_path), pid])
    assert f"{pid}: 3 files in" in capsys.readouterr().out
