"""docs/examples/link_dataset.py: the plain ``anyio.run`` script."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Facility, load_example, symlinks

script = load_example("link_dataset")


@pytest.mark.anyio
async def test_link_dataset(facility: Facility, tmp_path: Path) -> None:
    dataset = await script.link_dataset(
        url=facility.server.url,
        token=facility.token,
        pid=facility.pids["small-2"],
        target=tmp_path / "out",
    )
    assert len(dataset.files) == facility.counts["small-2"]
    links = symlinks(tmp_path / "out")
    assert len(links) == facility.counts["small-2"]
    assert all(f.local_path is not None for f in dataset.files)


@pytest.mark.parametrize("trio", [False, True])
def test_main(
    facility: Facility,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    trio: bool,
) -> None:
    monkeypatch.setenv("SCICAT_TOKEN", facility.token)
    argv = [facility.pids["small-3"], "--url", facility.server.url]
    argv += ["--target", str(tmp_path / "out")] + (["--trio"] if trio else [])
    script.main(argv)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert all(" -> " in line for line in out)


def test_main_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCICAT_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="SCICAT_TOKEN"):
        script.main(["p", "--url", "http://127.0.0.1:9", "--target", "x"])
