"""A FastAPI service that links SciCat datasets in the background.

``POST /datasets/{pid}/link`` answers at once (202) with a job; the job —
fetch the dataset, link its files into ``<download root>/<pid>`` — runs in a
task group that lives as long as the app (its *lifespan*), so it is never
orphaned: on shutdown, running jobs are cancelled and each removes what it
had linked. ``GET /jobs/{id}`` reports progress; every other request keeps
being served while files are linked, because alink never blocks the event
loop (the filesystem work runs on worker threads).

Run it with uvicorn (``pip install 'alink[examples]'``)::

    export SCICAT_URL=https://scicat.example.org SCICAT_TOKEN=...
    export DOWNLOAD_ROOT=/data/links
    uvicorn --factory fastapi_app:app_from_environment
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import anyio
import anyio.abc
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from alink import Client
from alink.transfer.link import LinkFileTransfer
from alink.typing import Downloader

State = Literal["queued", "fetching", "linking", "done", "failed"]


class Job(BaseModel):
    """One link job, as the API shows it."""

    id: int
    pid: str
    state: State = "queued"
    done: int = 0
    total: int | None = None
    folder: str | None = None
    error: str | None = None


@dataclass
class Service:
    """What the endpoints share: one client, the jobs, the task group."""

    client: Client
    download_root: Path
    tasks: anyio.abc.TaskGroup
    jobs: dict[int, Job]
    ids: itertools.count[int]

    def folder_for(self, pid: str) -> Path:
        name = quote(pid, safe="")
        if name in ("", ".", ".."):
            raise HTTPException(status_code=422, detail="not a usable PID")
        return self.download_root / name

    async def run(self, job: Job, folder: Path) -> None:
        """Fetch and link one dataset; never raises (errors go into the job)."""
        try:
            job.state = "fetching"
            dataset = await self.client.get_dataset(job.pid)
            job.state = "linking"

            def progress(done: int, total: int) -> None:
                job.done, job.total = done, total

            await self.client.download_files(
                dataset,
                target=folder,
                keep_tree=True,
                verify="size",
                progress=progress,
            )
            job.state = "done"
        except Exception as exc:  # a failed job must not stop the service
            job.state = "failed"
            job.error = str(exc)


def create_app(
    *,
    scicat_url: str,
    token: str,
    download_root: Path,
    file_transfer: Downloader | None = None,
) -> FastAPI:
    """The app; ``file_transfer`` defaults to ``LinkFileTransfer()``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        transfer = file_transfer if file_transfer is not None else LinkFileTransfer()
        async with (
            Client.from_token(
                url=scicat_url, token=token, file_transfer=transfer
            ) as client,
            anyio.create_task_group() as tasks,
        ):
            app.state.service = Service(
                client, download_root, tasks, {}, itertools.count(1)
            )
            yield
            tasks.cancel_scope.cancel()  # shutting down: cancel (and roll back) jobs

    app = FastAPI(title="alink link service", lifespan=lifespan)

    def service(request: Request) -> Service:
        found: Service = request.app.state.service
        return found

    @app.post("/datasets/{pid:path}/link", status_code=202)
    async def link(pid: str, request: Request) -> Job:
        """Start linking dataset ``pid``; poll ``/jobs/{id}`` for progress."""
        svc = service(request)
        folder = svc.folder_for(pid)
        job = Job(id=next(svc.ids), pid=pid, folder=str(folder))
        svc.jobs[job.id] = job
        svc.tasks.start_soon(svc.run, job, folder)
        return job

    @app.get("/jobs/{job_id}")
    async def job_status(job_id: int, request: Request) -> Job:
        job = service(request).jobs.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail="no such job")
        return job

    @app.get("/health")
    async def health(request: Request) -> dict[str, int]:
        jobs = service(request).jobs.values()
        return {"running": sum(j.state in ("fetching", "linking") for j in jobs)}

    return app


def app_from_environment() -> FastAPI:
    """For ``uvicorn --factory``: settings from the environment."""
    return create_app(
        scicat_url=os.environ["SCICAT_URL"],
        token=os.environ["SCICAT_TOKEN"],
        download_root=Path(os.environ.get("DOWNLOAD_ROOT", "downloads")),
    )
