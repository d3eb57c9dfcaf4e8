"""Smoke test of the SFTP benchmark scenario: it runs tiny cases against a
real sshd and cleans up. No timings are asserted (machines are noisy).
Scitacean's SFTP transfer needs paramiko (the ``bench`` extra); without it
that tool reports itself as skipped.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("benchmarks") is None:  # plain `pytest` from elsewhere
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import _harness, sftp_transfer  # noqa: E402

#: The multiplication sign of the report's case labels and targets.
X = "\N{MULTIPLICATION SIGN}"


def test_sftp_scenario_runs_every_tool_and_cleans_up(
    sshd_binary: str, tmp_path: Path
) -> None:
    settings = _harness.Settings(quick=True, repeats=1, scratch=tmp_path, sizes=(12,))
    result = sftp_transfer.run(settings)
    assert result.skipped is None, result.skipped
    got = {(m.case, m.tool): m for m in result.measurements}
    small, large = (c.label for c in sftp_transfer.cases(settings))
    for case in (small, large):
        for tool in ("sftp -b", "alink (asyncio)", "alink (trio)"):
            assert len(got[case, tool].seconds) == 1, got[case, tool]
        assert got[case, "alink (trio)"].extra["lag"]["ticks"] > 0
    scitacean = got[small, "scitacean"]
    assert bool(scitacean.seconds) != bool(scitacean.skipped)
    assert (large, "scitacean") not in got
    assert list(tmp_path.iterdir()) == []  # every scratch tree was removed
    report = result.markdown()
    assert f"within 1.5{X} of sftp -b" in report
    assert f"≥ 0.8{X} the throughput of sftp -b" in report
    assert "lag max ≤ 25 ms" in report
    json.dumps(result.to_json())


def test_sftp_cases_follow_the_mode() -> None:
    full = sftp_transfer.cases(_harness.Settings())
    assert [(c.files, c.size) for c in full] == [(2000, 64 << 10), (4, 256 << 20)]
    quick = sftp_transfer.cases(_harness.Settings(quick=True))
    assert all(q.total < f.total for q, f in zip(quick, full, strict=True))
    assert cli.select(["sftp"], quick=True) == [sftp_transfer]
