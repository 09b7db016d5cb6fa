"""A small render-farm front end: API functions to submit, list and cancel jobs, a fake job
runner (a thread advancing frames), a WebSocket feed of job progress, and a dashboard page
(static HTML + JS, no build step) showing the jobs live and the service's own workers, read
from its /metrics (ADMIN_ENDPOINTS on the main port).

    python examples/farm/service.py          (or: scripts/demo farm)
    then open the URL it prints

Jobs live in the worker's memory, so it runs one worker; a real farm keeps them in a database.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import hwebserver

STATIC = Path(__file__).resolve().parent / "static"
FRAME_SECONDS = float(os.environ.get("FARM_FRAME_SECONDS", "0.25"))
RENDER_NODES = 2  # jobs rendering at once; the others wait their turn
MAX_FRAMES = 10_000


@dataclass
class Job:
    id: int
    name: str
    frames: int
    done: int = 0
    state: str = "queued"  # queued, rendering, done, cancelled
    submitted: float = 0.0


class Farm:
    """The jobs and the thread that renders them. `version` changes with every update, so
    the WebSocket feeds send only when there is news."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[int, Job] = {}
        self.ids = itertools.count(1)
        self.version = 0
        self.runner: threading.Thread | None = None

    def submit(self, name: str, frames: int) -> Job:
        with self.lock:
            job = Job(next(self.ids), name, frames, submitted=time.time())
            self.jobs[job.id] = job
            self.version += 1
            if self.runner is None:  # started on first use, in the worker, not at import
                self.runner = threading.Thread(target=self._run, name="farm-runner", daemon=True)
                self.runner.start()
        return job

    def cancel(self, job_id: int) -> Job | None:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is not None and job.state in ("queued", "rendering"):
                job.state = "cancelled"
                self.version += 1
            return job

    def snapshot(self) -> list[dict[str, object]]:
        with self.lock:
            return [asdict(job) for job in self.jobs.values()]

    def _run(self) -> None:
        while True:
            time.sleep(FRAME_SECONDS)
            with self.lock:
                waiting = [j for j in self.jobs.values() if j.state in ("queued", "rendering")]
                for job in waiting[:RENDER_NODES]:
                    job.state = "rendering"
                    job.done += 1
                    if job.done >= job.frames:
                        job.state = "done"
                if waiting:
                    self.version += 1


farm = Farm()


@hwebserver.apiFunction(namespace="farm", arg_types={"frames": int})
def submit(request: hwebserver.Request, name: str, frames: int = 24) -> dict[str, object]:
    name = str(name).strip()
    if not name:
        raise hwebserver.APIError("a job needs a name", 422)
    if not 1 <= frames <= MAX_FRAMES:
        raise hwebserver.APIError(f"frames must be from 1 to {MAX_FRAMES}", 422)
    return asdict(farm.submit(name[:80], frames))


@hwebserver.apiFunction(namespace="farm")
def jobs(request: hwebserver.Request) -> list[dict[str, object]]:
    return farm.snapshot()


@hwebserver.apiFunction(namespace="farm", arg_types={"job_id": int})
def cancel(request: hwebserver.Request, job_id: int) -> dict[str, object]:
    job = farm.cancel(job_id)
    if job is None:
        raise hwebserver.APIError(f"no job {job_id}", 404)
    return asdict(job)


@hwebserver.webSocket("/farm/feed")
class Feed(hwebserver.WebSocket):
    """Sends the job list whenever it changed (checked ten times a second)."""

    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        self.pusher = asyncio.get_running_loop().create_task(self.push())

    async def push(self) -> None:
        seen = -1
        while True:
            if farm.version != seen:
                seen = farm.version
                await self.send(json.dumps({"jobs": farm.snapshot(), "worker": os.getpid()}))
            await asyncio.sleep(0.1)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # the feed only talks

    async def disconnect(self, code: int) -> None:
        self.pusher.cancel()


@hwebserver.urlHandler("/")
def index(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.fileResponse(str(STATIC / "index.html"), "text/html; charset=utf-8")


hwebserver.registerStaticFilesDirectory(str(STATIC), "/static")


def announce(port_name: str, port: int) -> None:
    print(f"farm dashboard: http://127.0.0.1:{port}/", flush=True)


if __name__ == "__main__":
    hwebserver.setSettingsForPort({"ADMIN_ENDPOINTS": True}, "main")  # /metrics for the page
    hwebserver.run(
        port=int(os.environ.get("PORT", "8008")),
        port_callback=announce,
        allow_system_port=True,
        in_background=False,
    )
