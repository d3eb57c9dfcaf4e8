"""A SciCat double with datasets whose files really exist, and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alink.cli import cli
from alink.testing import ScicatServer, dataset_from_directory, make_dataset

TOKEN_ENV = "SCICAT_TOKEN"
RAW_PID = "20.500.12269/cli-raw"
PUBLIC_PID = "20.500.12269/cli-public"
MISSING_PID = "20.500.12269/cli-storage-gone"
BAD_CHECKSUM_PID = "20.500.12269/cli-bad-checksum"
UNSAFE_PID = "20.500.12269/cli-unsafe"
EMPTY_PID = "20.500.12269/cli-empty"
NO_ALGORITHM_PID = "20.500.12269/cli-no-algorithm"
SAME_NAMES_PID = "20.500.12269/cli-same-names"
#: What every file of the raw dataset holds, by path below the source folder.
FILES = {
    "meta.json": b'{"run": 42}\n',
    "scan1/frame1.h5": b"frame one" * 100,
    "scan1/frame2.h5": b"frame two" * 200,
    "scan2/frame3.h5": b"frame three" * 3000,
    "scan2/notes.txt": b"looked fine\n",
}


@dataclass
class Site:
    """A running SciCat double and the facility storage behind it."""

    server: ScicatServer
    storage: Path
    token: str
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Datasets: raw (group1, 5 files), public (published), one whose storage
    is missing, one with a wrong checksum, one with an unsafe path, one empty."""
    storage = tmp_path / "facility"
    raw = storage / "raw"
    write_tree(raw, FILES)
    public = storage / "public"
    write_tree(public, {"a.dat": b"a" * 10, "b.dat": b"b" * 2048})
    (storage / "secret.txt").write_bytes(b"not part of any dataset")
    same = storage / "same"
    write_tree(same, {"a/x.dat": b"1", "b/x.dat": b"22"})
    generated = [
        dataset_from_directory(raw, pid=RAW_PID, datasetName="CLI test run"),
        dataset_from_directory(public, pid=PUBLIC_PID, is_published=True),
        make_dataset(
            pid=MISSING_PID,
            source_folder=storage / "not-mounted",
            files=[("x.dat", 3)],
        ),
        make_dataset(
            pid=BAD_CHECKSUM_PID,
            source_folder=raw,
            files=[
                ("meta.json", len(FILES["meta.json"]), "0" * 32),
                ("scan2/notes.txt", len(FILES["scan2/notes.txt"]), None),
            ],
        ),
        make_dataset(
            pid=UNSAFE_PID,
            source_folder=raw,
            files=[("meta.json", len(FILES["meta.json"])), ("../secret.txt", 23)],
        ),
        make_dataset(pid=EMPTY_PID, source_folder=raw, files=[]),
        make_dataset(
            pid=NO_ALGORITHM_PID,
            source_folder=raw,
            files=[("meta.json", len(FILES["meta.json"]), "0" * 32)],
            checksum_algorithm=None,
        ),
        dataset_from_directory(same, pid=SAME_NAMES_PID),
    ]
    users = {"user1": "pw1"}
    server = ScicatServer(
        datasets=[g.dataset for g in generated],
        orig_datablocks=[b for g in generated for b in g.orig_datablocks],
        users=users,
    )
    with server:
        yield Site(server, storage, server.token("user1"), users)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(site: Site, monkeypatch: pytest.MonkeyPatch, backend: str) -> Invoke:
    """Run ``alink`` in-process: token in the environment, ``--url`` and
    ``--backend`` added to ``download`` and ``show``."""
    monkeypatch.setenv(TOKEN_ENV, site.token)
    monkeypatch.delenv("SCICAT_PASSWORD", raising=False)
    monkeypatch.delenv("ALINK_ALLOWED_ROOTS", raising=False)
    monkeypatch.delenv("SCICAT_URL", raising=False)

    def run(
        *args: str,
        url: bool = True,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Result:
        extra: list[str] = []
        if args and args[0] in ("download", "show") and url:
            extra += ["--url", site.url]
        if args and args[0] in ("download", "show", "demo"):
            extra += ["--backend", backend]
        return CliRunner().invoke(
            cli, [*args, *extra], input=input, env=env, catch_exceptions=False
        )

    return run


def one_error_line(result: Result) -> str:
    """The single ``alink: error: ...`` line on stderr (and nothing else)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("alink: error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def tree(root: Path) -> list[str]:
    """Every entry below ``root``, sorted (``[]`` when it does not exist)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def links_in(root: Path) -> dict[str, str]:
    """``relative path -> link target`` of every symlink below ``root``."""
    return {
        str(p.relative_to(root)): str(p.readlink())
        for p in sorted(root.rglob("*"))
        if p.is_symlink()
    }


def no_secret(result: Result, secret: str) -> None:
    assert secret not in result.stdout
    assert secret not in result.stderr
