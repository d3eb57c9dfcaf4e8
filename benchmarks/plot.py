"""Scenario 5 — the picture: files per second against file count (log-log).

Drawn from a results JSON (the throughput scenario, plus the scaling one when
it ran), one line per tool, one panel per layout. Needs matplotlib (the
``bench`` extra); without it the plot is skipped with a message.
"""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ._harness import LAYOUTS, count_label, log

NAME = "plot"


def series(results: dict[str, Any]) -> dict[str, dict[str, dict[int, float]]]:
    """``{layout: {tool: {files: files_per_second}}}`` from a results JSON.

    The throughput scenario wins where both scenarios measured the same point.
    """
    out: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    scenarios = results.get("scenarios", {})
    for name in ("scaling", "throughput"):  # later ones overwrite
        for m in scenarios.get(name, {}).get("measurements", []):
            rate = m.get("files_per_second")
            if rate:
                words = m["case"].split()
                if len(words) != 2:  # other orders of a layout: not drawn
                    continue
                layout = words[0]
                out[layout][m["tool"]][m["files"]] = rate
    return out


def from_json(source: Path, target: Path) -> Path | None:
    """Draw ``target`` (PNG) from the results in ``source``; None if skipped."""
    if importlib.util.find_spec("matplotlib") is None:
        log("[plot] skipped: matplotlib is not installed (pip install -e '.[bench]')")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = series(json.loads(source.read_text()))
    if not data:
        log("[plot] skipped: no throughput or scaling results to draw")
        return None
    layouts = [layout for layout in LAYOUTS if layout in data]
    fig, axes = plt.subplots(
        1, len(layouts), figsize=(6.5 * len(layouts), 5), squeeze=False
    )
    for ax, layout in zip(axes[0], layouts, strict=True):
        for tool, points in sorted(data[layout].items()):
            xs = sorted(points)
            style = "-" if tool.startswith("alink") else "--"
            width = 2.2 if tool.startswith("alink") else 1.3
            ax.plot(
                xs,
                [points[x] for x in xs],
                style,
                marker="o",
                linewidth=width,
                label=tool,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("files linked")
        ax.set_ylabel("files per second (median run)")
        ax.set_title(f"{layout} layout")
        ticks = sorted({x for pts in data[layout].values() for x in pts})
        ax.set_xticks(ticks, [count_label(t) for t in ticks])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("alink link throughput vs baselines (higher is better)")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    log(f"[plot] {target}")
    return target
