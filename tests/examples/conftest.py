"""Load the examples of ``docs/examples`` and give them a SciCat double with
datasets whose files exist."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from alink.testing import ScicatServer, make_dataset

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``docs/examples/<name>.py`` as a module."""
    module_name = f"alink_docs_examples.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Facility:
    """A running SciCat double; ``pids[name]`` -> PID; files on tmpfs."""

    server: ScicatServer
    token: str
    storage: Path
    pids: dict[str, str]
    counts: dict[str, int]


def _write(folder: Path, count: int, per_folder: int = 500) -> list[tuple[str, int]]:
    specs = []
    for i in range(count):
        rel = f"part{i // per_folder:03d}/f{i:06d}.dat"
        if i % per_folder == 0:
            (folder / rel).parent.mkdir(parents=True)
        (folder / rel).write_bytes(b"%d" % i)
        specs.append((rel, len(b"%d" % i)))
    return specs


@pytest.fixture(scope="module")
def storage(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, list[tuple[str, int]]]]:
    """Facility storage, made once per module: a large dataset and small ones."""
    root = tmp_path_factory.mktemp("facility")
    sizes = {
        "large": 10_000,
        "small-1": 40,
        "small-2": 75,
        "small-3": 3,
        "small-4": 120,
    }
    specs = {name: _write(root / name, n) for name, n in sizes.items()}
    return root, specs


@pytest.fixture
def facility(
    storage: tuple[Path, dict[str, list[tuple[str, int]]]],
) -> Iterator[Facility]:
    root, specs = storage
    pids = {name: f"20.500.12269/example-{name}" for name in specs}
    generated = [
        make_dataset(
            pid=pids[name],
            source_folder=root / name,
            files=files,
            checksum_algorithm=None,
            files_per_block=2000,
        )
        for name, files in specs.items()
    ]
    server = ScicatServer(
        datasets=[g.dataset for g in generated],
        orig_datablocks=[b for g in generated for b in g.orig_datablocks],
        users={"user1": "pw1"},
    )
    with server:
        yield Facility(
            server,
            server.token("user1"),
            root,
            pids,
            {name: len(files) for name, files in specs.items()},
        )


def symlinks(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_symlink()] if folder.exists() else []
