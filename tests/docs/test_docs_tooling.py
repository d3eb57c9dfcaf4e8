"""The documentation's own tooling, and commands that must stay in sync."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).parents[2]


def _load(path: Path) -> ModuleType:
    name = f"alink_docs_hooks.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rst = _load(ROOT / "docs" / "hooks" / "rst_docstrings.py")
bench = _load(ROOT / "docs" / "hooks" / "benchmarks.py")


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 1
    command = commands[0]
    readme_blocks = _bash_blocks((ROOT / "README.md").read_text())
    assert f"{command}\n" in readme_blocks
    getting_started = (ROOT / "docs" / "getting-started.md").read_text()
    assert f"{command}\n" in _bash_blocks(getting_started)
    assert "mkdocs build --strict" in command


def test_demo_command_is_the_same_everywhere() -> None:
    demo = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e . &&"
        " .venv/bin/alink demo\n"
    )
    for page in ("README.md", "docs/index.md", "docs/cli.md"):
        assert demo in _bash_blocks((ROOT / page).read_text()), page


def test_roles_become_code_spans() -> None:
    text = (
        "Use :class:`~alink.Client` or :meth:`Client.get_dataset`, :mod:`x <alink.y>`."
    )
    assert rst.convert(text) == ("Use ``Client`` or ``Client.get_dataset``, ``x``.")


def test_code_block_directive_at_top_level() -> None:
    text = (
        "Intro.\n\n.. code-block:: python\n\n    x = 1\n    if x:\n"
        "        y = 2\n\nAfter."
    )
    assert rst.convert(text).splitlines() == [
        "Intro.",
        "",
        "",
        "```python",
        "x = 1",
        "if x:",
        "    y = 2",
        "```",
        "",
        "After.",
    ]


def test_literal_block_in_a_google_section_stays_inside_it() -> None:
    text = "Summary.\n\nExample::\n\n    from alink import Client\n    ...\n"
    assert rst.convert(text).splitlines() == [
        "Summary.",
        "",
        "Example:",
        "    ```python",
        "    from alink import Client",
        "    ...",
        "    ```",
    ]


def test_literal_block_after_a_sentence() -> None:
    text = "Put this in ``conftest.py``::\n\n    pytest_plugins = ['x']\n"
    assert rst.convert(text).splitlines() == [
        "Put this in ``conftest.py``:",
        "",
        "```python",
        "pytest_plugins = ['x']",
        "```",
    ]


def test_shell_blocks_are_marked_as_bash() -> None:
    text = "Usage::\n\n    export X=1\n    python run.py\n"
    assert "```bash" in rst.convert(text)


def test_double_colon_without_a_block_is_left_alone() -> None:
    assert rst.convert("Ratio 1::2 stays") == "Ratio 1::2 stays"


def test_benchmarks_readme_is_adapted() -> None:
    readme = (
        "# Benchmarks\n\nSee [the harness](_harness.py) and"
        " [anyio](https://anyio.readthedocs.io/).\n\n"
        "![plot](results/throughput.png)\n\n```bash\n# a comment\n```\n"
    )
    assert bench.adapt(readme).splitlines() == [
        "## Benchmarks",
        "",
        "See the harness (`benchmarks/_harness.py`) and"
        " [anyio](https://anyio.readthedocs.io/).",
        "",
        "*(plot: `benchmarks/results/throughput.png`)*",
        "",
        "```bash",
        "# a comment",
        "```",
    ]


class _Page:
    def __init__(self, src_uri: str) -> None:
        self.file = type("F", (), {"src_uri": src_uri})()


class _Config:
    def __init__(self, root: Path) -> None:
        self.config_file_path = str(root / "mkdocs.yml")


def test_benchmarks_hook_includes_the_readme(tmp_path: Path) -> None:
    page: Any = _Page("benchmarks.md")
    config: Any = _Config(tmp_path)
    text = f"Intro\n\n{bench.MARKER}\n"
    missing = bench.on_page_markdown(text, page, config, None)
    assert "not in this checkout" in missing
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "README.md").write_text("# Suite\n\nNumbers.\n")
    assert bench.on_page_markdown(text, page, config, None) == (
        "Intro\n\n## Suite\n\nNumbers.\n\n"
    )
    other: Any = _Page("index.md")
    assert bench.on_page_markdown(text, other, config, None) == text


def test_snippet_includes_point_at_existing_files_and_sections() -> None:
    """Every ``--8<-- "path[:section]"`` in the pages names a real file (and a
    section marked in it) — a formatter mangling the line would break it."""
    pages = [*ROOT.glob("docs/*.md"), *ROOT.glob("docs/howto/*.md")]
    found = 0
    for page in pages:
        for line in page.read_text().splitlines():
            if "8<" not in line and "8 <" not in line:
                continue
            match = re.fullmatch(r'--8<-- "([^":]+)(?::(\w+))?"', line.strip())
            assert match, f"{page.name}: malformed snippet line {line!r}"
            path = ROOT / match[1]
            assert path.is_file(), f"{page.name}: {path} is missing"
            if match[2]:
                text = path.read_text()
                assert f"--8<-- [start:{match[2]}]" in text
                assert f"--8<-- [end:{match[2]}]" in text
            found += 1
    assert found >= 4
