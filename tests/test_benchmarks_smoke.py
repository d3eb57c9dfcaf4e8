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
from benchmarks import (  # noqa: E402
    _harness,
    client_bench,
    copy_throughput,
    link_throughput,
    plot,
    responsiveness,
)
from benchmarks import _linktools as lt  # noqa: E402

#: The multiplication sign of the report's case labels and targets.
X = "\N{MULTIPLICATION SIGN}"


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


def test_tree_spec_orders_list_the_same_files() -> None:
    grouped = _harness.TreeSpec("nested", 7, folders=3).relative_paths()
    alternating = _harness.TreeSpec(
        "nested", 7, folders=3, order="alternating"
    ).relative_paths()
    assert alternating == [
        "d000/f0000000",
        "d001/f0000003",
        "d002/f0000005",
        "d000/f0000001",
        "d001/f0000004",
        "d002/f0000006",
        "d000/f0000002",
    ]
    shuffled = _harness.TreeSpec("nested", 7, folders=3, order="random")
    assert shuffled.relative_paths() == shuffled.relative_paths()  # fixed
    assert sorted(shuffled.relative_paths()) == grouped
    assert shuffled.label == "nested random 7"


def test_throughput_runs_every_tool_and_cleans_up(
    settings: _harness.Settings, tmp_path: Path
) -> None:
    result = link_throughput.run(settings)

    tools = [t.name for t in link_throughput.make_tools()]
    cases = ["flat 24", "nested 24", "nested alternating 24", "nested random 24"]
    got = {(m.case, m.tool): m for m in result.measurements}
    assert set(got) == {(c, t) for c in cases for t in tools}
    for m in result.measurements:
        # Either measured (one timed run, each verified) or skipped with a reason.
        assert (len(m.seconds) == 1) != bool(m.skipped), m
    for case in cases:
        assert got[case, "python loop"].seconds
        assert got[case, "alink (asyncio)"].seconds
        assert got[case, "alink (trio)"].seconds
        lag = got[case, "alink (trio, 1 ms ticker)"].extra["lag"]
        assert lag["p50"] <= lag["p99"] <= lag["max"]
    assert list(tmp_path.iterdir()) == []  # every scratch tree was removed

    report = result.markdown()
    assert "| flat 24 |" in report
    assert "| nested random 24 |" in report
    assert "alink (asyncio) ≤ 1.1" in report
    assert "alink (trio) ≤ 1.25" in report
    assert "faster than Scitacean" in report
    json.dumps(result.to_json())


def test_responsiveness_measures_loop_lag(
    settings: _harness.Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(responsiveness, "IDLE_SECONDS", 0.02)
    result = responsiveness.run(settings)

    alink = {
        (m.tool, m.case): m for m in result.measurements if m.tool.startswith("alink")
    }
    cases = ["flat 24", "nested 24", "nested alternating 24", "nested random 24"]
    assert set(alink) == {
        (f"alink ({loop})", case) for loop in ("asyncio", "trio") for case in cases
    }
    for m in alink.values():
        lag = m.extra["lag"]
        assert lag["p50"] <= lag["p99"] <= lag["max"]
    assert list(tmp_path.iterdir()) == []


def test_client_compares_get_dataset_and_checksum_verification(
    settings: _harness.Settings, tmp_path: Path
) -> None:
    result = client_bench.run(settings)

    got = {(m.case, m.tool): m for m in result.measurements}
    for loop in ("asyncio", "trio"):
        assert len(got["24 files", f"alink ({loop})"].seconds) == 1
    scitacean = got["24 files", client_bench.SCITACEAN]
    if importlib.util.find_spec("scitacean") is None:
        assert scitacean.skipped
    else:
        assert len(scitacean.seconds) == 1
    for tool in (
        client_bench.MD5SUM,
        client_bench.ALINK_CHECKSUM,
        client_bench.ALINK_NONE,
    ):
        assert len(got[f"24 {X} 16 KiB", tool].seconds) == 1
    assert set(result.data["verification"]) == {
        "md5sum",
        "checksum",
        "none",
        "verification",
    }
    assert list(tmp_path.iterdir()) == []
    report = result.markdown()
    assert "| 24 files |" in report
    assert "alink verification (difference)" in report
    json.dumps(result.to_json())


def test_copy_compares_with_cp_and_measures_lag(
    settings: _harness.Settings, tmp_path: Path
) -> None:
    result = copy_throughput.run(settings)

    got = {(m.case, m.tool): m for m in result.measurements}
    cases = [f"24 {X} 64 KiB", f"24 {X} 4 KiB"]
    tools = ["cp -r", "alink (asyncio)", "alink (trio)"]
    assert set(got) == {(c, t) for c in cases for t in tools}
    for m in result.measurements:
        assert len(m.seconds) == 1, m
        if m.tool.startswith("alink"):
            lag = m.extra["lag"]
            assert lag["p50"] <= lag["p99"] <= lag["max"]
    assert list(tmp_path.iterdir()) == []
    report = result.markdown()
    assert f"within 1.2{X} of cp -r" in report
    assert f"within 1.5{X} of cp -r" in report
    json.dumps(result.to_json())


def test_copy_cases_follow_the_mode() -> None:
    full = copy_throughput.cases(_harness.Settings())
    assert [(c.files, c.size) for c in full] == [(2000, 1 << 20), (100_000, 4096)]
    assert [c.label for c in full] == [f"2k {X} 1 MiB", f"100k {X} 4 KiB"]
    quick = copy_throughput.cases(_harness.Settings(quick=True))
    assert all(q.files < f.files for q, f in zip(quick, full, strict=True))
    assert client_bench.checksum_files(_harness.Settings()) == (2048, 1 << 20)
    assert client_bench.dataset_sizes(_harness.Settings()) == (1000, 100_000)


def test_cli_registers_client_and_copy() -> None:
    assert {"client", "copy"} <= set(cli.SCENARIOS)
    assert cli.select(["copy"], quick=True) == [copy_throughput]


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
