"""Smoke test of the benchmark suite: it imports, runs tiny scenarios, cleans up.

No timings are asserted (machines are noisy); this only makes sure CI notices
when ``python -m benchmarks`` breaks. FUSE is never used; tools whose optional
dependency (scitacean, uvloop, a C compiler) is missing must report themselves
as skipped instead of failing.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("benchmarks") is None:  # plain `pytest` from elsewhere
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import _harness, link_throughput, plot, responsiveness  # noqa: E402
from benchmarks import _linktools as lt  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> _harness.Settings:
    return _harness.Settings(quick=True, repeats=1, scratch=tmp_path, sizes=(24,))


def test_tree_spec_spreads_files_over_folders() -> None:
    spec = _harness.TreeSpec("nested", 7, folders=3)
    assert spec.relative_paths() == [
        "d000/f0000000",
        "d000/f0000001",
        "d000/f0000002",
        "d001/f0000003",
        "d001/f0000004",
        "d002/f0000005",
        "d002/f0000006",
    ]
    assert spec.label == "nested 7"
    assert _harness.TreeSpec("flat", 10_000).label == "flat 10k"


def test_throughput_runs_every_tool_and_cleans_up(
    settings: _harness.Settings, tmp_path: Path
) -> None:
    result = link_throughput.run(settings)

    tools = [t.name for t in link_throughput.make_tools()]
    cases = ["flat 24", "nested 24"]
    got = {(m.case, m.tool): m for m in result.measurements}
    assert set(got) == {(c, t) for c in cases for t in tools}
    for m in result.measurements:
        # Either measured (one timed run, each verified) or skipped with a reason.
        assert (len(m.seconds) == 1) != bool(m.skipped), m
    for case in cases:
        assert got[case, "python loop"].seconds
        assert got[case, "alink (asyncio)"].seconds
        assert got[case, "alink (trio)"].seconds
    assert list(tmp_path.iterdir()) == []  # every scratch tree was removed

    report = result.markdown()
    assert "| flat 24 |" in report
    assert "alink (asyncio) ≤ 1.1" in report
    json.dumps(result.to_json())


def test_responsiveness_measures_loop_lag(
    settings: _harness.Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(responsiveness, "IDLE_SECONDS", 0.02)
    result = responsiveness.run(settings)

    alink = {m.tool: m for m in result.measurements if m.tool.startswith("alink")}
    assert set(alink) == {"alink (asyncio)", "alink (trio)"}
    for m in alink.values():
        lag = m.extra["lag"]
        assert lag["p50"] <= lag["p99"] <= lag["max"]
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_json_report_and_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(link_throughput, "sizes", lambda settings: (16,))
    monkeypatch.setattr(
        link_throughput,
        "make_tools",
        lambda: [lt.PythonLoopTool(), lt.AlinkTool(lt.Backend("asyncio"))],
    )
    monkeypatch.setattr(
        _harness, "scratch_base", lambda: tmp_path / "scratch", raising=True
    )
    (tmp_path / "scratch").mkdir()
    out = tmp_path / "out" / "result.json"

    args = ["--quick", "--only", "throughput", "--repeats", "1", "--json", str(out)]
    assert cli.main(args) == 0

    data = json.loads(out.read_text())
    assert data["mode"] == "quick"
    assert set(data["scenarios"]) == {"throughput"}
    assert "## 1. Link throughput on tmpfs" in capsys.readouterr().out
    assert out.with_suffix(".md").exists()
    if importlib.util.find_spec("matplotlib") is not None:
        assert out.with_suffix(".png").stat().st_size > 0
    assert list((tmp_path / "scratch").iterdir()) == []


def test_plot_series_prefers_throughput_points() -> None:
    results = {
        "scenarios": {
            "throughput": {
                "measurements": [
                    {
                        "case": "flat 1k",
                        "tool": "a",
                        "files": 1000,
                        "files_per_second": 5.0,
                    }
                ]
            },
            "scaling": {
                "measurements": [
                    {
                        "case": "flat 1k",
                        "tool": "a",
                        "files": 1000,
                        "files_per_second": 9.0,
                    },
                    {
                        "case": "flat 1M",
                        "tool": "a",
                        "files": 10**6,
                        "files_per_second": 7.0,
                    },
                ]
            },
        }
    }
    assert plot.series(results)["flat"]["a"] == {1000: 5.0, 10**6: 7.0}
