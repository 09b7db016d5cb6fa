"""A render-farm job service, as a pipeline team would write it: tested by test_service.py
with hwebserver's pytest plugin only (see docs/testing.md)."""

from __future__ import annotations

import hwebserver

GREETING = "Hello, "
JOBS: dict[str, dict[str, object]] = {}


@hwebserver.urlHandler("/hello")
def hello(request: hwebserver.Request) -> hwebserver.Response:
    name = request.GET().get("name", "world")
    return hwebserver.Response(GREETING + name, content_type="text/plain")


@hwebserver.urlHandler("/jobs", methods=["GET"])
def jobs(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(",".join(sorted(JOBS)), content_type="text/plain")


@hwebserver.apiFunction(namespace="jobs")
def submit(request: hwebserver.Request, name: str, frames: int | str = 1) -> dict[str, object]:
    frames = int(frames)  # a form sends it as a string
    if frames < 1:
        raise hwebserver.APIError("frames must be at least 1", 422)
    if name in JOBS:
        raise hwebserver.APIError(f"job {name} exists", 409)
    JOBS[name] = {"name": name, "frames": frames, "state": "queued"}
    return JOBS[name]


@hwebserver.apiFunction(namespace="jobs")
def attach(request: hwebserver.Request, name: str, scene: hwebserver.UploadedFile) -> int:
    return scene.size()


@hwebserver.webSocket("/feed")
class Feed(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send("echo:" + text_data)
        else:
            await self.send(bytes_data or b"")


if __name__ == "__main__":
    hwebserver.run(port=8008, in_background=False)
