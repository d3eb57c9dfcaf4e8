"""docs/examples/fastapi_app.py: requests are answered while a dataset is linked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from .conftest import Facility, load_example, symlinks

app_module = load_example("fastapi_app")

pytestmark = pytest.mark.anyio

#: Only against hanging forever on a bug; no test relies on timing.
HANG = 120


async def _poll_until_finished(
    http: httpx.AsyncClient, job_id: int
) -> list[dict[str, Any]]:
    """Ask for the job (and the health endpoint) until it has finished.

    In-process (ASGITransport) a request never waits for a network; the
    short sleep between polls stands in for that wait and lets the job run.
    """
    seen = []
    with anyio.fail_after(HANG):
        while True:
            await anyio.sleep(0.001)
            health = await http.get("/health")
            assert health.status_code == 200
            answer = await http.get(f"/jobs/{job_id}")
            assert answer.status_code == 200
            job = answer.json()
            seen.append(job)
            if job["state"] in ("done", "failed"):
                return seen
    raise AssertionError("unreachable")


async def test_requests_are_answered_while_a_large_dataset_is_linked(
    facility: Facility, tmp_path: Path
) -> None:
    app = app_module.create_app(
        scicat_url=facility.server.url,
        token=facility.token,
        download_root=tmp_path / "links",
    )
    pid = facility.pids["large"]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app"
        ) as http:
            started = await http.post(f"/datasets/{pid}/link")
            assert started.status_code == 202
            job = started.json()
            # The POST was answered before the job even started fetching.
            assert job["state"] == "queued"
            seen = await _poll_until_finished(http, job["id"])

    states = [j["state"] for j in seen]
    assert states[-1] == "done", seen[-1]
    # Requests were answered while the link was still running, in order:
    # the states only move forward, and "linking" was observed before "done".
    order = ["queued", "fetching", "linking", "done"]
    ranks = [order.index(s) for s in states]
    assert ranks == sorted(ranks)
    assert "linking" in states
    linking = [j for j in seen if j["state"] == "linking"]
    assert all(j["done"] <= (j["total"] or 0) for j in linking if j["total"])
    folder = Path(job["folder"])
    assert len(symlinks(folder)) == facility.counts["large"]


async def test_several_jobs_and_errors(facility: Facility, tmp_path: Path) -> None:
    app = app_module.create_app(
        scicat_url=facility.server.url,
        token=facility.token,
        download_root=tmp_path / "links",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app"
        ) as http:
            ids = {}
            for name in ("small-1", "small-2", "missing"):
                pid = facility.pids.get(name, "20.500.12269/no-such-dataset")
                answer = await http.post(f"/datasets/{pid}/link")
                assert answer.status_code == 202
                ids[name] = answer.json()["id"]
            results = {
                name: (await _poll_until_finished(http, job_id))[-1]
                for name, job_id in ids.items()
            }
            assert (await http.get("/jobs/999")).status_code == 404
            assert (await http.get("/health")).json() == {"running": 0}
    for name in ("small-1", "small-2"):
        assert results[name]["state"] == "done"
        assert len(symlinks(Path(results[name]["folder"]))) == facility.counts[name]
    failed = results["missing"]
    assert failed["state"] == "failed"
    assert "not found" in failed["error"]
    assert not Path(failed["folder"]).exists()


async def test_shutdown_cancels_a_running_job_all_or_nothing(
    facility: Facility, tmp_path: Path
) -> None:
    app = app_module.create_app(
        scicat_url=facility.server.url,
        token=facility.token,
        download_root=tmp_path / "links",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app"
        ) as http:
            job = (await http.post(f"/datasets/{facility.pids['large']}/link")).json()
            state = "queued"
            with anyio.fail_after(HANG):
                while state in ("queued", "fetching"):
                    await anyio.sleep(0.001)
                    state = (await http.get(f"/jobs/{job['id']}")).json()["state"]
        # Leaving the lifespan cancels the job in the middle of its work.
    links = symlinks(Path(job["folder"]))
    # All or nothing: a cancelled job removed every link it had made.
    assert len(links) in (0, facility.counts["large"])
