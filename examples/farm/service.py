"""A small render-farm front end: API functions to submit, list and cancel jobs, a fake
renderer in every worker, a WebSocket feed of job progress, and a dashboard page (static HTML +
JS, no build step) showing the jobs live, which worker rendered what, and the service's own
workers, read from its /metrics (ADMIN_ENDPOINTS on the main port).

    python examples/farm/service.py          (or: scripts/demo farm)
    then open the URL it prints

The jobs live in a database (store.py): SQLite next to the service by default, PostgreSQL with
FARM_DATABASE_URL, so a reload (kill -HUP, or a saved edit with FARM_RELOAD=1), a crashed
worker, any number of workers (FARM_WORKERS) and several instances behind a load balancer all
keep the same jobs. Each worker opens its own connection and starts its renderer in an
onWorkerStart hook, and stops them in an onWorkerStop hook: nothing is opened before the
workers are forked, and a retiring worker hands its batch back at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
from pathlib import Path

import hwebserver

HERE = Path(__file__).resolve().parent
sys.path.insert(
    0, str(HERE)
)  # store.py, also when the service is started as `hwebserver service.py`

from store import Batch, Store, database_name, open_store  # noqa: E402

STATIC = HERE / "static"
FRAME_SECONDS = float(os.environ.get("FARM_FRAME_SECONDS", "0.25"))
# A batch whose renderer stopped renewing its lease (a killed worker) is claimed again after this.
LEASE_SECONDS = float(os.environ.get("FARM_LEASE_SECONDS", "5"))
MAX_FRAMES = 10_000
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # set again in each worker (start hook)


class Renderer:
    """The fake renderer of one worker: claims a batch, renders its frames one by one (a sleep
    each), records each with this worker's name, and stops when asked, handing its batch back."""

    def __init__(self, store: Store, worker: str) -> None:
        self.store = store
        self.worker = worker
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="farm-renderer", daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.store.claim(self.worker, LEASE_SECONDS)
            if batch is None:
                self.stopping.wait(0.2)
                continue
            self.render(batch)

    def render(self, batch: Batch) -> None:
        for frame in batch.frames:
            if self.stopping.wait(FRAME_SECONDS):  # stopped mid-frame: give the batch back
                self.store.release(batch, self.worker)
                return
            if not self.store.record(batch, frame, self.worker, LEASE_SECONDS):
                return  # cancelled, or the lease went to another worker

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


store: Store | None = None
renderer: Renderer | None = None


def create_tables() -> None:
    """At import, in every process that runs the script (the supervisor before it forks, and
    each worker a reload spawns): a connection opened and closed here, never inherited."""
    setup = open_store(HERE)
    try:
        setup.create_tables()
    finally:
        setup.close()


create_tables()


@hwebserver.onWorkerStart
def open_database() -> None:
    global store, renderer, WORKER
    WORKER = f"{socket.gethostname()}:{os.getpid()}"
    store = open_store(HERE)
    renderer = Renderer(store, WORKER)
    renderer.thread.start()


@hwebserver.onWorkerStop
def close_database() -> None:
    if renderer is not None:
        renderer.stop()
    if store is not None:
        store.close()


def jobs_store() -> Store:
    if store is None:  # only before a worker started, e.g. a test importing this module
        raise hwebserver.APIError("the farm is not serving yet", 503)
    return store


@hwebserver.apiFunction(namespace="farm", arg_types={"frames": int})
def submit(request: hwebserver.Request, name: str, frames: int = 24) -> dict[str, object]:
    name = str(name).strip()
    if not name:
        raise hwebserver.APIError("a job needs a name", 422)
    if not 1 <= frames <= MAX_FRAMES:
        raise hwebserver.APIError(f"frames must be from 1 to {MAX_FRAMES}", 422)
    return jobs_store().submit(name[:80], frames)


@hwebserver.apiFunction(namespace="farm")
def jobs(request: hwebserver.Request) -> list[dict[str, object]]:
    return jobs_store().jobs()


@hwebserver.apiFunction(namespace="farm")
def overview(request: hwebserver.Request) -> dict[str, object]:
    """The jobs as this worker reads them, and which worker it is."""
    return {"worker": os.getpid(), "jobs": jobs_store().jobs()}


@hwebserver.apiFunction(namespace="farm", arg_types={"job_id": int})
def cancel(request: hwebserver.Request, job_id: int) -> dict[str, object]:
    job = jobs_store().cancel(job_id)
    if job is None:
        raise hwebserver.APIError(f"no job {job_id}", 404)
    return job


@hwebserver.webSocket("/farm/feed")
class Feed(hwebserver.WebSocket):
    """Sends the job list whenever it changed (the database's news counter, checked five times
    a second off the loop), with the pid of the worker that serves this feed."""

    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        self.pusher = asyncio.get_running_loop().create_task(self.push())

    async def push(self) -> None:
        seen = -1
        while True:
            farm = jobs_store()
            version = await asyncio.to_thread(farm.version)
            if version != seen:
                seen = version
                jobs = await asyncio.to_thread(farm.jobs)
                await self.send(json.dumps({"jobs": jobs, "worker": os.getpid()}))
            await asyncio.sleep(0.2)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # the feed only talks

    async def disconnect(self, code: int) -> None:
        self.pusher.cancel()


@hwebserver.urlHandler("/")
def index(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.fileResponse(str(STATIC / "index.html"), "text/html; charset=utf-8")


hwebserver.registerStaticFilesDirectory(str(STATIC), "/static")


hwebserver.setSettingsForPort({"ADMIN_ENDPOINTS": True}, "main")  # /metrics for the page


def announce(port_name: str, port: int) -> None:
    print(f"farm dashboard: http://127.0.0.1:{port}/ (jobs in {database_name(HERE)})", flush=True)


if __name__ == "__main__":
    hwebserver.run(
        port=int(os.environ.get("PORT", "8008")),
        port_callback=announce,
        allow_system_port=True,
        in_background=False,
        workers=int(os.environ.get("FARM_WORKERS", "2")),
        reload_source_changes=os.environ.get("FARM_RELOAD") == "1",
    )
