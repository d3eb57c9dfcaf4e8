"""docs/examples/ingest.py: write files, upload, register."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from alink import Client
from alink.testing import ScicatServer, example_seed

from .conftest import load_example

script = load_example("ingest")


@pytest.fixture
def server() -> Iterator[ScicatServer]:
    with example_seed().server() as running:
        yield running


def write_run(output: Path) -> dict[str, bytes]:
    contents = {
        "detector/frames_000.raw": bytes(range(256)) * 40,
        "detector/frames_001.raw": b"\x01" * 9000,
        "logbook.txt": b"run 7: nominal\n",
    }
    for name, data in contents.items():
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_bytes(data)
    return contents


@pytest.mark.anyio
async def test_ingest(server: ScicatServer, tmp_path: Path) -> None:
    contents = write_run(tmp_path / "out")
    dataset = await script.ingest(
        url=server.url,
        token=server.token("user1"),
        output=tmp_path / "out",
        storage=tmp_path / "storage",
        owner_group="group1",
        contact_email="ponder.stibbons@uu.am",
        run="7",
    )
    assert dataset.pid is not None
    assert dataset.name == "Run 7"
    folder = Path(dataset.source_folder.posix)  # type: ignore[union-attr]
    assert folder.parent == tmp_path / "storage" / "group1"
    for name, data in contents.items():
        assert (folder / name).read_bytes() == data
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        stored = await c.get_dataset(dataset.pid)
    assert {f.remote_path.posix: f.checksum for f in stored.files} == {
        name: hashlib.blake2b(data).hexdigest() for name, data in contents.items()
    }


@pytest.mark.parametrize("trio", [False, True])
def test_main(
    server: ScicatServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    trio: bool,
) -> None:
    write_run(tmp_path / "out")
    monkeypatch.setenv("SCICAT_TOKEN", server.token("user1"))
    argv = [str(tmp_path / "out"), "--url", server.url, "--storage"]
    argv += [str(tmp_path / "storage"), "--owner-group", "group1"]
    argv += ["--contact", "ponder.stibbons@uu.am"] + (["--trio"] if trio else [])
    script.main(argv)
    pid = capsys.readouterr().out.strip()
    assert pid in server.pids
    assert server.dataset(pid)["numberOfFiles"] == 3


def test_main_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCICAT_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="SCICAT_TOKEN"):
        script.main(
            [
                *("out", "--url", "http://127.0.0.1:9", "--storage", "s"),
                *("--owner-group", "g", "--contact", "a@b.cd"),
            ]
        )
